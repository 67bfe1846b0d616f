"""
Names and words: the one name rule, the event tags, the server states.

HAProxy's runtime API treats ``;`` and newlines as command separators, so a backend or server
name may only hold letters, digits, ``-``, ``_``, ``.`` and ``:``, 1 to 64 of them
(:py:func:`check_name`); the pillar's backend and server names follow the same rule. An
environment name (:py:func:`check_env`) becomes part of file and cache keys: the same
characters but ``:``, in the request and in the pillar alike.
"""

import re

from salt.exceptions import SaltInvocationError

NAME_MAX_LENGTH = 64
NAME_PATTERN = re.compile(rf"[A-Za-z0-9_.:-]{{1,{NAME_MAX_LENGTH}}}")
ENV_PATTERN = re.compile(rf"[A-Za-z0-9_.-]{{1,{NAME_MAX_LENGTH}}}")
SERVER_STATES = ("ready", "drain", "maint")

START_TAG = "maint/start"
STOP_TAG = "maint/stop"
CANCEL_TAG = "maint/cancel"
RESULT_TAG = "maint/result"
REJECTED_TAG = "maint/rejected"
ACTIONS = {START_TAG: "start", STOP_TAG: "stop", CANCEL_TAG: "cancel"}
TAGS = {action: tag for tag, action in ACTIONS.items()}
# The master's answer to a signed request, on the asking minion's event bus.
ANSWER_TAG = "haproxy_maint/answer/{nonce}"
# The pillar key (and master config key) of everything this product reads.
CONFIG_KEY = "haproxy_maint"
# The state tree's defaults, which map.jinja, the LB module and the runner read.
DEFAULTS_URL = "salt://haproxy_maint/defaults.yaml"


def check_name(name, kind="name"):
    """
    Return ``name`` if it is a valid proxy or server name, else raise
    ``SaltInvocationError`` naming ``kind``.

    name
        The name.

    kind
        What it names, for the message (``backend``, ``server``).
    """
    if not isinstance(name, str):
        raise SaltInvocationError(
            f"invalid {kind} name {name!r}: must be text, not {type(name).__name__}"
        )
    if not NAME_PATTERN.fullmatch(name):
        raise SaltInvocationError(
            f"invalid {kind} name {name!r}: use 1 to {NAME_MAX_LENGTH} letters, digits, "
            "'-', '_', '.' or ':'"
        )
    return name


def check_server_names(servers):
    """
    Return a list of server names (a comma-separated string is split), each checked by
    :py:func:`check_name`, else raise ``SaltInvocationError``.

    servers
        A list of names, or ``"app1,app2"``.
    """
    if isinstance(servers, str):
        servers = [item for item in servers.split(",") if item]
    if not isinstance(servers, (list, tuple)):
        raise SaltInvocationError("servers must be a list of server names")
    return [check_name(server, "server") for server in servers]


def check_state(state):
    """
    Return ``state`` if it is ``ready``, ``drain`` or ``maint``, else raise
    ``SaltInvocationError``.

    state
        The admin state.
    """
    if state not in SERVER_STATES:
        raise SaltInvocationError(
            f"invalid server state {state!r}: use one of {', '.join(SERVER_STATES)}"
        )
    return state


def tag_for(action):
    """
    Return the event tag of ``start``, ``stop`` or ``cancel``, else raise.

    action
        The action.
    """
    if action not in TAGS:
        raise SaltInvocationError(f"action must be one of {', '.join(TAGS)}, not {action!r}")
    return TAGS[action]


def check_env(value):
    """
    Return an environment name or raise (the name becomes part of file and cache keys).

    value
        The name.
    """
    if not isinstance(value, str) or not ENV_PATTERN.fullmatch(value):
        raise SaltInvocationError(
            f"invalid env {value!r}: use 1 to {NAME_MAX_LENGTH} letters, digits, '-', '_' or '.'"
        )
    return value


# What ``salt-run`` and ``salt-call haproxy_maint.request`` exit with.
RETCODE_OK = 0
RETCODE_INCOMPLETE = 1
RETCODE_REJECTED = 2
RETCODE_NO_ANSWER = 3
