"""
Is the sorry server answering? A bare HTTP probe of the LB's local sorry server.
"""

import socket
import time

DEFAULT_TIMEOUT = 1.0


def answers(host, port, timeout=DEFAULT_TIMEOUT):
    """
    True when the server at ``host:port`` answers ``HEAD /`` with a status below 500. A bare
    socket, not urllib: this runs in every maintenance job, and importing urllib costs more
    than the request.

    host, port
        The sorry server's address.

    timeout
        Seconds for the connection and the answer.
    """
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as conn:
            conn.sendall(b"HEAD / HTTP/1.0\r\nHost: sorry-server\r\n\r\n")
            status_line = conn.recv(64).split()
    except OSError:
        return False
    return (
        len(status_line) >= 2
        and status_line[0].startswith(b"HTTP/")
        and status_line[1].isdigit()
        and int(status_line[1]) < 500
    )


def wait_until(probe, *, wait, poll_interval):
    """
    Call ``probe`` until it returns True or ``wait`` seconds have passed; return whether it
    did.

    probe
        A function without arguments, e.g. ``lambda: answers(host, port)``.

    wait, poll_interval
        Seconds.
    """
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if probe():
            return True
        time.sleep(poll_interval)
    return False
