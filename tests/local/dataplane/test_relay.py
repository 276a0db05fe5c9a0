"""The TCP relay itself: bytes intact, half-close both ways, resets, backpressure, socket options."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
from typing import Any, cast

import pytest

from cloudlb_local.dataplane import Backend
from cloudlb_local.dataplane.tcp import WRITE_HIGH_WATER

from .support import Held, Lab, connect, in_lab, request, wait_until

pytestmark = pytest.mark.timeout(60)


async def _start(handler: Any, ip: str) -> tuple[asyncio.Server, Any]:
    server = await asyncio.start_server(handler, ip, 0)
    return server, server.sockets[0].getsockname()[1]


def test_bulk_transfer_is_intact_and_client_eof_is_a_half_close(use_uvloop: bool) -> None:
    """The backend answers only after the client's EOF, so the relay must keep the reply direction open."""
    payload = os.urandom(3 * 1024 * 1024 + 17)

    async def digest_after_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read()
        writer.write(f"{len(data)} {hashlib.sha256(data).hexdigest()}\n".encode() + data)
        await writer.drain()
        writer.close()

    async def scenario(lab: Lab) -> None:
        server, port = await _start(digest_after_eof, "127.0.0.11")
        config = lab.listener([Backend("127.0.0.11", port)])
        await lab.serve(config)
        reader, writer = await connect(config)

        writer.write(payload)
        writer.write_eof()
        header = await reader.readline()
        echoed = await reader.read()

        assert header.decode().split() == [str(len(payload)), hashlib.sha256(payload).hexdigest()]
        assert echoed == payload
        writer.close()
        await lab.idle(config)
        health = lab.status(config).backends[Backend("127.0.0.11", port)]
        assert (health.bytes_in, health.bytes_out) == (len(payload), len(header) + len(payload))
        server.close()

    in_lab(scenario, use_uvloop=use_uvloop)


def test_backend_eof_is_a_half_close(use_uvloop: bool) -> None:
    """The backend says goodbye and shuts its write side, but still reads what the client sends afterwards."""
    received: list[bytes] = []

    async def early_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"bye\n")
        writer.write_eof()
        received.append(await reader.read())
        writer.close()

    async def scenario(lab: Lab) -> None:
        server, port = await _start(early_eof, "127.0.0.11")
        config = lab.listener([Backend("127.0.0.11", port)])
        await lab.serve(config)
        reader, writer = await connect(config)

        assert await reader.read() == b"bye\n"  # the EOF came through
        writer.write(b"still talking")
        writer.write_eof()
        await wait_until(lambda: bool(received), "the backend to get the client's bytes")

        assert received == [b"still talking"]
        writer.close()
        await lab.idle(config)
        server.close()

    in_lab(scenario, use_uvloop=use_uvloop)


def test_backend_reset_reaches_the_client(use_uvloop: bool) -> None:
    async def scenario(lab: Lab) -> None:
        backend = await lab.echo("b1", "127.0.0.11")
        config = lab.listener([backend])
        await lab.serve(config)
        held = await Held.open(config)
        assert await held.echo(b"x") == b"x"

        await backend.stop(kill_connections=True)

        with pytest.raises(ConnectionResetError):  # a reset, not a clean EOF: the client must know
            async with asyncio.timeout(5):
                await held.reader.read(1)
        await lab.idle(config)

    in_lab(scenario, use_uvloop=use_uvloop)


class _Sink(asyncio.Protocol):
    """A backend that reads nothing until told to, then counts and hashes everything."""

    instances: list[_Sink] = []

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.hash = hashlib.sha256()
        self.count = 0
        self.eof = False
        self.released = False
        _Sink.instances.append(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self.transport.pause_reading()

    def data_received(self, data: bytes) -> None:
        if not self.released:  # uvloop ignores the pause in connection_made; it takes effect from here
            assert self.transport is not None
            self.transport.pause_reading()
        self.count += len(data)
        self.hash.update(data)

    def release(self) -> None:
        self.released = True
        assert self.transport is not None
        self.transport.resume_reading()

    def eof_received(self) -> bool:
        self.eof = True
        return False


def test_a_slow_backend_pauses_the_client_instead_of_buffering(use_uvloop: bool) -> None:
    total = 48 * 1024 * 1024
    chunk = os.urandom(1024 * 1024)

    async def scenario(lab: Lab) -> None:
        _Sink.instances.clear()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Sink, "127.0.0.11", 0)
        backend = Backend("127.0.0.11", server.sockets[0].getsockname()[1])
        config = lab.listener([backend])
        await lab.serve(config)
        _, writer = await connect(config)

        async def send_all() -> None:
            for _ in range(total // len(chunk)):
                writer.write(chunk)
                await writer.drain()
            writer.write_eof()

        sender = asyncio.create_task(send_all())
        relayed: list[int] = []

        def stalled() -> bool:
            relayed.append(lab.status(config).backends[backend].bytes_in)
            return len(relayed) > 20 and relayed[-1] == relayed[-20]

        await wait_until(stalled, "the relay to stop reading from the client", timeout=15)
        # Held back: what crossed the relay is what fits in kernel buffers plus one write buffer, not the payload.
        assert relayed[-1] < total // 2
        conn = next(iter(lab.dp._listeners[config.key].conns))
        assert conn.upstream.get_write_buffer_size() <= WRITE_HIGH_WATER + 256 * 1024  # type: ignore[attr-defined]

        sink = _Sink.instances[0]
        sink.release()
        await asyncio.wait_for(sender, 15)
        await wait_until(lambda: sink.eof, "every byte to reach the backend", timeout=15)

        assert sink.count == total
        assert sink.hash.digest() == hashlib.sha256(chunk * (total // len(chunk))).digest()
        writer.close()
        server.close()

    in_lab(scenario, use_uvloop=use_uvloop)


def test_both_sides_of_the_relay_set_tcp_nodelay(use_uvloop: bool) -> None:
    async def scenario(lab: Lab) -> None:
        backend = await lab.echo("b1", "127.0.0.11")
        config = lab.listener([backend])
        await lab.serve(config)
        held = await Held.open(config)

        conn: Any = next(iter(lab.dp._listeners[config.key].conns))
        for transport in (conn.transport, conn.upstream):
            sock = transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        held.close()

    in_lab(scenario, use_uvloop=use_uvloop)


def test_a_backend_connect_that_hangs_times_out_and_releases_the_client() -> None:
    async def scenario(lab: Lab) -> None:
        # listen(0) with one queued connection: further connects hang in SYN retries.
        blocker = socket.socket()
        blocker.bind(("127.0.0.15", 0))
        blocker.listen(0)
        filler = socket.create_connection(blocker.getsockname())
        hanging = Backend("127.0.0.15", blocker.getsockname()[1])
        config = lab.listener([hanging], connect_timeout=0.5, connect_attempts=1)
        await lab.serve(config)
        try:
            assert await request(config) is None  # closed, not left hanging

            await lab.idle(config)
            status = lab.status(config)
            assert status.backends[hanging].active_connections == 0
            assert status.backends[hanging].last_error == "connect: connect timed out"
            assert status.refused["no_backend"] == 1
        finally:
            filler.close()
            blocker.close()

    in_lab(scenario)
