"""Fails any connection outside 127.0.0.0/8 (or ::1, or a Unix socket).

Installed for the test process by conftest.py, and for the `mentionwatch` subprocesses of the end-to-end
tests through a `sitecustomize` on their PYTHONPATH, so that no code path under test can reach the
internet even if it is wrong.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


class NetworkBlocked(OSError):
    pass


def _allowed_host(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(sock: socket.socket, address: Any) -> None:
    if sock.family == getattr(socket, "AF_UNIX", None):
        return
    host = address[0] if isinstance(address, tuple) else address
    if not _allowed_host(host):
        raise NetworkBlocked(f"test network guard: connection to {address!r} refused (only 127.0.0.0/8)")


def _connect(self: socket.socket, address: Any) -> None:
    _check(self, address)
    return _real_connect(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    _check(self, address)
    return _real_connect_ex(self, address)


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    # Name lookups go to a resolver on the network: refuse them too, so nothing leaves the machine.
    if host is not None and not _allowed_host(host):
        raise NetworkBlocked(f"test network guard: lookup of {host!r} refused (only 127.0.0.0/8)")
    return _real_getaddrinfo(host, *args, **kwargs)


def install() -> None:
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _getaddrinfo
