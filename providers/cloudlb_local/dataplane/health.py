"""Active health checks: one small probe loop per backend of a listener.

Where this sits: a listener owns one ``HealthChecker`` next to its ``Pool``. Probe results go to
``Pool.record_check``, which applies the thresholds. The probes are off the hot path, so they use asyncio streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from cloudlb.model import HealthCheckProtocol

from .config import Backend, HealthCheckConfig, format_hostport
from .pool import BackendState, Pool

__all__ = ["HealthChecker", "probe"]

_MAX_STATUS_LINE = 1024
_tls_context: ssl.SSLContext | None = None


def _insecure_tls() -> ssl.SSLContext:
    # Like cloud load balancers, an HTTPS check proves the backend answers; it does not verify its certificate.
    global _tls_context
    if _tls_context is None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        _tls_context = ctx
    return _tls_context


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


async def _http_status(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str) -> int:
    writer.write(
        f"GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: cloudlb-health-check\r\nConnection: close\r\n\r\n".encode()
    )
    line = await reader.readuntil(b"\n")
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP response: {line[:60]!r}")
    return int(parts[1])


async def probe(backend: Backend, check: HealthCheckConfig) -> str | None:
    """Run one check. Returns None when the backend passed, else a short reason."""
    port = check.port or backend.port
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(check.timeout):
            tls = _insecure_tls() if check.protocol is HealthCheckProtocol.HTTPS else None
            reader, writer = await asyncio.open_connection(backend.ip, port, ssl=tls, limit=_MAX_STATUS_LINE)
            if check.protocol is HealthCheckProtocol.TCP:
                return None
            status = await _http_status(reader, writer, format_hostport(backend.ip, port), check.path)
            return None if 200 <= status < 400 else f"HTTP {status}"
    except TimeoutError:
        return f"timed out after {check.timeout:g}s"
    except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        return _describe(exc)
    finally:
        if writer is not None:
            writer.close()


class HealthChecker:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self.config: HealthCheckConfig | None = None
        self._tasks: dict[BackendState, asyncio.Task[None]] = {}

    def configure(self, check: HealthCheckConfig | None) -> None:
        """Use ``check`` from now on (None turns checks off) and probe exactly the pool's current members."""
        if check != self.config:
            self._stop_all()
            self.config = check
            self._pool.active_checks = check is not None
            if check is None:
                self._pool.reset_health()
        self.sync()

    def sync(self) -> None:
        members = set(self._pool.members.values())
        for state in [s for s in self._tasks if s not in members]:
            self._tasks.pop(state).cancel()
        if self.config is None:
            return
        for state in members - self._tasks.keys():
            state.successes = state.failures = 0
            self._tasks[state] = asyncio.get_running_loop().create_task(self._run(state, self.config))

    async def _run(self, state: BackendState, check: HealthCheckConfig) -> None:
        while True:
            error = await probe(state.backend, check)
            self._pool.record_check(state, error is None, error, check)
            await asyncio.sleep(check.interval)

    def _stop_all(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        self._stop_all()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
