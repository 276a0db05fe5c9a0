"""Spec <-> local cloud API: the load balancer body ``LocalProvider`` asks for, and the status it reports.

Where this sits: ``provider.py`` diffs what these functions say the load balancer should be against what the daemon
answers, field group by field group (settings, tags, listeners, targets); everything here is pure, so the same
functions serve ``plan``, ``ensure`` and the tests. The shapes are those of API.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from cloudlb.capabilities import EVERYWHERE
from cloudlb.model import (
    Algorithm,
    HealthCheck,
    HealthCheckProtocol,
    Ingress,
    Listener,
    LoadBalancerSpec,
    LoadBalancerStatus,
    PortStatus,
    Protocol,
    SessionAffinity,
    TargetMode,
    TrafficPolicy,
)
from cloudlb.naming import ownership_tags

__all__ = [
    "SCHEME_TAG",
    "Endpoint",
    "actual_endpoints",
    "desired_endpoints",
    "desired_listeners",
    "desired_settings",
    "desired_tags",
    "flat_settings",
    "lb_body",
    "listener_body",
    "listener_key",
    "status_of",
]

LOCAL_HEALTH_PATH = "/healthz"
SCHEME_TAG = "cloudlb.io/scheme"


class Endpoint(NamedTuple):
    """One target as the API knows it. Targets differ to the local cloud only by address and port."""

    ip: str
    port: int

    def to_json(self) -> dict[str, Any]:
        return {"ip": self.ip, "port": self.port}

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


def listener_key(protocol: Protocol | str, port: int) -> str:
    """A listener's identity on the API, ``TCP-80``: changing either part is delete + create."""
    return f"{protocol}-{port}"


def desired_tags(spec: LoadBalancerSpec) -> dict[str, str]:
    """The user's tags (``cloudlb.io/tags``) under cloudlb's own, which always win.

    Internal and external balancers share one loopback pool here, so the scheme changes nothing on the data plane;
    it is recorded as a tag so that it can be read back, and changing it is one tag update, not a new balancer.
    """
    return {**dict(spec.tags), SCHEME_TAG: spec.scheme.value, **ownership_tags(spec.ref)}


def desired_settings(spec: LoadBalancerSpec) -> dict[str, Any]:
    """The ``settings`` object of API.md for ``spec``."""
    # ClientIP affinity is the source-ip algorithm with a timeout; kube.py already says so, a hand-built spec may not.
    affine = spec.session_affinity is SessionAffinity.CLIENT_IP
    algorithm = Algorithm.SOURCE_IP if affine else spec.algorithm
    return {
        "algorithm": algorithm.value,
        "health_check": _health_check(spec),
        "source_ranges": _source_ranges(spec.source_ranges),
        "proxy_protocol": spec.proxy_protocol.value,
        "affinity_timeout": spec.affinity_timeout,
    }


def _health_check(spec: LoadBalancerSpec) -> dict[str, Any]:
    hc = spec.health_check
    if (
        spec.traffic_policy is TrafficPolicy.LOCAL
        and spec.target_mode is TargetMode.NODE
        and spec.health_check_node_port is not None
        and hc.protocol is HealthCheckProtocol.TCP
        and hc.port is None
    ):
        # Only the nodes running a ready pod answer kube-proxy's /healthz with 200: probing it keeps traffic off
        # the others. kube.py builds this already; a spec built by hand gets the same rule here.
        hc = HealthCheck(
            HealthCheckProtocol.HTTP,
            spec.health_check_node_port,
            LOCAL_HEALTH_PATH,
            hc.interval,
            hc.timeout,
            hc.healthy_threshold,
            hc.unhealthy_threshold,
        )
    return {
        "protocol": hc.protocol.value,
        "port": hc.port,
        "path": hc.path,
        "interval": float(hc.interval),
        "timeout": float(hc.timeout),
        "healthy_threshold": hc.healthy_threshold,
        "unhealthy_threshold": hc.unhealthy_threshold,
    }


def _source_ranges(ranges: Iterable[str]) -> list[str]:
    # The local cloud is IPv4 only, so 0.0.0.0/0 anywhere in the list allows everything: the API's empty list.
    wanted = set(ranges)
    return [] if wanted & EVERYWHERE else sorted(wanted)


def flat_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """Settings as one level of fields (``health_check.interval``), normalised for comparison.

    The plan then names the one field that drifted instead of printing two whole health checks.
    """
    out: dict[str, Any] = {}
    for key, value in (settings or {}).items():
        if key == "health_check":
            if value is None:
                out["health_check"] = None
            else:
                out.update({f"health_check.{k}": v for k, v in value.items()})
        elif key == "source_ranges":
            out[key] = sorted(value or [])
        else:
            out[key] = value
    return out


def desired_endpoints(listener: Listener) -> frozenset[Endpoint]:
    # Node targets already carry the nodePort and pod targets the pod's port: the address and port are all we need.
    return frozenset(Endpoint(t.ip, t.port) for t in listener.targets)


def actual_endpoints(listener: Mapping[str, Any]) -> frozenset[Endpoint]:
    return frozenset(Endpoint(str(t["ip"]), int(t["port"])) for t in listener.get("targets") or ())


def desired_listeners(spec: LoadBalancerSpec) -> dict[str, Listener]:
    """The spec's listeners by their API key."""
    return {listener_key(lst.protocol, lst.port): lst for lst in spec.listeners}


def listener_body(listener: Listener) -> dict[str, Any]:
    return {
        "name": listener.name,
        "protocol": listener.protocol.value,
        "port": listener.port,
        "targets": [e.to_json() for e in sorted(desired_endpoints(listener))],
    }


def lb_body(spec: LoadBalancerSpec, name: str) -> dict[str, Any]:
    """The whole ``POST /v1/loadbalancers`` body: one call creates the balancer with every listener and target."""
    body: dict[str, Any] = {
        "name": name,
        "tags": desired_tags(spec),
        "settings": desired_settings(spec),
        "listeners": [listener_body(lst) for lst in spec.listeners],
    }
    if spec.load_balancer_ip:
        body["address"] = spec.load_balancer_ip
    return body


def status_of(lb: Mapping[str, Any]) -> LoadBalancerStatus:
    """The API's load balancer as ``status.loadBalancer``: its address, and each port with its bind error."""
    ports = tuple(
        PortStatus(
            port=int(lst["port"]), protocol=Protocol(lst["protocol"]), error=(lst.get("status") or {}).get("error")
        )
        for lst in lb.get("listeners") or ()
    )
    return LoadBalancerStatus(
        ingress=(Ingress(ip=str(lb["address"]), ports=ports),),
        cloud_name=str(lb.get("name", "")) or None,
        cloud_id=str(lb["id"]),
    )
