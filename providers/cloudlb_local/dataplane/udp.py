"""The UDP relay: one datagram endpoint per listener, one connected upstream socket per client flow.

Where this sits: ``UdpListener`` is the UDP sibling of ``TcpListener``. A flow is keyed by the client's address;
its first datagram picks a backend and opens a connected socket to it, so the backend's replies come back on that
socket and are sent to the client from the listener's address. A flow whose backend was removed or went unhealthy
fails over on its next datagram; idle flows expire.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from .listener import Listener
from .pool import BackendState

__all__ = ["UdpListener"]

_MAX_PENDING = 64  # datagrams queued per flow while its upstream socket is being set up; beyond that, dropped


class _Flow:
    __slots__ = ("client", "closed", "last", "listener", "pending", "rx", "state", "task", "transport", "tx")

    def __init__(self, listener: UdpListener, client: Any, state: BackendState, now: float) -> None:
        self.listener = listener
        self.client = client
        self.state = state
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: list[bytes] = []
        self.last = now
        self.rx = 0
        self.tx = 0
        self.closed = False
        self.task: asyncio.Task[None] | None = None

    def abort(self) -> None:
        self.listener.end_flow(self)


class _FlowProtocol(asyncio.DatagramProtocol):
    """The backend side of a flow: replies go back to the client through the listener's socket."""

    __slots__ = ("flow",)

    def __init__(self, flow: _Flow) -> None:
        self.flow = flow

    def datagram_received(self, data: bytes, addr: Any) -> None:
        flow = self.flow
        listener = flow.listener
        frontend = listener.frontend
        if frontend is not None and not flow.closed:
            flow.last = listener.loop.time()
            flow.tx += len(data)
            frontend.sendto(data, flow.client)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable: nothing listens there any more. Eject at once; the flow moves on its next datagram.
        if isinstance(exc, ConnectionRefusedError):
            flow = self.flow
            flow.state.connect_errors += 1
            flow.listener.pool.eject(flow.state, "port unreachable")


class _Frontend(asyncio.DatagramProtocol):
    __slots__ = ("listener",)

    def __init__(self, listener: UdpListener) -> None:
        self.listener = listener

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.listener.datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # an ICMP error about a reply to a client that went away; the flow idles out


class UdpListener(Listener):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.frontend: asyncio.DatagramTransport | None = None
        self.flows: dict[Any, _Flow] = {}
        super().__init__(*args, **kwargs)

    @property
    def bound(self) -> bool:
        return self.frontend is not None

    async def _serve(self, sock: socket.socket) -> None:
        transport, _ = await self.loop.create_datagram_endpoint(lambda: _Frontend(self), sock=sock)
        self.frontend = transport

    def _stop_serving(self) -> None:
        # Datagrams have no established connection to drain: stop and drop every flow now.
        if self.frontend is not None:
            self.frontend.close()
            self.frontend = None
        for flow in list(self.flows.values()):
            self.end_flow(flow)

    def datagram(self, data: bytes, addr: Any) -> None:
        flow = self.flows.get(addr)
        if flow is not None:
            if self.pool.usable(flow.state):
                flow.last = self.loop.time()
                flow.rx += len(data)
                transport = flow.transport
                if transport is not None:
                    transport.sendto(data)
                elif len(flow.pending) < _MAX_PENDING:
                    flow.pending.append(data)
                return
            self.end_flow(flow)  # its backend is gone or unhealthy: fail over below
        if not self.ranges.allows(addr[0]):
            self.refuse("source_range")
            return
        state = self.pool.pick(addr[0])
        if state is None:
            self.refuse("no_backend")
            return
        flow = _Flow(self, addr, state, self.loop.time())
        flow.rx = len(data)
        flow.pending.append(data)
        self.flows[addr] = flow
        state.active += 1
        state.total += 1
        state.conns.add(flow)
        self.track(flow)
        flow.task = self.loop.create_task(self._open(flow))

    async def _open(self, flow: _Flow) -> None:
        backend = flow.state.backend
        try:
            transport, _ = await self.loop.create_datagram_endpoint(
                lambda: _FlowProtocol(flow), remote_addr=(backend.ip, backend.port)
            )
        except OSError as exc:
            flow.state.connect_errors += 1
            self.pool.eject(flow.state, f"udp socket: {exc.strerror or exc}")
            self.end_flow(flow)
            return
        if flow.closed:
            transport.close()
            return
        flow.transport = transport
        for data in flow.pending:
            flow.transport.sendto(data)
        flow.pending.clear()

    def end_flow(self, flow: _Flow) -> None:
        if flow.closed:
            return
        flow.closed = True
        if flow.transport is not None:
            flow.transport.close()
        if self.flows.get(flow.client) is flow:
            del self.flows[flow.client]
        state = flow.state
        state.active -= 1
        state.conns.discard(flow)
        state.bytes_in += flow.rx
        state.bytes_out += flow.tx
        self.pool.released(state)
        self.untrack(flow)

    def _ranges_changed(self) -> None:
        for flow in list(self.flows.values()):
            if not self.ranges.allows(flow.client[0]):
                self.end_flow(flow)

    def _tick(self) -> float:
        return min(1.0, max(0.05, self.config.udp_idle_timeout / 4))

    def _maintain(self) -> None:
        super()._maintain()
        cutoff = self.loop.time() - self.config.udp_idle_timeout
        for flow in [f for f in self.flows.values() if f.last < cutoff]:
            self.end_flow(flow)
