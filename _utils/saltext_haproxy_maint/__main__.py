"""``python -m saltext_haproxy_maint paths [NAME]``: where the installed package keeps the
files an operator points the master at (docs/install.md, route B).

Without NAME, one ``name: directory`` line each for ``formula`` (add it to ``file_roots``),
``reactor`` (the reactor SLS the master config names) and ``examples`` (master config, top
files, pillar). With NAME, only that directory, for use in a shell command.
"""

import argparse
import sys

from saltext_haproxy_maint import OPERATOR_DIRS, operator_dirs


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m saltext_haproxy_maint")
    commands = parser.add_subparsers(dest="command", required=True)
    paths = commands.add_parser("paths", help="print the directories of the installed files")
    paths.add_argument("name", nargs="?", choices=OPERATOR_DIRS, help="print only this one")
    args = parser.parse_args(argv)

    dirs = operator_dirs()
    missing = [name for name in OPERATOR_DIRS if name not in dirs]
    if missing:
        parser.exit(
            1,
            f"{parser.prog}: this installation has no {', '.join(missing)} directory: "
            "pip install the package (a source checkout keeps them in salt/, reactor/, "
            "docs/examples/ and pillar/)\n",
        )
    if args.name:
        print(dirs[args.name])
    else:
        for name in OPERATOR_DIRS:
            print(f"{name}: {dirs[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
