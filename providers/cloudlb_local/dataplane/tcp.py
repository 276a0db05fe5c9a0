"""The TCP relay: the hot path of the local load balancer.

Where this sits: ``TcpListener`` serves one (address, port) with a ``_Client`` protocol per accepted connection,
which opens an ``_Upstream`` connection to the backend its pool picks. Bytes go straight from one transport's
``data_received`` to the other's ``write``, with no stream objects and no per-chunk work beyond a byte count.
Backpressure maps each side's ``pause_writing``/``resume_writing`` onto the other side's reading, and a half-close
(EOF) is passed through, so request/response protocols that shut down their write side keep working.

TCP_NODELAY: uvloop sets it on every TCP transport; asyncio does for sockets whose proto is IPPROTO_TCP, which is
why ``bind_socket`` creates the listening socket with it (accepted sockets inherit it). So neither side of the relay
holds back small writes, at no per-connection cost; a test checks both sockets under both loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any, cast

from cloudlb.model import ProxyProtocol

from .binding import BACKLOG
from .listener import Listener
from .pool import BackendState
from .proxy_protocol import proxy_header

__all__ = ["TcpListener"]

# Per direction: pause the sender once this much waits in a transport's user-space buffer. Large enough to keep a
# bulk transfer streaming between wakeups, small enough that a slow reader costs little memory per connection.
WRITE_HIGH_WATER = 256 * 1024
WRITE_LOW_WATER = 64 * 1024


_LINGER_RESET = struct.pack("ii", 1, 0)


def _reset(transport: asyncio.Transport) -> None:
    """Abort with a TCP reset (SO_LINGER 0), so the peer learns the connection failed rather than ended."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    transport.abort()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "connect timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


class _Upstream(asyncio.Protocol):
    """The backend side of one relayed connection. All state lives on the ``_Client``."""

    __slots__ = ("client",)

    def __init__(self, client: _Client) -> None:
        self.client = client

    def data_received(self, data: bytes) -> None:
        client = self.client
        client.transport.write(data)
        client.tx += len(data)

    def eof_received(self) -> bool:
        return self.client.upstream_eof()

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.upstream_lost(exc)

    def pause_writing(self) -> None:  # the backend is slow: stop reading from the client
        transport = self.client.transport
        if not transport.is_closing():
            transport.pause_reading()

    def resume_writing(self) -> None:
        transport = self.client.transport
        if not transport.is_closing():
            transport.resume_reading()


class _Client(asyncio.Protocol):
    """The client side of one relayed connection, and its bookkeeping."""

    __slots__ = (
        "_client_eof",
        "_closed",
        "_connecting",
        "_early",
        "_task",
        "_upstream_eof",
        "listener",
        "rx",
        "state",
        "transport",
        "tx",
        "upstream",
    )

    transport: asyncio.Transport

    def __init__(self, listener: TcpListener) -> None:
        self.listener = listener
        self.upstream: asyncio.Transport | None = None
        self.state: BackendState | None = None
        self.rx = 0  # client -> backend bytes
        self.tx = 0  # backend -> client bytes
        self._client_eof = False
        self._upstream_eof = False
        self._closed = False
        self._connecting = False
        self._early: list[bytes] | None = None
        self._task: asyncio.Task[None] | None = None

    # -- client transport events --------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        listener = self.listener
        peer: Any = None
        if listener.needs_peer:
            peer = transport.get_extra_info("peername")
            if peer is None:  # the client is already gone
                transport.close()
                return
            if not listener.ranges.allows(peer[0]):
                listener.refuse("source_range")
                transport.close()
                return
        if listener.pool.empty:
            listener.refuse("no_backend")
            transport.close()
            return
        # Hold the client's bytes in the kernel until the backend is connected (and the PROXY header is written).
        # (uvloop starts reading anyway; data_received pauses again and keeps that first chunk.)
        self.transport.pause_reading()
        self.transport.set_write_buffer_limits(WRITE_HIGH_WATER, WRITE_LOW_WATER)
        listener.track(self)
        self._connecting = True
        self._task = listener.loop.create_task(self._connect(peer))

    def data_received(self, data: bytes) -> None:
        upstream = self.upstream
        if upstream is not None:
            upstream.write(data)
        else:
            # uvloop ignores pause_reading() from connection_made(); pausing now works, so at most one read waits.
            self.transport.pause_reading()
            if self._early is None:
                self._early = []
            self._early.append(data)
        self.rx += len(data)

    def eof_received(self) -> bool:
        self._client_eof = True
        upstream = self.upstream
        if upstream is None:
            return True  # passed on once the backend is connected
        if self._upstream_eof:
            upstream.close()
            return False  # both directions are done: let the transport close
        if not upstream.is_closing():
            upstream.write_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self._closed:
            return
        self._closed = True
        upstream = self.upstream
        if upstream is not None:
            if exc is None:
                upstream.close()
            else:
                _reset(upstream)
        if not self._connecting:
            self._finish()

    def pause_writing(self) -> None:  # the client is slow: stop reading from the backend
        upstream = self.upstream
        if upstream is not None and not upstream.is_closing():
            upstream.pause_reading()

    def resume_writing(self) -> None:
        upstream = self.upstream
        if upstream is not None and not upstream.is_closing():
            upstream.resume_reading()

    # -- upstream transport events (forwarded by _Upstream) -----------------------------------------------------

    def upstream_eof(self) -> bool:
        self._upstream_eof = True
        transport = self.transport
        if self._client_eof:
            transport.close()
            return False
        if not transport.is_closing():
            transport.write_eof()
        return True

    def upstream_lost(self, exc: Exception | None) -> None:
        # A reset from the backend becomes a reset to the client; a clean close flushes what is buffered first.
        if exc is None:
            self.transport.close()
        else:
            _reset(self.transport)

    def abort(self) -> None:
        _reset(self.transport)
        if self.upstream is not None:
            _reset(self.upstream)

    # -- setup and teardown -------------------------------------------------------------------------------------

    async def _connect(self, peer: Any) -> None:
        listener = self.listener
        pool = listener.pool
        cfg = listener.config
        client_ip = peer[0] if peer is not None else None
        tried: list[BackendState] = []
        for _ in range(cfg.connect_attempts):
            state = pool.pick(client_ip, tried)
            if state is None:
                break
            state.active += 1  # counted while connecting, so least-connections sees it
            backend = state.backend
            try:
                async with asyncio.timeout(cfg.connect_timeout):
                    upstream, _ = await listener.loop.create_connection(
                        lambda: _Upstream(self), backend.ip, backend.port
                    )
            except (OSError, TimeoutError) as exc:
                state.active -= 1
                state.connect_errors += 1
                pool.released(state)
                pool.eject(state, f"connect: {_describe(exc)}")
                tried.append(state)
                if self._closed:
                    break
                continue
            self._connected(upstream, state, peer)
            return
        self._connecting = False
        if self._closed:
            self._finish()
        else:  # no backend took the connection; the client sees a close, never a hang
            listener.refuse("no_backend")
            self.transport.close()

    def _connected(self, upstream: asyncio.Transport, state: BackendState, peer: Any) -> None:
        self._connecting = False
        self.state = state
        state.total += 1
        state.conns.add(self)
        if self._closed:  # the client left while we were connecting
            upstream.close()
            self._finish()
            return
        self.upstream = upstream
        upstream.set_write_buffer_limits(WRITE_HIGH_WATER, WRITE_LOW_WATER)
        version = self.listener.config.proxy_protocol
        if version is not ProxyProtocol.NONE:
            client = peer or self.transport.get_extra_info("peername")  # None if PROXY was enabled meanwhile
            upstream.write(proxy_header(version, client, self.transport.get_extra_info("sockname")))
        if self._early is not None:
            upstream.writelines(self._early)
            self._early = None
        if self._client_eof:
            upstream.write_eof()
        else:
            self.transport.resume_reading()

    def _finish(self) -> None:
        state = self.state
        listener = self.listener
        if state is not None:
            self.state = None
            state.active -= 1
            state.conns.discard(self)
            state.bytes_in += self.rx
            state.bytes_out += self.tx
            listener.pool.released(state)
        listener.untrack(self)


class TcpListener(Listener):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._server: asyncio.AbstractServer | None = None
        super().__init__(*args, **kwargs)

    @property
    def bound(self) -> bool:
        return self._server is not None

    async def _serve(self, sock: socket.socket) -> None:
        self._server = await self.loop.create_server(lambda: _Client(self), sock=sock, backlog=BACKLOG)

    def _stop_serving(self) -> None:
        if self._server is not None:
            self._server.close()  # closes the listening socket only; established connections keep running
            self._server = None
