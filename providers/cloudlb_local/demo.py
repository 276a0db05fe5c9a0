"""``cloudlb demo``: a LoadBalancer Service on this machine in about ten seconds, with nothing but the install.

Where this sits: a tour of the whole pipeline through the public API. It starts a local cloud (``cloudlb serve`` in
a subprocess, in a temporary state dir and a private address pool), three small HTTP backends posing as nodes on
127.0.0.11-13, then builds a Service like ``examples/web.yaml`` with ``spec_from_manifests`` and applies it with
``LocalProvider.plan``/``ensure``, exactly as ``cloudlb apply`` would. It then sends traffic through the balancer,
stops one backend and times how long the health checks take to move traffic off it. Everything it started is
stopped and removed on the way out, on success, error or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import random
import shutil
import signal
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

import click
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from cloudlb.errors import CloudLBError
from cloudlb.kube import spec_from_manifests
from cloudlb.model import LoadBalancerSpec, LoadBalancerStatus
from cloudlb_local.provider import LocalProvider
from cloudlb_local.testing import DaemonStartError, running_daemon

__all__ = ["demo"]

BACKEND_IPS = ("127.0.0.11", "127.0.0.12", "127.0.0.13")
LB_PORT = 8080
HEALTH_INTERVAL = 1.0  # seconds; short so that the failover is visible while you watch
FAILOVER_LIMIT = 10.0  # seconds before the demo gives up waiting for the health checks


# --- backends ----------------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Backend

    def do_GET(self) -> None:
        body = f"{self.server.name}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the demo prints its own summary, not one line per request


class _Backend(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str, ip: str, port: int) -> None:
        self.name = name
        super().__init__((ip, port), _Handler)
        self._thread = threading.Thread(target=self.serve_forever, name=f"demo-{name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()  # the port then refuses connections, like a node that went away
        self._thread.join(timeout=5)


def _start_backends(stack: contextlib.ExitStack) -> tuple[list[_Backend], int]:
    """Three backends on one port (a "nodePort") that is free on all three addresses."""
    for _ in range(50):
        port = random.randint(30000, 32767)
        backends: list[_Backend] = []
        try:
            for i, ip in enumerate(BACKEND_IPS, start=1):
                backends.append(_Backend(f"backend-{i}", ip, port))
        except OSError as exc:
            for backend in backends:
                backend.stop()
            if exc.errno == errno.EADDRNOTAVAIL:
                # Linux routes all of 127.0.0.0/8 to loopback; macOS has only 127.0.0.1 until aliases are added.
                raise click.ClickException(
                    f"cannot use {BACKEND_IPS[len(backends)]} on this machine: add the loopback addresses first, "
                    "e.g. `sudo ifconfig lo0 alias 127.0.0.11 up` (and .12, .13)"
                ) from exc
            continue
        for backend in backends:
            stack.callback(backend.stop)
        return backends, port
    raise click.ClickException("no port between 30000 and 32767 is free on 127.0.0.11-13")


# --- the Service -------------------------------------------------------------------------------------------------


def demo_manifests(node_port: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The Service and its Nodes: ``examples/web.yaml``'s ``web`` Service, one port, and short health checks."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "web",
            "namespace": "demo",
            "uid": "d3e0c0de-0000-4000-8000-000000000001",
            "annotations": {
                "cloudlb.io/algorithm": "round-robin",
                "cloudlb.io/health-check-interval": f"{HEALTH_INTERVAL:g}s",
                "cloudlb.io/health-check-timeout": "0.5s",
                "cloudlb.io/health-check-healthy-threshold": "1",
                "cloudlb.io/health-check-unhealthy-threshold": "1",
            },
        },
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "web"},
            "ports": [{"name": "http", "protocol": "TCP", "port": LB_PORT, "targetPort": 80, "nodePort": node_port}],
        },
    }
    nodes = [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": f"node-{letter}"},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
        }
        for letter, ip in zip("abc", BACKEND_IPS, strict=True)
    ]
    return service, nodes


# --- traffic -----------------------------------------------------------------------------------------------------


def fetch(ip: str, port: int, timeout: float = 2.0) -> str | None:
    """One request on a new connection, so that the balancer picks a backend for each; None when it failed."""
    conn = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"Connection": "close"})
        response = conn.getresponse()
        body = response.read().decode().strip()
        return body if response.status == 200 else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def spread(ip: str, port: int, requests: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    for _ in range(requests):
        counts[fetch(ip, port) or "failed"] += 1
    return counts


def target_healthy(metrics_url: str, target: str) -> bool | None:
    """The data plane's own word on a target (``cloudlb_target_healthy`` on ``/metrics``); None if not listed."""
    try:
        with urllib.request.urlopen(metrics_url, timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("cloudlb_target_healthy{") and f'target="{target}"' in line:
            return float(line.rsplit(" ", 1)[1]) > 0
    return None


def time_to_down(metrics_url: str, target: str) -> float | None:
    """Seconds until the health checks take ``target`` out of the pool; None if they did not within the limit."""
    start = time.monotonic()
    while time.monotonic() - start < FAILOVER_LIMIT:
        if target_healthy(metrics_url, target) is False:
            return time.monotonic() - start
        time.sleep(0.02)
    return None


# --- output ------------------------------------------------------------------------------------------------------


def spread_table(title: str, counts: Counter[str], names: list[str]) -> Table:
    total = sum(counts.values()) or 1
    table = Table(title=title, title_justify="left", min_width=len(title))
    table.add_column("backend")
    table.add_column("address")
    table.add_column("requests", justify="right")
    table.add_column("share")
    for name, ip in zip(names, BACKEND_IPS, strict=True):
        share = counts.get(name, 0) / total
        table.add_row(name, ip, str(counts.get(name, 0)), "[cyan]" + "\u2588" * round(share * 30) + f"[/] {share:.0%}")
    if counts.get("failed"):
        table.add_row("failed", "-", str(counts["failed"]), "")
    return table


def status_table(spec: LoadBalancerSpec, status: LoadBalancerStatus) -> Table:
    table = Table(title=f"Service {spec.namespace}/{spec.name}: status.loadBalancer", title_justify="left")
    table.add_column("load balancer")
    table.add_column("ingress IP")
    table.add_column("port")
    table.add_column("state")
    ingress = status.ingress[0] if status.ingress else None
    for port in ingress.ports if ingress else ():
        state = f"[red]{port.error}[/]" if port.error else "[green]serving[/]"
        table.add_row(
            f"{status.cloud_name} ({status.cloud_id})",
            ingress.ip if ingress else "-",
            f"{port.port}/{port.protocol}",
            state,
        )
    return table


# --- the command -------------------------------------------------------------------------------------------------


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C does


@contextlib.contextmanager
def _temporary_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="cloudlb-demo-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _private_pool() -> str:
    # Its own small pool, so the demo never takes an address from a `cloudlb serve` already running here.
    return f"127.{random.randint(101, 250)}.{random.randint(0, 255)}.0/28"


@click.command("demo")
@click.option(
    "--requests",
    "-n",
    "requests",
    type=click.IntRange(3, 10_000),
    default=30,
    show_default=True,
    help="Requests to send through the load balancer for each table.",
)
@click.option("--keep", is_flag=True, help="Leave the load balancer serving after the tour, until Ctrl-C.")
def demo(requests: int, keep: bool) -> None:
    """Run a local cloud, put a load balancer in front of three backends, and watch it fail over."""
    console = Console(highlight=False)
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt) if on_main_thread else None
    started = time.monotonic()
    try:
        with contextlib.ExitStack() as stack:
            _tour(console, stack, requests=requests, keep=keep)
            console.print("[dim]cleaning up: the load balancer, the backends, the local cloud and its state dir[/]")
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: everything the demo started has been stopped and removed[/]")
        raise SystemExit(130) from None
    except CloudLBError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)
    console.print(f"[bold green]demo finished in {time.monotonic() - started:.1f}s[/]")


def _tour(console: Console, stack: contextlib.ExitStack, *, requests: int, keep: bool) -> None:
    console.print(
        Panel.fit(
            "A Service of type LoadBalancer on this machine: a local cloud,\n"
            "three backends posing as nodes, and the same plan -> ensure\n"
            "pipeline that `cloudlb apply` runs against any cloud.",
            title="[bold]cloudlb demo[/]",
        )
    )
    console.rule("1. a local cloud and three backends")
    state_dir = stack.enter_context(_temporary_dir())
    pool = _private_pool()
    with console.status("starting the local cloud (cloudlb serve)..."):
        try:
            daemon = stack.enter_context(running_daemon(state_dir / "state", address_pool=pool))
        except DaemonStartError as exc:
            raise click.ClickException(f"the local cloud did not start: {exc}") from exc
    console.print(f"local cloud API [bold]{daemon.url}[/], address pool [bold]{pool}[/]")
    backends, node_port = _start_backends(stack)
    names = [b.name for b in backends]
    for backend, ip in zip(backends, BACKEND_IPS, strict=True):
        console.print(f"  {backend.name} listening on {ip}:{node_port} (node port {node_port})")

    console.rule("2. plan and ensure the Service demo/web")
    service, nodes = demo_manifests(node_port)
    spec = spec_from_manifests(service, nodes=nodes, cluster="demo")
    provider = LocalProvider(daemon.state_dir)
    stack.callback(_quietly_delete, provider, spec)
    console.print(Panel(str(provider.plan(spec)), title="cloudlb plan", title_align="left"))
    status = provider.ensure(spec)
    console.print(status_table(spec, status))
    if status.errors or not status.ingress or not status.ingress[0].ip:
        raise click.ClickException(f"the load balancer does not serve: {status.to_kube()}")
    ip = status.ingress[0].ip

    console.rule("3. traffic through the load balancer")
    counts = spread(ip, LB_PORT, requests)
    console.print(spread_table(f"{requests} requests to http://{ip}:{LB_PORT}/ (round-robin)", counts, names))
    console.print(f"traffic reached {sum(1 for n in names if counts.get(n))} of {len(names)} backends")

    console.rule("4. a backend goes away")
    victim = backends[1]
    target = f"{BACKEND_IPS[1]}:{node_port}"
    console.print(f"stopping [bold]{victim.name}[/] ({target}); health checks run every {HEALTH_INTERVAL:g}s")
    victim.stop()
    took = time_to_down(f"{daemon.url}/metrics", target)
    if took is None:
        raise click.ClickException(f"the health checks did not mark {victim.name} down within {FAILOVER_LIMIT:g}s")
    console.print(f"the health checks took {victim.name} out of the pool after [bold]{took:.2f}s[/]")
    counts = spread(ip, LB_PORT, requests)
    console.print(spread_table(f"{requests} requests after stopping {victim.name}", counts, names))
    console.print(f"traffic reached {sum(1 for n in names if counts.get(n))} of {len(names)} backends")
    if keep:
        console.print(Panel(f"curl http://{ip}:{LB_PORT}/\nPress Ctrl-C to stop and clean up.", title="still serving"))
        while True:
            time.sleep(3600)


def _quietly_delete(provider: LocalProvider, spec: LoadBalancerSpec) -> None:
    with contextlib.suppress(CloudLBError):
        provider.delete(spec)  # the daemon goes away next anyway; this exercises the delete path on the way out
