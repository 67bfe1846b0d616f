"""
Signed maintenance requests: the sender minion signs with its own Salt key, the master checks
the signature with that minion's accepted public key.

Why: Salt authenticates the ``id`` of a single event, but a minion can put any ``id`` into a
*batched* event (``_minion_event`` with ``events``), so ``id`` alone cannot prove who sent a
request. A signature by the minion's own private key can only come from that minion.

The signature covers the canonical form of the whole request (:py:func:`canonical`): the tag,
the sender id, every field, a time stamp and a random nonce. The master refuses a signature
that does not verify with the *accepted* key of the named sender (a pending, rejected, denied
or missing key fails), a time stamp outside the window, and a nonce it has seen within the
window (the master's runner keeps used nonces in a file, so a restart does not forget them).
"""

import base64
import binascii
import json
import os
import re
import secrets
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from salt.exceptions import CommandExecutionError, SaltInvocationError

SIGNATURE_FIELD = "signature"
SCHEME = "rsa-pkcs1v15-sha256"
DEFAULT_WINDOW_S = 60
# A minion id that can be a file name in the pki dir: no path separators, no dot names.
MINION_ID_PATTERN = re.compile(r"[A-Za-z0-9_.@-]{1,128}")
NONCE_PATTERN = re.compile(r"[0-9a-f]{32}")
SIGNATURE_MAX_LENGTH = 2048
MINION_PRIVATE_KEY = "minion.pem"
ACCEPTED_KEYS_DIR = "minions"


def canonical(tag, sender, fields, stamp, nonce):
    """
    The bytes that are signed: compact JSON with sorted keys, ASCII only.

    tag
        ``maint/start``, ``maint/stop`` or ``maint/cancel``.

    sender
        The signing minion's id.

    fields
        The request's fields (without the signature).

    stamp
        Seconds since the epoch (an int) when the request was signed.

    nonce
        32 hex digits, random per request.
    """
    document = {"tag": tag, "sender": sender, "fields": fields, "ts": stamp, "nonce": nonce}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign(tag, sender, fields, key_path, now=None):
    """
    Return the signature envelope for a request: ``{"sender", "ts", "nonce", "scheme",
    "sig"}``, to send under the ``signature`` field.

    tag
        The request's tag.

    sender
        This minion's id.

    fields
        The request's fields.

    key_path
        This minion's private key (``<pki_dir>/minion.pem``).

    now
        Seconds since the epoch (default: now).
    """
    stamp = int(now if now is not None else time.time())
    nonce = secrets.token_hex(16)
    try:
        with open(key_path, "rb") as handle:
            key = serialization.load_pem_private_key(handle.read(), password=None)
    except (OSError, ValueError, TypeError) as err:
        raise CommandExecutionError(f"cannot read this minion's key {key_path}: {err}") from err
    signature = key.sign(
        canonical(tag, sender, fields, stamp, nonce), padding.PKCS1v15(), hashes.SHA256()
    )
    return {
        "sender": sender,
        "ts": stamp,
        "nonce": nonce,
        "scheme": SCHEME,
        "sig": base64.b64encode(signature).decode(),
    }


def accepted_key_path(pki_dir, sender):
    """
    The path of ``sender``'s accepted public key on the master, or raise
    ``SaltInvocationError`` when the id cannot be a key name.

    pki_dir
        The master's pki dir.

    sender
        The minion id.
    """
    if (
        not isinstance(sender, str)
        or not MINION_ID_PATTERN.fullmatch(sender)
        or sender
        in (
            ".",
            "..",
        )
    ):
        raise SaltInvocationError(f"the signature names an invalid minion id {sender!r}")
    return os.path.join(pki_dir, ACCEPTED_KEYS_DIR, sender)


def verify(tag, fields, envelope, pki_dir, window=DEFAULT_WINDOW_S, now=None):
    """
    Check a signature envelope; return the sender id it proves, or raise
    ``SaltInvocationError`` saying why it does not.

    tag
        The request's tag.

    fields
        The request's fields (without the signature).

    envelope
        The ``signature`` field.

    pki_dir
        The master's pki dir (accepted keys in ``minions/``).

    window
        Seconds a signature is valid, either side of the master's clock.

    now
        Seconds since the epoch (default: now).
    """
    if not isinstance(envelope, dict):
        raise SaltInvocationError("signature must be a mapping")
    unknown = sorted(set(envelope) - {"sender", "ts", "nonce", "scheme", "sig"})
    if unknown:
        raise SaltInvocationError(f"signature has unknown keys: {', '.join(map(str, unknown))}")
    sender, stamp, nonce = envelope.get("sender"), envelope.get("ts"), envelope.get("nonce")
    if envelope.get("scheme") != SCHEME:
        raise SaltInvocationError(f"signature scheme must be {SCHEME}")
    if isinstance(stamp, bool) or not isinstance(stamp, int):
        raise SaltInvocationError("signature time stamp must be whole seconds")
    if not isinstance(nonce, str) or not NONCE_PATTERN.fullmatch(nonce):
        raise SaltInvocationError("signature nonce must be 32 hex digits")
    now = time.time() if now is None else now
    if abs(now - stamp) > window:
        raise SaltInvocationError(
            f"signature is stale: signed {int(now - stamp)} s from the master's clock "
            f"(window {window} s)"
        )
    encoded = envelope.get("sig")
    if not isinstance(encoded, str) or len(encoded) > SIGNATURE_MAX_LENGTH:
        raise SaltInvocationError("signature value must be base64 text")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as err:
        raise SaltInvocationError("signature value is not base64") from err
    path = accepted_key_path(pki_dir, sender)
    try:
        with open(path, "rb") as handle:
            key = serialization.load_pem_public_key(handle.read())
    except FileNotFoundError as err:
        raise SaltInvocationError(
            f"minion {sender!r} has no accepted key on this master (pending, rejected, "
            "denied or deleted keys do not count)"
        ) from err
    except (OSError, ValueError) as err:
        raise SaltInvocationError(f"cannot read the accepted key of {sender!r}: {err}") from err
    try:
        key.verify(
            signature,
            canonical(tag, sender, fields, stamp, nonce),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature as err:
        raise SaltInvocationError(
            f"signature does not verify with the accepted key of {sender!r}"
        ) from err
    return sender
