"""Active health checks (TCP, HTTP) with thresholds, passive ejection on connect failure, and failing open."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import Counter

import pytest

from cloudlb.model import HealthCheckProtocol
from cloudlb_local.dataplane import Backend, HealthCheckConfig
from cloudlb_local.dataplane.health import probe

from .support import Lab, dead_backend, http_get, in_lab, requests, wait_until

pytestmark = pytest.mark.timeout(60)

FAST_TCP = HealthCheckConfig(interval=0.05, timeout=0.5, healthy_threshold=2, unhealthy_threshold=2)
FAST_HTTP = HealthCheckConfig(
    protocol=HealthCheckProtocol.HTTP, path="/healthz", interval=0.05, timeout=0.5, healthy_threshold=2
)


def test_tcp_check_ejects_a_stopped_backend_and_restores_it() -> None:
    async def scenario(lab: Lab) -> None:
        b1, b2 = await lab.echoes(2)
        config = lab.listener([b1, b2], health_check=FAST_TCP)
        await lab.serve(config)
        assert sorted(await requests(config, 2)) == ["b1", "b2"]  # type: ignore[type-var]

        await b2.stop()
        await wait_until(lambda: not lab.health(config, b2).healthy, "b2 to be ejected")
        assert lab.status(config).backends[b2.backend].last_error == "connection refused"
        assert await requests(config, 6) == ["b1"] * 6
        assert lab.status(config).backends[b2.backend].connect_errors == 0  # the check caught it, not a client

        await b2.start()  # same port again
        await wait_until(lambda: lab.health(config, b2).healthy, "b2 to be restored")
        assert Counter(await requests(config, 4)) == {"b1": 2, "b2": 2}

    in_lab(scenario)


def test_http_check_ejects_on_5xx_and_restores_on_2xx() -> None:
    async def scenario(lab: Lab) -> None:
        h1 = await lab.http("h1", "127.0.0.11")
        h2 = await lab.http("h2", "127.0.0.12")
        config = lab.listener([h1, h2], health_check=FAST_HTTP)
        await lab.serve(config)

        h2.health_status = 503
        await wait_until(lambda: not lab.health(config, h2).healthy, "h2 to be ejected")
        assert lab.status(config).backends[h2.backend].last_error == "HTTP 503"
        bodies = [(await http_get(config))[1] for _ in range(4)]
        assert bodies == [b"h1"] * 4

        h2.health_status = 302  # a redirect counts as alive, as for cloud load balancers
        await wait_until(lambda: lab.health(config, h2).healthy, "h2 to be restored")
        bodies = [(await http_get(config))[1] for _ in range(4)]
        assert Counter(bodies) == {b"h1": 2, b"h2": 2}

    in_lab(scenario)


def test_thresholds_count_consecutive_results(caplog: pytest.LogCaptureFixture) -> None:
    """Failures between successes never eject when the unhealthy threshold is 3; three in a row do."""

    async def scenario(lab: Lab) -> None:
        h1 = await lab.http("h1", "127.0.0.11")
        h1.health_script = [500, 500, 200, 500, 200, 500, 500, 200]
        check = HealthCheckConfig(
            protocol=HealthCheckProtocol.HTTP, path="/healthz", interval=0.01, timeout=0.5, unhealthy_threshold=3
        )
        config = lab.listener([h1], health_check=check)
        await lab.serve(config)

        await wait_until(lambda: h1.health_checks > 9, "the flapping script to be played and checked past")
        assert lab.health(config, h1).healthy
        assert not [r for r in caplog.records if "unhealthy" in r.getMessage()]

        h1.health_status = 500
        await wait_until(lambda: not lab.health(config, h1).healthy, "three failures in a row to eject")
        assert [r for r in caplog.records if "unhealthy" in r.getMessage()]  # the log check above can see it

    in_lab(scenario)


def test_a_new_backend_serves_before_its_first_check() -> None:
    async def scenario(lab: Lab) -> None:
        b1, b2 = await lab.echoes(2)
        slow = HealthCheckConfig(interval=3600, timeout=1, healthy_threshold=5)
        config = lab.listener([b1], health_check=slow)
        await lab.serve(config)
        await lab.serve(lab.listener([b1, b2], health_check=slow, address=config.address, port=config.port))

        assert Counter(await requests(config, 4)) == {"b1": 2, "b2": 2}

    in_lab(scenario)


def test_turning_checks_off_restores_every_backend() -> None:
    async def scenario(lab: Lab) -> None:
        h1 = await lab.http("h1", "127.0.0.11")
        h1.health_status = 500
        config = lab.listener([h1], health_check=FAST_HTTP)
        await lab.serve(config)
        await wait_until(lambda: not lab.health(config, h1).healthy, "h1 to be ejected")

        await lab.serve(lab.listener([h1], address=config.address, port=config.port))

        assert lab.health(config, h1).healthy

    in_lab(scenario)


def test_passive_ejection_hides_a_dead_backend_from_clients() -> None:
    async def scenario(lab: Lab) -> None:
        b1 = await lab.echo("b1", "127.0.0.11")
        dead = dead_backend("127.0.0.12")
        config = lab.listener([b1, dead], ejection_time=0.3)
        await lab.serve(config)

        assert await requests(config, 6) == ["b1"] * 6  # the one that hit the dead backend was retried on b1
        health = lab.status(config).backends[dead]
        assert (health.healthy, health.connect_errors, health.total_connections) == (False, 1, 0)
        assert health.last_error == "connect: connection refused"

        # Without active checks the ejection expires; the backend is tried again and ejected again.
        await wait_until(lambda: lab.health(config, dead).healthy, "the ejection to expire")
        assert await requests(config, 4) == ["b1"] * 4
        assert lab.status(config).backends[dead].connect_errors == 2

    in_lab(scenario)


def test_passive_ejection_on_connect_timeout() -> None:
    async def scenario(lab: Lab) -> None:
        b1 = await lab.echo("b1", "127.0.0.11")
        blocker = socket.socket()
        blocker.bind(("127.0.0.15", 0))
        blocker.listen(0)
        filler = socket.create_connection(blocker.getsockname())  # fills the backlog: the next connects hang
        hanging = Backend("127.0.0.15", blocker.getsockname()[1])
        config = lab.listener([b1, hanging], connect_timeout=0.3)
        try:
            await lab.serve(config)
            assert await requests(config, 4) == ["b1"] * 4
            assert lab.status(config).backends[hanging].last_error == "connect: connect timed out"
        finally:
            filler.close()
            blocker.close()

    in_lab(scenario)


def test_fail_open_when_every_backend_is_unhealthy() -> None:
    async def scenario(lab: Lab) -> None:
        h1 = await lab.http("h1", "127.0.0.11")
        h2 = await lab.http("h2", "127.0.0.12")
        h1.health_status = h2.health_status = 503
        config = lab.listener([h1, h2], health_check=FAST_HTTP)
        await lab.serve(config)
        await wait_until(
            lambda: not lab.health(config, h1).healthy and not lab.health(config, h2).healthy, "both to be ejected"
        )

        bodies = [(await http_get(config))[1] for _ in range(4)]

        assert Counter(bodies) == {b"h1": 2, b"h2": 2}

    in_lab(scenario)


async def _answer(status_line: bytes | None) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if status_line is None:
            await reader.read()  # never answers; returns when the probe gives up and closes
        else:
            writer.write(status_line + b"\r\n\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.13", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(
    ("status_line", "want"),
    [
        pytest.param(b"HTTP/1.0 200 OK", None, id="200"),
        pytest.param(b"HTTP/1.1 204 No Content", None, id="204"),
        pytest.param(b"HTTP/1.1 301 Moved", None, id="301"),
        pytest.param(b"HTTP/1.1 404 Not Found", "HTTP 404", id="404"),
        pytest.param(b"HTTP/1.1 503 Unavailable", "HTTP 503", id="503"),
        pytest.param(b"SSH-2.0-OpenSSH", "not an HTTP response: b'SSH-2.0-OpenSSH\\r\\n'", id="not-http"),
        pytest.param(None, "timed out after 0.3s", id="timeout"),
    ],
)
def test_http_probe(status_line: bytes | None, want: str | None) -> None:
    async def scenario(lab: Lab) -> None:
        server, port = await _answer(status_line)
        check = HealthCheckConfig(protocol=HealthCheckProtocol.HTTP, path="/ready", timeout=0.3, port=port)
        # The check port overrides the backend's own port (here, one where nothing listens).
        assert await probe(dead_backend("127.0.0.13"), check) == want
        server.close()

    in_lab(scenario)


def test_tcp_probe() -> None:
    async def scenario(lab: Lab) -> None:
        b1 = await lab.echo("b1", "127.0.0.11")
        assert await probe(b1.backend, HealthCheckConfig()) is None
        assert await probe(dead_backend("127.0.0.12"), HealthCheckConfig()) == "connection refused"

    in_lab(scenario)


@pytest.mark.parametrize(
    ("status_line", "want"),
    [
        pytest.param(b"HTTP/1.1 200 OK", None, id="200"),
        pytest.param(b"HTTP/1.1 503 Unavailable", "HTTP 503", id="503"),
    ],
)
def test_https_probe_does_not_verify_the_certificate(status_line: bytes, want: str | None) -> None:
    trustme = pytest.importorskip("trustme")  # the project's `mock` extra

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(status_line + b"\r\n\r\n")
        await writer.drain()
        writer.close()

    async def scenario(lab: Lab) -> None:
        ca = trustme.CA()  # a CA the probe has never heard of, for a name that is not the backend's address
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("backend.invalid").configure_cert(context)
        server = await asyncio.start_server(handle, "127.0.0.13", 0, ssl=context)
        check = HealthCheckConfig(protocol=HealthCheckProtocol.HTTPS, timeout=2)
        assert await probe(Backend("127.0.0.13", server.sockets[0].getsockname()[1]), check) == want
        server.close()

    in_lab(scenario)
