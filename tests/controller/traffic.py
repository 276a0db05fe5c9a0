"""Real backends for the controller's traffic tests: "nodes" and "pods" on their own loopback addresses.

The backends are the local provider's test backends (``tests.local.provider.backends``): each answers a connection
with its name, so a test sees which one the load balancer chose.
"""

from __future__ import annotations

import contextlib
import random
import socket
from collections.abc import Iterator, Sequence
from typing import Any

from cloudlb.testing.kubeapi import FakeKubeAPI
from cloudlb_local.client import LocalClient
from tests.local.provider.backends import TcpBackend, ask

__all__ = ["addresses", "backends", "free_node_port", "ingress_ip", "names_seen", "pool_of"]


def addresses(count: int) -> list[str]:
    """``count`` loopback addresses in a /24 no other test is likely to use at the same time."""
    base = f"127.{random.randint(60, 99)}.{random.randint(0, 255)}"
    return [f"{base}.{i}" for i in range(1, count + 1)]


def free_node_port(ips: Sequence[str]) -> int:
    """A port in the nodePort range (30000-32767) that every one of ``ips`` can bind."""
    for _ in range(200):
        port = random.randint(30000, 32767)
        try:
            with contextlib.ExitStack() as stack:
                for ip in ips:
                    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                    sock.bind((ip, port))
            return port
        except OSError:
            continue
    raise RuntimeError(f"no free node port on {ips}")


@contextlib.contextmanager
def backends(ips: Sequence[str], port: int) -> Iterator[dict[str, TcpBackend]]:
    """A backend on each of ``ips`` at ``port``, by IP; its name is ``b<last octet>``."""
    running = {ip: TcpBackend(f"b{ip.rsplit('.', 1)[1]}", ip, port) for ip in ips}
    try:
        yield running
    finally:
        for backend in running.values():
            backend.stop()


def names_seen(ip: str, port: int, tries: int = 24) -> set[str | None]:
    """The backends that answered ``tries`` fresh connections (None for a connection nobody answered)."""
    return {ask(ip, port, timeout=2.0) for _ in range(tries)}


def ingress_ip(kube: FakeKubeAPI, name: str, namespace: str = "default") -> str | None:
    """The Service's ``status.loadBalancer.ingress[0].ip`` as the API server stores it."""
    svc = kube.get("Service", namespace, name) or {}
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return ingress[0].get("ip") if ingress else None


def pool_of(cloud: LocalClient, name: str, namespace: str = "default") -> list[dict[str, Any]]:
    """The local cloud's load balancers for a Service, found by the ownership tag."""
    return cloud.list_load_balancers({"cloudlb.io/service": f"{namespace}/{name}"})
