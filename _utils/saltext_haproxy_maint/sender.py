"""
Who asks: the sender a request proves (a signature by the sender minion's accepted key in a
``signed`` environment; the event's ``id`` in a ``minion-id`` one), the environment's
allow-list, and the store of nonces that makes a replayed signed request fail.
"""

import fnmatch
import os
import time

from salt.exceptions import CommandExecutionError, SaltInvocationError

from saltext_haproxy_maint import files, signing
from saltext_haproxy_maint.master_config import Rejected

NONCE_FILE = "nonces.json"


def check_allowed(config, sender, env):
    """
    Raise :py:class:`Rejected` unless ``sender`` matches ``env``'s allow-list.

    config
        The :py:class:`~saltext_haproxy_maint.master_config.MasterConfig`.

    sender
        The proven sender's minion id.

    env
        The environment's name.
    """
    allow = config.allow(env)
    if not isinstance(sender, str) or not sender:
        raise Rejected("the request has no sender id")
    if not any(fnmatch.fnmatchcase(sender, str(pattern)) for pattern in allow):
        raise Rejected(f"sender {sender!r} may not trigger maintenance in env {env!r}")


def prove_sender(config, *, tag, event_id, fields, envelope, env):
    """
    Return the sender that the request proves: the signer under ``signed``, else the event's
    id. Raise :py:class:`Rejected` when the proof fails.

    config
        The :py:class:`~saltext_haproxy_maint.master_config.MasterConfig`.

    tag
        The request's tag.

    event_id
        The Salt-authenticated ``id`` of the event.

    fields
        The request's fields, without the signature.

    envelope
        The signature (:py:func:`saltext_haproxy_maint.signing.sign`), or None.

    env
        The environment's name.
    """
    if envelope is None:
        if config.trust(env) == "signed":
            raise Rejected(
                f"env {env!r} accepts signed requests only; on an allowed minion run "
                f"salt-call haproxy_maint.request {tag.split('/')[1]} env={env}"
            )
        return event_id
    window = config.signature_window
    try:
        sender = signing.verify(tag, fields, envelope, config.opts["pki_dir"], window)
        if sender != event_id:
            raise Rejected(f"the request was signed by {sender!r} but sent as {event_id!r}")
        remember_nonce(config.state_dir(), envelope["nonce"], window)
    except SaltInvocationError as err:
        raise Rejected(str(err)) from err
    return sender


def remember_nonce(state_dir, nonce, window):
    """
    Record a signed request's nonce; raise :py:class:`Rejected` for one seen within the
    window (a replay). The record is a file under the state dir, locked while read and
    written (reactor threads and salt-run calls), pruned of old nonces, and kept across a
    master restart.

    state_dir
        The master's state directory.

    nonce
        The request's nonce.

    window
        The signature window in seconds; nonces are kept twice as long.
    """
    path = os.path.join(state_dir, NONCE_FILE)
    now = time.time()
    with files.locked(path + ".lock", dir_mode=0o700):
        try:
            seen = files.read_json(path, default={})
        except CommandExecutionError:
            seen = {}  # a damaged record is replaced; its entries expire within the window
        seen = {
            key: when
            for key, when in seen.items()
            if isinstance(when, (int, float)) and now - when <= 2 * window
        }
        if nonce in seen:
            raise Rejected("this signed request was seen before (a replay)")
        seen[nonce] = now
        files.write_json(path, seen, mode=0o600, dir_mode=0o700)
