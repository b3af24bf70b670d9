"""A free local TCP port, for the servers the tests start (and for nothing listening)."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listened on a moment ago (the OS picks it): connections to it are refused
    until a server binds it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
