"""The data plane tests' harness: a fresh event loop per test, a ``Lab`` holding a ``Dataplane`` and its backends,
and small clients. No pytest-asyncio: ``in_lab`` runs a scenario coroutine on its own loop and cleans up.

Addresses: backends on 127.0.0.11-19, client source addresses 127.0.0.21-29, listeners on 127.0.100.200-249.
Ports are picked free at run time. Every wait is bounded; nothing here asserts on speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry

from cloudlb.model import Protocol
from cloudlb_local.dataplane import Backend, BackendHealth, Dataplane, ListenerConfig, ListenerKey, ListenerStatus, run

from .servers import EchoBackend, HttpBackend, ProxyBackend, UdpBackend, close_all

BACKEND_IPS = ("127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14", "127.0.0.15", "127.0.0.16")
CLIENT_IPS = ("127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.24", "127.0.0.25", "127.0.0.26")
SCENARIO_TIMEOUT = 25.0  # under pytest-timeout, so a hang fails with the scenario's own traceback
_lb_addresses = itertools.cycle(f"127.0.100.{n}" for n in range(200, 250))


def free_port(address: str, kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, kind) as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


def dead_backend(ip: str) -> Backend:
    """An address where nothing listens: connects are refused."""
    return Backend(ip, free_port(ip))


async def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


class Lab:
    """One test's world: a data plane with its own metrics registry, and the backends started through it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.dp = Dataplane(metrics_registry=self.registry)
        self.backends: list[Any] = []

    def address(self) -> str:
        return next(_lb_addresses)

    async def echo(self, name: str, ip: str) -> EchoBackend:
        backend = EchoBackend(name, ip)
        self.backends.append(backend)
        await backend.start()
        return backend

    async def echoes(self, count: int) -> list[EchoBackend]:
        return [await self.echo(f"b{i + 1}", BACKEND_IPS[i]) for i in range(count)]

    async def http(self, name: str, ip: str) -> HttpBackend:
        backend = HttpBackend(name, ip)
        self.backends.append(backend)
        await backend.start()
        return backend

    async def proxy(self, name: str, ip: str) -> ProxyBackend:
        backend = ProxyBackend(name, ip)
        self.backends.append(backend)
        await backend.start()
        return backend

    async def udp(self, name: str, ip: str) -> UdpBackend:
        backend = UdpBackend(name, ip)
        self.backends.append(backend)
        await backend.start()
        return backend

    def listener(
        self,
        backends: Iterable[Any],
        *,
        protocol: Protocol = Protocol.TCP,
        address: str | None = None,
        port: int | None = None,
        **options: Any,
    ) -> ListenerConfig:
        address = address or self.address()
        kind = socket.SOCK_STREAM if protocol is Protocol.TCP else socket.SOCK_DGRAM
        chosen = {b if isinstance(b, Backend) else b.backend for b in backends}
        return ListenerConfig(
            lb_id=options.pop("lb_id", "lb-test"),
            address=address,
            port=port or free_port(address, kind),
            protocol=protocol,
            backends=frozenset(chosen),
            **options,
        )

    async def serve(self, *configs: ListenerConfig) -> None:
        """Apply ``configs`` as the full desired set and insist every listener is serving."""
        result = await self.dp.apply(configs)
        assert result == {c.key: None for c in configs}, result

    def status(self, config: ListenerConfig) -> ListenerStatus:
        return self.dp.status()[config.key]

    def health(self, config: ListenerConfig, backend: Any) -> BackendHealth:
        """``backend``: a ``Backend`` or one of the test servers."""
        return self.status(config).backends[backend if isinstance(backend, Backend) else backend.backend]

    def active(self, config: ListenerConfig, backend: Any) -> int:
        key = backend if isinstance(backend, Backend) else backend.backend
        health = self.status(config).backends.get(key)
        return 0 if health is None else health.active_connections

    async def idle(self, config: ListenerConfig) -> None:
        """Wait until the listener has finished with every connection (so counts are settled)."""
        await wait_until(lambda: self.status(config).active_connections == 0, f"{config.name} to go idle")

    async def close(self) -> None:
        await self.dp.close(drain_timeout=1.0)
        await close_all(self.backends)


def in_lab(
    scenario: Callable[[Lab], Awaitable[None]], *, use_uvloop: bool = True, timeout: float = SCENARIO_TIMEOUT
) -> None:
    """Run ``scenario`` on a fresh event loop with a fresh ``Lab``, closing everything afterwards."""

    async def main() -> None:
        lab = Lab()
        try:
            async with asyncio.timeout(timeout):
                await scenario(lab)
        finally:
            await lab.close()

    run(main(), use_uvloop=use_uvloop)


# -- clients ------------------------------------------------------------------------------------------------------


async def connect(
    config: ListenerConfig, source: str | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    local = (source, 0) if source else None
    return await asyncio.open_connection(config.address, config.port, local_addr=local)


async def request(config: ListenerConfig, source: str | None = None) -> str | None:
    """One connection: the name of the backend that answered, or None if the load balancer closed it unanswered."""
    reader, writer = await connect(config, source)
    try:
        async with asyncio.timeout(5):
            line = await reader.readline()
    except ConnectionResetError:
        line = b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return line.decode().strip() or None


async def requests(config: ListenerConfig, count: int, source: str | None = None) -> list[str | None]:
    return [await request(config, source) for _ in range(count)]


async def http_get(config: ListenerConfig, path: str = "/") -> tuple[int, bytes]:
    reader, writer = await connect(config)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        async with asyncio.timeout(5):
            response = await reader.read()
    finally:
        writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


class Held:
    """A connection kept open through the load balancer, to show it survives changes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str) -> None:
        self.reader, self.writer, self.name = reader, writer, name

    @classmethod
    async def open(cls, config: ListenerConfig, source: str | None = None) -> Held:
        reader, writer = await connect(config, source)
        async with asyncio.timeout(5):
            name = (await reader.readline()).decode().strip()
        assert name, "the load balancer closed a connection it should have served"
        return cls(reader, writer, name)

    async def echo(self, data: bytes = b"ping") -> bytes:
        self.writer.write(data)
        async with asyncio.timeout(5):
            return await self.reader.readexactly(len(data))

    async def is_cut(self) -> bool:
        """True once the connection was closed or reset from the far side."""
        try:
            async with asyncio.timeout(5):
                return await self.reader.read(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.writer.close()


class UdpClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def open(cls, config: ListenerConfig, source: str = "127.0.0.21") -> UdpClient:
        client = cls()
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: client, local_addr=(source, 0), remote_addr=(config.address, config.port)
        )
        client.transport = transport
        return client

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.replies.put_nowait(data)

    async def ask(self, payload: bytes, *, timeout: float = 5.0) -> bytes | None:
        """Send one datagram; the reply, or None if none came within ``timeout`` (for dropped datagrams)."""
        assert self.transport is not None
        self.transport.sendto(payload)
        try:
            async with asyncio.timeout(timeout):
                return await self.replies.get()
        except TimeoutError:
            return None

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def keys(*configs: ListenerConfig) -> set[ListenerKey]:
    return {c.key for c in configs}
