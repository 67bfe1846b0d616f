"""Every ``salt``/``salt-call``/``salt-run`` line that the docs and the loader modules'
docstrings show for this project runs as written: the function exists under its Salt name,
every ``key=value`` is one of its parameters (or it takes ``**kwargs``), the positional
arguments fit, and no ``...`` stands in for an argument. Salt's own functions (``state.apply``,
``saltutil.*``, ``event.send`` ...) are not checked; ``state.single <our state>`` is.

Signatures are read with ``ast`` from the files (``__virtualname__``, else the file name;
the public ``def``s), so the check needs no loader and follows the files wherever the code
behind them moves. The state functions' SLS snippets in docstrings are checked the same way.
"""

import ast
import re
import shlex
import textwrap
from dataclasses import dataclass

import pytest
import yaml

from harness import REPO

# Salt name spaces of this project, and which loader folders fill them.
PROJECT_MODULES = ("haproxy_maint", "haproxy_runtime", "haproxy_pillar", "haproxy_server")
LOADER_DIRS = {"module": "_modules", "runner": "_runners", "state": "_states"}
NAMESPACE_OF_COMMAND = {"salt": "module", "salt-call": "module", "salt-run": "runner"}
DOC_FILES = [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md"]

# Keyword arguments that Salt takes for any function of the command (state.single's own
# included), not the function's.
GLOBAL_KWARGS = {"test", "pillar", "saltenv", "pillarenv", "queue", "concurrent"}
# Requisites and other arguments that Salt's state system takes for every state.
STATE_GLOBAL_ARGS = {
    "require",
    "require_in",
    "watch",
    "watch_in",
    "onchanges",
    "onchanges_in",
    "onfail",
    "onfail_in",
    "prereq",
    "prereq_in",
    "use",
    "use_in",
    "listen",
    "listen_in",
    "order",
    "unless",
    "onlyif",
    "creates",
    "check_cmd",
    "retry",
    "reload_modules",
    "failhard",
    "parallel",
}
# Options of salt, salt-call and salt-run that take the next word as their value (the
# ``--opt=value`` form needs no entry); every other word starting with ``-`` stands alone.
OPTIONS_WITH_VALUE = {
    "-c",
    "--config-dir",
    "-t",
    "--timeout",
    "--out",
    "--output",
    "--out-file",
    "--output-file",
    "--out-indent",
    "--output-indent",
    "-l",
    "--log-level",
    "--log-file",
    "--log-file-level",
    "--state-output",
    "--state-verbose",
    "-b",
    "--batch",
    "--batch-size",
    "--batch-wait",
    "--id",
    "--saltenv",
    "--pillarenv",
    "--file-root",
    "--pillar-root",
    "-m",
    "--module-dirs",
    "--return",
    "--metadata",
    "-s",
    "--static",
    "--user",
    "-u",
}
# Salt's CLI reads a word as a keyword argument when it looks like this (salt.utils.args).
KWARG_RE = re.compile(r"^([^\d\W][\w.-]*)=(?!=)(.*)$", re.UNICODE)
COMMAND_START_RE = re.compile(r"(?:(?<=^)|(?<=[\s`(|;&]))(salt|salt-call|salt-run)(?=\s)")
FUNCTION_RE = re.compile(r"^([A-Za-z_]\w*)\.([A-Za-z_]\w*)$")
FENCE_RE = re.compile(r"^(\s*)(```+|~~~+)\s*\{?([\w-]*)\}?.*?$\n(.*?)^\1\2\s*$", re.M | re.S)
SHELL_FENCES = {"", "bash", "sh", "shell", "console"}


# --- what the files define --------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    params: tuple
    required: tuple
    varargs: bool
    varkw: bool


def _virtual_name(tree, path):
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__virtualname__"
            for target in node.targets
        ):
            return ast.literal_eval(node.value)
    return path.stem


def _signature(node):
    args = node.args
    positional = [arg.arg for arg in args.posonlyargs + args.args]
    defaults = len(args.defaults)
    required = positional[: len(positional) - defaults] if defaults else positional
    required += [
        arg.arg for arg, default in zip(args.kwonlyargs, args.kw_defaults) if default is None
    ]
    return Signature(
        params=tuple(positional + [arg.arg for arg in args.kwonlyargs]),
        required=tuple(required),
        varargs=args.vararg is not None,
        varkw=args.kwarg is not None,
    )


def loader_functions():
    """``{(namespace, "module.function"): Signature}`` of every public function of the
    project's loader modules, under the name Salt gives it."""
    functions = {}
    for namespace, folder in LOADER_DIRS.items():
        for path in sorted((REPO / folder).glob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            module = _virtual_name(tree, path)
            for node in tree.body:
                if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                    functions[(namespace, f"{module}.{node.name}")] = _signature(node)
    return functions


@dataclass(frozen=True)
class Docstring:
    label: str  # file, or file:function
    namespace: str
    function: str  # the Salt name, "" for the module's docstring
    text: str


def loader_docstrings():
    """The docstrings of every loader module and of its public functions."""
    found = []
    for namespace, folder in LOADER_DIRS.items():
        for path in sorted((REPO / folder).glob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            relative, module = path.relative_to(REPO), _virtual_name(tree, path)
            found.append(Docstring(f"{relative}", namespace, "", ast.get_docstring(tree) or ""))
            for node in tree.body:
                if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                    label, name = f"{relative}:{node.name}", f"{module}.{node.name}"
                    found.append(Docstring(label, namespace, name, ast.get_docstring(node) or ""))
    return found


# --- where the examples are -------------------------------------------------------------


def _join_continued(text):
    return re.sub(r"\\\n\s*", " ", text)


def markdown_code(text):
    """The shell code of a Markdown page: fenced shell blocks, and inline code spans of the
    prose (a span may wrap onto the next line)."""
    pieces = []
    for match in FENCE_RE.finditer(text):
        if match.group(3) in SHELL_FENCES:
            pieces.extend(_join_continued(match.group(4)).splitlines())
    prose = FENCE_RE.sub("", text)
    for match in re.finditer(r"(?<!`)`([^`]+)`(?!`)", prose):
        pieces.append(re.sub(r"\s*\n\s*", " ", match.group(1)))
    return pieces


def docstring_code(text):
    """Every line of a docstring (its CLI examples and its prose; inline ``code`` ends at
    the backticks)."""
    return _join_continued(text).splitlines()


def _command_end(text, start):
    """Where the command starting at ``start`` ends: an unquoted ``|``, ``;``, ``&``, ``)``,
    a backtick or a `` #`` comment."""
    quote = None
    depth = 0
    index = start
    while index < len(text):
        char = text[index]
        if quote == "'":
            if char == "'":
                quote = None
        elif quote == '"':
            if char == "\\":
                index += 1
            elif char == "$" and text[index + 1 : index + 2] == "(":
                depth += 1
                index += 1
            elif char == ")" and depth:
                depth -= 1
            elif char == '"' and not depth:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "\\":
            index += 1
        elif char in "|;&)`" or (char == "#" and text[index - 1].isspace()):
            return index
        index += 1
    return index


def _without_comment(piece):
    """The line up to its shell comment (an unquoted ``#`` after a space)."""
    position = 0
    while True:
        end = _command_end(piece, position)
        if end >= len(piece) or piece[end] == "#":
            return piece[:end]
        position = end + 1


def commands_in(pieces):
    """Every salt, salt-call and salt-run command in the pieces of code, as its words."""
    for piece in pieces:
        piece = _without_comment(piece)
        for match in COMMAND_START_RE.finditer(piece):
            segment = piece[match.start() : _command_end(piece, match.end())]
            try:
                words = shlex.split(segment)
            except ValueError:
                words = segment.split()
            yield segment.strip(), words


def collect_examples():
    """``(where, command text, words)`` of every command in the docs and the docstrings."""
    examples = []
    for path in DOC_FILES:
        pieces = markdown_code(path.read_text(encoding="utf-8"))
        for text, words in commands_in(pieces):
            examples.append((str(path.relative_to(REPO)), text, words))
    for docstring in loader_docstrings():
        for text, words in commands_in(docstring_code(docstring.text)):
            examples.append((docstring.label, text, words))
    return examples


# --- reading a command as Salt's CLI does -------------------------------------------------


@dataclass
class Call:
    namespace: str
    function: str
    args: list
    kwargs: dict


def parse_command(words):
    """The function call a salt/salt-call/salt-run command line makes, or None when it names
    no function (``salt-run`` alone, prose)."""
    command, rest = words[0], words[1:]
    positional = []
    skip_next = False
    for word in rest:
        if skip_next:
            skip_next = False
        elif word.startswith("-") and len(word) > 1:
            # An option (``--out=json``, ``--local``, ``-G``), or one with its value next.
            skip_next = word in OPTIONS_WITH_VALUE
        else:
            positional.append(word)
    if command == "salt":
        positional = positional[1:]  # the target
    if not positional or not FUNCTION_RE.match(positional[0]):
        return None
    function, args, kwargs = positional[0], [], {}
    for word in positional[1:]:
        match = KWARG_RE.match(word)
        if match:
            kwargs[match.group(1)] = match.group(2)
        else:
            args.append(word)
    namespace = NAMESPACE_OF_COMMAND[command]
    if namespace == "module" and function == "state.single" and args:
        return Call("state", args[0], args[1:], kwargs)
    return Call(namespace, function, args, kwargs)


def ours(function):
    return function.split(".", 1)[0] in PROJECT_MODULES


def problems(call, functions):
    """What is wrong with ``call`` against the signatures: a list of messages."""
    signature = functions.get((call.namespace, call.function))
    if signature is None:
        return [f"{call.namespace} function {call.function} does not exist"]
    found = []
    for key in call.kwargs:
        if key not in signature.params and key not in GLOBAL_KWARGS and not signature.varkw:
            found.append(f"{call.function} has no parameter {key!r}")
    if not signature.varargs and len(call.args) > len(signature.params):
        found.append(
            f"{call.function} takes at most {len(signature.params)} positional arguments, "
            f"got {len(call.args)}: {call.args}"
        )
    given = set(signature.params[: len(call.args)]) | set(call.kwargs)
    missing = [name for name in signature.required if name not in given]
    if missing:
        found.append(f"{call.function} needs {', '.join(missing)}")
    return found


EXAMPLES = collect_examples()
FUNCTIONS = loader_functions()


def _example_id(example):
    return f"{example[0]}: {example[1][:60]}"


@pytest.mark.parametrize("example", EXAMPLES, ids=[_example_id(e) for e in EXAMPLES])
def test_cli_example_runs_as_written(example):
    where, text, words = example
    assert not any(word == "..." or word.endswith("...") for word in words), (
        f"{where}: a placeholder in {text!r}"
    )
    call = parse_command(words)
    if call is None or not ours(call.function):
        return
    assert problems(call, FUNCTIONS) == [], f"{where}: {text}"


def test_examples_are_found():
    """The collector sees the examples it is meant to check, in docs and docstrings."""
    checked = {
        (call.namespace, call.function)
        for _, _, words in EXAMPLES
        if (call := parse_command(words)) and ours(call.function)
    }
    assert ("runner", "haproxy_maint.start") in checked
    assert ("module", "haproxy_maint.request") in checked
    assert ("module", "haproxy_runtime.set_states") in checked
    sources = {where.split(":")[0] for where, _, _ in EXAMPLES}
    assert {"docs/runbook.md", "docs/events.md", "README.md"} <= sources
    assert "_runners/haproxy_maint.py" in sources


# --- SLS snippets of the state functions ----------------------------------------------------


def sls_snippets(docstring):
    """The YAML code blocks of a docstring (``.. code-block:: yaml``), parsed."""
    snippets, lines = [], docstring.splitlines()
    for index, line in enumerate(lines):
        directive = re.match(r"^(\s*)\.\. code-block:: (?:yaml|sls)\s*$", line)
        if not directive:
            continue
        indent, body = len(directive.group(1)), []
        for following in lines[index + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        snippets.append(yaml.safe_load(textwrap.dedent("\n".join(body))))
    return snippets


def sls_calls(snippet):
    """``Call``s of the states of this project that an SLS snippet declares."""
    calls = []
    for body in (snippet or {}).values():
        if not isinstance(body, dict):
            continue
        for key, args in body.items():
            function = key
            arguments = {}
            for item in args or []:
                if isinstance(item, dict):
                    arguments.update(item)
                elif isinstance(item, str) and "." not in key:
                    function = f"{key}.{item}"
            if "." in function and ours(function):
                calls.append(Call("state", function, [], arguments))
    return calls


STATE_SNIPPETS = [
    (docstring.label, call)
    for docstring in loader_docstrings()
    for snippet in sls_snippets(docstring.text)
    for call in sls_calls(snippet)
]


@pytest.mark.parametrize(
    "label,call",
    STATE_SNIPPETS,
    ids=[f"{label}: {call.function}" for label, call in STATE_SNIPPETS],
)
def test_sls_snippet_matches_the_state(label, call):
    state_args = {key: value for key, value in call.kwargs.items() if key not in STATE_GLOBAL_ARGS}
    state_args.setdefault("name", "<the state ID>")  # an SLS state's ID is its default name
    assert problems(Call("state", call.function, [], state_args), FUNCTIONS) == [], label


def test_every_public_function_has_an_example():
    """Each public function of this project shows itself in its own docstring: a CLI line,
    or, for a state, an SLS snippet or a ``state.single`` line."""
    shown = {}
    for where, _, words in EXAMPLES:
        call = parse_command(words)
        if call is not None:
            shown.setdefault(where, set()).add((call.namespace, call.function))
    for where, call in STATE_SNIPPETS:
        shown.setdefault(where, set()).add((call.namespace, call.function))
    missing = [
        docstring.label
        for docstring in loader_docstrings()
        if docstring.function
        and ours(docstring.function)
        and (docstring.namespace, docstring.function) not in shown.get(docstring.label, set())
    ]
    assert missing == []


# --- the reader itself --------------------------------------------------------------------


@pytest.mark.parametrize(
    "line,expected",
    [
        (
            "salt 'lb*' haproxy_maint.start test=True",
            ("module", "haproxy_maint.start", [], ["test"]),
        ),
        ("salt -G os:Debian haproxy_maint.status", ("module", "haproxy_maint.status", [], [])),
        (
            "salt -C 'lb* and G@os:Debian' haproxy_maint.stop",
            ("module", "haproxy_maint.stop", [], []),
        ),
        (
            "salt-call --local -c /tmp/conf --out=json haproxy_maint.config",
            ("module", "haproxy_maint.config", [], []),
        ),
        (
            "salt-run haproxy_maint.status prod --out=json",
            ("runner", "haproxy_maint.status", ["prod"], []),
        ),
        (
            "salt-run --out json haproxy_maint.desired prod",
            ("runner", "haproxy_maint.desired", ["prod"], []),
        ),
        (
            "salt-call state.single haproxy_server.maint name=app servers='[\"app1\"]'",
            ("state", "haproxy_server.maint", [], ["name", "servers"]),
        ),
        (
            "salt-run state.event 'maint/*' pretty=True",
            ("runner", "state.event", ["maint/*"], ["pretty"]),
        ),
    ],
)
def test_parse_command(line, expected):
    call = parse_command(shlex.split(line))
    assert (call.namespace, call.function, call.args, sorted(call.kwargs)) == expected


def test_commands_in_nested_and_piped_lines():
    line = (
        'salt-call haproxy_pillar.validate "$(salt-call --out=json pillar.get haproxy_maint '
        '| jq -c .local)" | head  # a comment with salt-run x.y'
    )
    found = [words[:2] for _, words in commands_in([line])]
    assert found[0][0] == "salt-call" and found[0][1] == "haproxy_pillar.validate"
    assert ["salt-call", "--out=json"] in found
    assert len(found) == 2


def test_a_wrong_example_is_caught():
    bad = [
        ["salt-run", "haproxy_maint.start", "prod", "reasn=x"],
        ["salt", "lb1", "haproxy_maint.nothing"],
        ["salt-run", "haproxy_maint.desired"],
        ["salt-call", "state.single", "haproxy_server.maint", "name=app", "server=app1"],
    ]
    for words in bad:
        assert problems(parse_command(words), FUNCTIONS), words
