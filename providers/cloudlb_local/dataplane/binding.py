"""Binding listener sockets, and turning a failed bind into the one line an operator sees.

Where this sits: listeners bind through ``bind_socket`` and hand the socket to the event loop, so a bind error is
caught here (and reported per listener by ``Dataplane.apply``) instead of escaping from inside the loop.
"""

from __future__ import annotations

import errno
import socket

from cloudlb.model import Protocol

from .config import format_hostport

__all__ = ["BACKLOG", "bind_error_message", "bind_socket"]

BACKLOG = 1024
_PRIVILEGED_BELOW = 1024


def bind_socket(address: str, port: int, protocol: Protocol) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    if protocol is Protocol.TCP:
        # proto IPPROTO_TCP (not 0) is inherited by accepted sockets, and is what makes asyncio set TCP_NODELAY
        kind, proto = socket.SOCK_STREAM, socket.IPPROTO_TCP
    else:
        kind, proto = socket.SOCK_DGRAM, socket.IPPROTO_UDP
    sock = socket.socket(family, kind, proto)
    try:
        if kind == socket.SOCK_STREAM:
            # Rebinding right after a restart must not wait out TIME_WAIT. Not for UDP: there SO_REUSEADDR would
            # let two listeners share a port silently instead of reporting "address in use".
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_error_message(exc: OSError, address: str, port: int) -> str:
    where = format_hostport(address, port)
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
        hint = " (privileged port)" if port < _PRIVILEGED_BELOW else ""
        return f"permission denied binding {where}{hint}"
    if exc.errno == errno.EADDRINUSE:
        return f"address in use: {where}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"address not available: {where}"
    reason = (exc.strerror or str(exc)).lower()
    return f"cannot bind {where}: {reason}"
