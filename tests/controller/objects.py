"""Builders of the Kubernetes objects the controller tests create in the fake API server."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["FAST_CHECKS", "endpoint_slice", "node", "service"]

JSON = dict[str, Any]

# Health checks quick enough for a test's patience (the defaults take 10 s to notice anything).
FAST_CHECKS = {
    "cloudlb.io/health-check-interval": "0.3",
    "cloudlb.io/health-check-timeout": "0.2",
    "cloudlb.io/health-check-healthy-threshold": "1",
    "cloudlb.io/health-check-unhealthy-threshold": "1",
}


def service(
    name: str,
    *,
    namespace: str = "default",
    port: int = 8080,
    node_port: int | None = 30080,
    load_balancer_class: str | None = "cloudlb.io/local",
    service_type: str = "LoadBalancer",
    pod_targets: bool = False,
    annotations: Mapping[str, str] | None = None,
) -> JSON:
    spec: JSON = {"type": service_type, "ports": [{"name": "http", "port": port, "protocol": "TCP"}]}
    if node_port is not None:
        spec["ports"][0]["nodePort"] = node_port
    if load_balancer_class is not None and service_type == "LoadBalancer":
        spec["loadBalancerClass"] = load_balancer_class
    notes = {**FAST_CHECKS, **(annotations or {})}
    if pod_targets:
        notes["cloudlb.io/target-type"] = "pod"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "annotations": notes},
        "spec": spec,
    }


def node(
    name: str,
    ip: str,
    *,
    ready: bool = True,
    labels: Mapping[str, str] | None = None,
    taints: Sequence[Mapping[str, str]] = (),
    provider_id: str | None = None,
) -> JSON:
    spec: JSON = {}
    if taints:
        spec["taints"] = list(taints)
    if provider_id:
        spec["providerID"] = provider_id
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": dict(labels or {})},
        "spec": spec,
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def endpoint_slice(
    service_name: str,
    name: str,
    ips: Sequence[str],
    *,
    port: int,
    namespace: str = "default",
    not_ready: Sequence[str] = (),
) -> JSON:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [ip], "conditions": {"ready": ip not in not_ready}, "nodeName": "node-a"} for ip in ips
        ],
    }
