"""Manifests and small waiting helpers for the fake API server's tests; plain dicts, as a client would send."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes import watch

__all__ = ["endpoint_slice", "event", "lease", "node", "service", "until_bookmark", "wait_for", "watch_in_thread"]


def service(
    name: str, *, namespace: str = "default", labels: dict[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    spec = {"type": "LoadBalancer", "ports": [{"name": "http", "port": 80, "targetPort": 8080}], **spec}
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels or {}}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def node(name: str, ip: str = "10.0.0.1", *, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels or {}},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]},
    }


def endpoint_slice(name: str, service_name: str, ips: list[str], *, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": namespace, "labels": {"kubernetes.io/service-name": service_name}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }


def lease(name: str, holder: str, *, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "renewTime": "2024-01-01T00:00:00.000000Z"},
    }


def event(name: str, about: str, reason: str, *, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {"apiVersion": "v1", "kind": "Service", "name": about, "namespace": namespace},
        "reason": reason,
        "message": f"{reason} for {about}",
        "type": "Normal",
        "source": {"component": "cloudlb"},
        "count": 1,
    }


def wait_for(condition: Callable[[], bool], *, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll until ``condition`` holds; the timeout only stops a broken test from hanging, it is not asserted on."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def until_bookmark(stream: Iterator[dict[str, Any]], w: watch.Watch, rv: str) -> list[tuple[str, str]]:
    """(type, name) of every event before the first BOOKMARK at or past ``rv``.

    The fake sends a bookmark only after delivering every change up to the bookmark's resourceVersion, so this is
    the complete list of what the watch delivered up to ``rv``: nothing missing, nothing extra.
    """
    seen: list[tuple[str, str]] = []
    for ev in stream:
        if ev["type"] == "BOOKMARK":
            if int(ev["raw_object"]["metadata"]["resourceVersion"]) >= int(rv):
                w.stop()
                break
            continue
        seen.append((ev["type"], ev["raw_object"]["metadata"]["name"]))
    return seen


def watch_in_thread(
    stream: Iterator[dict[str, Any]], stop_when: Callable[[list[dict[str, Any]]], bool]
) -> tuple[threading.Thread, list[dict[str, Any]]]:
    """Consume ``stream`` in a thread until ``stop_when(events)``; the caller joins the thread."""
    events: list[dict[str, Any]] = []

    def run() -> None:
        for ev in stream:
            events.append(ev)
            if stop_when(events):
                break

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, events
