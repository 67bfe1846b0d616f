"""
Time formats, in one place: ISO 8601 times with a zone (requests, windows, the page's
``eta_at``), the master's request stamps, and HAProxy's durations (``10s``, ``500ms``).

- :py:func:`parse_iso` reads an ISO 8601 text with a zone into an aware UTC datetime;
  :py:func:`format_iso` writes one back, to the second, with a ``Z``.
- :py:func:`stamp` is the master's receive time of a request: fixed width, so stamps order
  as strings (``2026-11-28T02:00:00.000000``, UTC, no zone).
- :py:func:`haproxy_seconds` reads an HAProxy duration (its default unit is milliseconds).
"""

import datetime
import re

from salt.exceptions import SaltInvocationError

STAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
# HAProxy's time format (configuration manual, "2.5. Time format"): a number and a unit,
# milliseconds when the unit is left out.
HAPROXY_DURATION = re.compile(r"([0-9]+)(us|ms|s|m|h|d)?")
HAPROXY_UNITS = {"us": 0.000001, "ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 0.001}


def now():
    """The current time, aware, in UTC."""
    return datetime.datetime.now(datetime.timezone.utc)


def parse_iso(text, name):
    """
    Return an aware UTC datetime from an ISO 8601 text with a zone, else raise
    ``SaltInvocationError`` naming the field.

    text
        The text (``2026-11-28T02:00:00Z``, ``2026-11-28T03:00+01:00``).

    name
        The field's name, for the message.
    """
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (AttributeError, ValueError) as err:
        raise SaltInvocationError(
            f"{name} must be ISO 8601 with a zone, e.g. 2026-11-28T02:00:00Z, not {text!r}"
        ) from err
    if when.tzinfo is None:
        raise SaltInvocationError(f"{name} must name its zone (Z or +01:00), not {text!r}")
    return when.astimezone(datetime.timezone.utc)


def format_iso(when):
    """
    ISO 8601 in UTC with a ``Z``, to the second.

    when
        An aware datetime.
    """
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(text):
    """
    Whole seconds since 1970 of an ISO 8601 text with a zone (0 for "").

    text
        A time as :py:func:`format_iso` writes it, or "".
    """
    return int(parse_iso(text, "time").timestamp()) if text else 0


def stamp(when=None):
    """
    A fixed-width UTC time stamp, so that stamps order as strings.

    when
        A naive UTC or an aware datetime (default: now).
    """
    when = when or now()
    if when.tzinfo is not None:
        when = when.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return when.strftime(STAMP_FORMAT)


def event_stamp(data):
    """
    The stamp of an event: the master's receive time (``_stamp``, which a sender cannot set),
    else now.

    data
        The event's data as the master received it.
    """
    try:
        return stamp(datetime.datetime.fromisoformat(str(data["_stamp"])))
    except (KeyError, ValueError):
        return stamp()


def is_haproxy_duration(value):
    """
    Tell whether ``value`` (text or a whole number) is an HAProxy duration.

    value
        ``10s``, ``500ms``, ``2000`` ...
    """
    return isinstance(value, (str, int)) and bool(HAPROXY_DURATION.fullmatch(str(value)))


def haproxy_seconds(value):
    """
    Seconds of an HAProxy duration (``10s``: 10.0; ``2000``: 2.0, milliseconds by default);
    raise ``SaltInvocationError`` for anything else.

    value
        The duration, text or a whole number.
    """
    match = HAPROXY_DURATION.fullmatch(str(value))
    if not match or isinstance(value, bool):
        raise SaltInvocationError(f"{value!r} is not an HAProxy duration such as 10s or 500ms")
    number, unit = match.groups()
    return int(number) * HAPROXY_UNITS[unit]
