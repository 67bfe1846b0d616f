"""
Keep supervisord programs running (the ``supervisord.running`` state).

Salt 3008 ships the ``supervisord`` execution module but no longer its state
module; this one restores ``supervisord.running`` (with ``watch``) for what this
state tree needs. Every call goes through ``__salt__["supervisord.*"]``.
Delete this file when Salt (or an extension) provides the state again.
"""

import importlib.util
import time

from salt.exceptions import CommandExecutionError

__virtualname__ = "supervisord"


def __virtual__():
    """Only where Salt has no ``supervisord`` state of its own (Salt 3008 dropped it): a Salt that
    ships one (3007) keeps its own, complete one."""
    if importlib.util.find_spec("salt.states.supervisord") is not None:
        return (False, "Salt ships its own supervisord state; this fallback stays unloaded")
    if "supervisord.status" not in __salt__ and "supervisord.list" not in __salt__:
        return (False, "the supervisord execution module is not available")
    return __virtualname__


SETTLE_SECONDS = 10
POLL_SECONDS = 0.2
UNREACHABLE = "UNREACHABLE"
# States that change by themselves soon: wait (bounded) for them to settle.
BUSY = (UNREACHABLE, "STARTING", "BACKOFF")


def _ctl(function, name, conf_file, bin_env, user):
    """Run one supervisorctl action; its ``ERROR`` answers become exceptions."""
    answer = __salt__[f"supervisord.{function}"](
        name=name, user=user, conf_file=conf_file, bin_env=bin_env
    )
    if "ERROR" in answer or "no such" in answer:
        raise CommandExecutionError(f"supervisorctl {function} {name}: {answer.strip()}")
    return answer


def _state(name, conf_file, bin_env, user):
    """The program's supervisor state (``RUNNING``, ``STOPPED`` ...), None when unknown."""
    status = __salt__["supervisord.status"](
        name=name, user=user, conf_file=conf_file, bin_env=bin_env
    )
    if any("://" in key for key in status):
        # supervisorctl could not reach supervisord ("unix:///... no such file").
        return UNREACHABLE
    entry = status.get(name) or status.get(f"{name}:{name}")
    if entry is None or entry["state"] == "ERROR":
        # ERROR here is "no such process": supervisord has not read the program file yet.
        return None
    return entry["state"]


def _settled_state(name, conf_file, bin_env, user, transient=BUSY):
    """Wait (bounded) while supervisord starts up, or adds or starts the program."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        state = _state(name, conf_file, bin_env, user)
        if state not in transient:
            return state
        if time.monotonic() > deadline:
            if state == UNREACHABLE:
                raise CommandExecutionError(
                    f"supervisord ({conf_file or 'default'}) is not reachable"
                )
            return state
        time.sleep(POLL_SECONDS)


def _converge(name, conf_file, bin_env, user, restart):
    """Add, start or restart the program; return (what changed, the comment)."""
    before = _settled_state(name, conf_file, bin_env, user)
    if before is None:
        _ctl("update", name, conf_file, bin_env, user)
        action = "added"
    elif restart and before == "RUNNING":
        reread = __salt__["supervisord.reread"](user=user, conf_file=conf_file, bin_env=bin_env)
        # update restarts a program whose file changed; restart covers every other watch.
        _ctl(
            "update" if f"{name}: changed" in reread else "restart", name, conf_file, bin_env, user
        )
        action = "restarted"
    elif before != "RUNNING":
        _ctl("start", name, conf_file, bin_env, user)
        action = "started"
    else:
        return {}, f"{name} is running"
    # None too: supervisord may not list a just-added program yet.
    after = _settled_state(name, conf_file, bin_env, user, transient=(None, *BUSY))
    if after != "RUNNING":
        # autostart=false, or it gave up: supervisorctl start waits for startsecs.
        _ctl("start", name, conf_file, bin_env, user)
        after = _state(name, conf_file, bin_env, user)
    if after != "RUNNING":
        raise CommandExecutionError(f"{name} was {action} but is {after}")
    return {name: {"old": before, "new": after}}, f"{name} {action}"


def _run(name, conf_file, bin_env, user, restart):
    ret = {"name": name, "result": True, "comment": "", "changes": {}}
    try:
        if __opts__["test"]:
            before = _state(name, conf_file, bin_env, user)
            if before == UNREACHABLE:
                return {
                    **ret,
                    "result": None,
                    "comment": f"supervisord is not running: {name} would have been started",
                }
            if before == "RUNNING" and not restart:
                return {**ret, "comment": f"{name} is running"}
            verb = "restarted" if restart and before == "RUNNING" else "started"
            return {**ret, "result": None, "comment": f"{name} would have been {verb}"}
        ret["changes"], ret["comment"] = _converge(name, conf_file, bin_env, user, restart)
    except CommandExecutionError as err:
        return {**ret, "result": False, "comment": str(err)}
    return ret


def running(name, conf_file=None, bin_env=None, user=None, restart=False):
    """
    Make sure a supervisord program is known and RUNNING.

    name
        The program's name (its ``[program:<name>]`` section).

    conf_file
        supervisord's configuration file, for ``supervisorctl -c``.

    bin_env
        A supervisorctl binary or a virtualenv holding supervisor.

    user
        Run supervisorctl as this user.

    restart
        Restart the program even when it is running.

    Example:

    .. code-block:: yaml

        http-server:
          supervisord.running:
            - conf_file: /etc/supervisor/supervisord.conf
            - watch:
              - file: /etc/supervisor/conf.d/http-server.conf
    """
    return _run(name, conf_file, bin_env, user, restart)


def mod_watch(name, conf_file=None, bin_env=None, user=None, **kwargs):
    """
    Re-read the program file and restart the program when a watched state changed.

    name
        The program's name.

    conf_file
        supervisord's configuration file.

    bin_env
        A supervisorctl binary or a virtualenv holding supervisor.

    user
        Run supervisorctl as this user.
    """
    return _run(name, conf_file, bin_env, user, restart=True)
