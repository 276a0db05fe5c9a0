"""Small stand-ins for the fault proxy and mock-server tests: an HTTP upstream that reports what it received, a
mock server built on it, and a provider that talks HTTP to it."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.memory import MemoryProvider

CHUNKS = (b"first chunk\n", b"x" * 5000, b"\x00\x01\xff last")


class _UpstreamHandler(BaseHTTPRequestHandler):
    """Routes: /echo (JSON of the request as received, raw body framing included), /chunked (a chunked answer),
    /until-close (no length: ends when the connection does), /status/N, /headers (repeated headers), anything else
    answers 200 with ``ok``. Answers carry no Server or Date header, so two answers can be compared whole."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stalls
    server: Upstream

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _handle(self) -> None:
        raw = self._read_raw_body()
        self.server.seen.append((self.command, self.path, list(self.headers.items()), raw))
        if self.path.startswith("/echo"):
            body = json.dumps(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": [list(pair) for pair in self.headers.items()],
                    "raw_body": raw.decode("latin-1"),
                }
            ).encode()
            self._reply(200, [("Content-Type", "application/json")], body)
        elif self.path == "/chunked":
            self.send_response_only(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in CHUNKS:
                self.wfile.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/until-close":
            self.send_response_only(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"".join(CHUNKS))
            self.close_connection = True
        elif self.path.startswith("/status/"):
            self._reply(int(self.path.rsplit("/", 1)[1]), [("Content-Type", "text/plain")], b"as asked\n")
        elif self.path == "/headers":
            headers = [("Set-Cookie", "a=1"), ("X-Custom", "MiXeD Case"), ("Set-Cookie", "b=2"), ("ETag", '"v1"')]
            self._reply(200, headers, b"")
        else:
            self._reply(200, [("Content-Type", "text/plain")], b"ok")

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _handle

    def _read_raw_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or ""):
            raw = bytearray()
            while True:
                line = self.rfile.readline()
                raw += line
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    raw += self.rfile.readline()
                    return bytes(raw)
                raw += self.rfile.read(size + 2)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)


class Upstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _UpstreamHandler)
        self.seen: list[tuple[str, str, list[tuple[str, str]], bytes]] = []
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> Upstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self._thread.join()
        self.server_close()


class FakeMockServer:
    """A mock server as the ``cloudlb.mock_servers`` entry points build them, over an ``Upstream``."""

    url_option = "endpoint_url"
    instances: list[FakeMockServer] = []  # the tests' record of what was built

    def __init__(
        self,
        *,
        port: int | None = None,
        seed: Sequence[Path] = (),
        cluster: str = "default",
        work_dir: Path | None = None,
        color: str = "none",
    ) -> None:
        self.port, self.seed, self.cluster, self.work_dir, self.color = port, tuple(seed), cluster, work_dir, color
        self.upstream: Upstream | None = None
        self.stopped = False
        FakeMockServer.instances.append(self)

    def start(self) -> dict[str, Any]:
        self.upstream = Upstream().start()
        if self.work_dir is not None:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            (self.work_dir / "seeds.json").write_text(json.dumps([str(p) for p in self.seed]))
        return {"provider": "fakecloud", "cluster": self.cluster, "options": {"endpoint_url": self.upstream.url}}

    def stop(self) -> None:
        if self.upstream is not None:
            self.upstream.stop()
            self.upstream = None
        self.stopped = True
        if self.work_dir is not None:
            (self.work_dir / "stopped").write_text(self.color)


class HttpMemoryProvider(MemoryProvider):
    """A whole provider (the memory one) that also reaches its cloud over HTTP, so a fault proxy can sit between."""

    def __init__(self, *, endpoint_url: str) -> None:
        super().__init__(name="fakecloud")
        self.endpoint_url = endpoint_url

    def ping(self) -> int:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/ping", timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)


NOT_A_FACTORY = "a mock server entry point must name a factory"


def hollow(**_options: object) -> object:
    """A factory whose product can neither start nor stop."""
    return object()


class NoUrlMockServer(FakeMockServer):
    """A working mock server that does not say which option holds its URL."""

    url_option = ""
