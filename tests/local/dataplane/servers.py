"""Tiny backends for the data plane tests, all on 127.0.0.x.

- ``EchoBackend``: says its name on connect (one line), then echoes until the client's EOF.
- ``HttpBackend``: HTTP/1.0; ``/healthz`` answers ``health_script`` then ``health_status``; else 200 and the name.
- ``ProxyBackend``: parses a PROXY v1 or v2 header (with its own parser), replies with it as JSON, then echoes.
- ``UdpBackend``: answers each datagram with ``name:payload``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
import struct
from typing import Any, cast

from cloudlb_local.dataplane import Backend

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


class _TcpBackend:
    def __init__(self, name: str, ip: str, port: int = 0) -> None:
        self.name = name
        self.ip = ip
        self.port = port
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.accepted = 0

    @property
    def backend(self) -> Backend:
        return Backend(self.ip, self.port)

    async def start(self) -> _TcpBackend:
        self.server = await asyncio.start_server(self._handle, self.ip, self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self, *, kill_connections: bool = False) -> None:
        """Stop listening (new connects are refused); optionally reset the live connections too."""
        if self.server is not None:
            self.server.close()
            self.server = None
        if kill_connections:  # with SO_LINGER 0 the close is a reset (RST), not an orderly FIN
            for writer in list(self.writers):
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.writers.add(writer)
        try:
            await self.serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    @staticmethod
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


class EchoBackend(_TcpBackend):
    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"{self.name}\n".encode())
        await writer.drain()
        await self.echo(reader, writer)


class HttpBackend(_TcpBackend):
    health_status = 200

    def __init__(self, name: str, ip: str, port: int = 0) -> None:
        super().__init__(name, ip, port)
        self.health_script: list[int] = []  # answers for the next /healthz requests, before ``health_status``
        self.health_checks = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        path = request.split(b" ", 2)[1].decode()
        if path == "/healthz":
            self.health_checks += 1
            status = self.health_script.pop(0) if self.health_script else self.health_status
            body = b"health\n"
        else:
            status, body = 200, self.name.encode()
        writer.write(f"HTTP/1.0 {status} X\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()


def parse_proxy_header(head: bytes) -> dict[str, Any]:
    """Parse one PROXY header (v1 or v2, TCP over IPv4 or IPv6). Independent of the code under test."""
    if head.startswith(b"PROXY "):
        assert head.endswith(b"\r\n"), head
        parts = head[:-2].decode("ascii").split(" ")
        assert len(parts) == 6, parts
        _, family, src, dst, sport, dport = parts
        return {"version": 1, "family": family, "src": [src, int(sport)], "dst": [dst, int(dport)]}
    assert head[:12] == V2_SIGNATURE, head[:12]
    ver_cmd, fam, length = struct.unpack("!BBH", head[12:16])
    assert ver_cmd == 0x21, hex(ver_cmd)
    body = head[16 : 16 + length]
    size = {0x11: 4, 0x21: 16}[fam]
    src_ip = ipaddress.ip_address(body[:size])
    dst_ip = ipaddress.ip_address(body[size : 2 * size])
    sport, dport = struct.unpack("!HH", body[2 * size : 2 * size + 4])
    family = "TCP4" if fam == 0x11 else "TCP6"
    return {"version": 2, "family": family, "src": [str(src_ip), sport], "dst": [str(dst_ip), dport], "length": length}


class ProxyBackend(_TcpBackend):
    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.readexactly(5)
        if first == b"PROXY":
            head = first + await reader.readuntil(b"\r\n")
        else:
            rest = await reader.readexactly(11)
            length = struct.unpack("!H", rest[9:11])[0]
            head = first + rest + await reader.readexactly(length)
        writer.write(json.dumps(parse_proxy_header(head)).encode() + b"\n")
        await writer.drain()
        await self.echo(reader, writer)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: UdpBackend) -> None:
        self.owner = owner
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.owner.received += 1
        assert self.transport is not None
        self.transport.sendto(self.owner.name.encode() + b":" + data, addr)


class UdpBackend:
    def __init__(self, name: str, ip: str) -> None:
        self.name = name
        self.ip = ip
        self.port = 0
        self.received = 0
        self.transport: asyncio.DatagramTransport | None = None

    @property
    def backend(self) -> Backend:
        return Backend(self.ip, self.port)

    async def start(self) -> UdpBackend:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self), local_addr=(self.ip, self.port))
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        return self

    async def stop(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None


async def close_all(backends: list[Any]) -> None:
    for backend in backends:
        with contextlib.suppress(Exception):
            await backend.stop(kill_connections=True) if isinstance(backend, _TcpBackend) else await backend.stop()
