"""The local cloud daemon: ``cloudlb serve --state-dir DIR`` (``commands.py``) runs ``serve()`` from here.

Where this sits: this module wires the parts together and owns the process. It locks ``DIR`` so only one daemon
serves it, keeps the API token in ``DIR/token``, opens the SQLite store, restores every load balancer on the data
plane, serves the API (``api.py``) on loopback and announces it in ``DIR/api.json`` for clients. On SIGTERM or
SIGINT it stops taking API calls, lets established connections drain, removes ``api.json`` and returns 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import ipaddress
import json
import logging
import os
import secrets
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry

from cloudlb.errors import CloudLBError, ConfigError
from cloudlb_local import logs
from cloudlb_local.addresses import AddressPool
from cloudlb_local.api import create_app
from cloudlb_local.cloud import LocalCloud
from cloudlb_local.dataplane import Dataplane
from cloudlb_local.dataplane.eventloop import run
from cloudlb_local.state import Store

__all__ = ["DEFAULT_ADDRESS_POOL", "DaemonError", "DaemonOptions", "parse_api_address", "serve"]

log = logging.getLogger(__name__)

DEFAULT_ADDRESS_POOL = "127.0.100.0/24"
API_FILE = "api.json"
TOKEN_FILE = "token"
LOCK_FILE = "daemon.lock"
STATE_FILE = "state.db"


class DaemonError(CloudLBError):
    """The daemon cannot start (another one holds the state directory, the API port is taken, ...)."""


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    state_dir: Path
    address_pool: str = DEFAULT_ADDRESS_POOL
    api_host: str = "127.0.0.1"
    api_port: int = 0  # 0: a free port, announced in api.json
    drain_timeout: float = 5.0
    use_uvloop: bool = True


def parse_api_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) on a loopback address; the API must never face the network."""
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"--api-address {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    if host == "localhost":
        host = "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(f"--api-address {text!r}: the API serves only on a loopback address (127.0.0.1, ::1)")
    return host, int(port_text)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` so that ``path`` is never seen half-written nor readable by others: 0600 file, then rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def load_token(state_dir: Path) -> str:
    """The token from ``DIR/token``, made on first start, so clients keep working across restarts."""
    path = state_dir / TOKEN_FILE
    with contextlib.suppress(FileNotFoundError):
        token = path.read_text().strip()
        if token:
            return token
    token = secrets.token_urlsafe(32)
    write_private(path, token + "\n")
    return token


@contextlib.contextmanager
def locked(state_dir: Path) -> Iterator[None]:
    """Hold ``DIR/daemon.lock`` for the daemon's life. The kernel releases it if the process dies, so no stale
    lock survives a crash."""
    path = state_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise DaemonError(f"another cloudlb daemon (pid {holder}) is already serving {state_dir}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def _prepare_state_dir(state_dir: Path) -> None:
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the state directory {state_dir}: {exc.strerror or exc}") from None
    if not state_dir.is_dir():
        raise ConfigError(f"{state_dir} is not a directory")


def serve(
    *,
    state_dir: Path,
    address_pool: str = DEFAULT_ADDRESS_POOL,
    api_address: str | None = None,
    log_format: str = "text",
    debug: bool = False,
    drain_timeout: float = 5.0,
    use_uvloop: bool = True,
) -> int:
    """Run the daemon until SIGTERM or SIGINT. Raises ``CloudLBError`` (one line) when it cannot start."""
    logs.configure(log_format, debug=debug)
    host, port = parse_api_address(api_address) if api_address else ("127.0.0.1", 0)
    try:
        AddressPool(address_pool)
    except ValueError as exc:
        raise ConfigError(f"--address-pool: {exc}") from None
    state_dir = state_dir.expanduser().absolute()
    _prepare_state_dir(state_dir)
    options = DaemonOptions(
        state_dir=state_dir,
        address_pool=address_pool,
        api_host=host,
        api_port=port,
        drain_timeout=drain_timeout,
        use_uvloop=use_uvloop,
    )
    with locked(state_dir):
        run(_run(options, load_token(state_dir)), use_uvloop=options.use_uvloop)
    return 0


async def _run(options: DaemonOptions, token: str) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # Installed first: a SIGTERM during the restore still ends in an orderly shutdown.
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    state_dir = options.state_dir
    store = Store(state_dir / STATE_FILE)
    registry = CollectorRegistry()
    dataplane = Dataplane(metrics_registry=registry)
    api_file = state_dir / API_FILE
    runner: web.AppRunner | None = None
    try:
        cloud = LocalCloud(store=store, pool=AddressPool(options.address_pool), dataplane=dataplane)
        runner = web.AppRunner(create_app(cloud=cloud, token=token, registry=registry), handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, options.api_host, options.api_port, reuse_address=True)
        try:
            # Bound before the restore, so a taken API port fails the start before any listener is bound.
            await site.start()
        except OSError as exc:
            where = f"{options.api_host}:{options.api_port}"
            raise DaemonError(f"cannot serve the API on {where}: {exc.strerror or exc}") from None
        await cloud.restore()
        bound_host, bound_port = runner.addresses[0][:2]
        url = f"http://[{bound_host}]:{bound_port}" if ":" in bound_host else f"http://{bound_host}:{bound_port}"
        announcement = {"url": url, "token": token, "pid": os.getpid(), "address_pool": str(cloud.pool)}
        write_private(api_file, json.dumps(announcement, indent=2) + "\n")
        log.info(
            "serving the local cloud API on %s",
            url,
            extra={"state_dir": str(state_dir), "address_pool": str(cloud.pool), "load_balancers": len(cloud)},
        )
        await stop.wait()
        log.info("stopping: no new API calls; draining connections for up to %ss", options.drain_timeout)
    finally:
        if runner is not None:
            await runner.cleanup()  # stops accepting, lets in-flight calls finish
        _remove_announcement(api_file)
        await dataplane.close(drain_timeout=options.drain_timeout)
        store.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("stopped")


def _remove_announcement(api_file: Path) -> None:
    """Remove ``api.json`` only if this process wrote it: clients must not find a URL that no longer answers."""
    with contextlib.suppress(FileNotFoundError, ValueError, AttributeError):
        if json.loads(api_file.read_text()).get("pid") == os.getpid():
            api_file.unlink()


def main() -> None:
    """``python -m cloudlb_local.daemon``: the ``serve`` command without the ``cloudlb`` group around it."""
    from cloudlb_local.commands import main as command_main

    command_main()


if __name__ == "__main__":
    main()
