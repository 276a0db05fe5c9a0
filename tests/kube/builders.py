"""Small builders for Service, EndpointSlice and Node manifests, shaped as the API server returns them."""

from __future__ import annotations

from typing import Any


def port(
    name: str = "http",
    port: int = 80,
    node_port: int | None = 30080,
    protocol: str | None = "TCP",
    target_port: int | str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "port": port}
    if protocol is not None:
        out["protocol"] = protocol
    if node_port is not None:
        out["nodePort"] = node_port
    if target_port is not None:
        out["targetPort"] = target_port
    return out


def service(
    name: str = "web",
    namespace: str | None = "demo",
    *,
    ports: list[Any] | None = None,
    annotations: dict[str, Any] | None = None,
    uid: str | None = "uid-1",
    **spec: Any,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if uid is not None:
        metadata["uid"] = uid
    if annotations is not None:
        metadata["annotations"] = annotations
    body: dict[str, Any] = {"type": "LoadBalancer", "ports": [port()] if ports is None else ports}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": body}


def node(
    name: str,
    ip: str | None,
    *,
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    provider_id: str | None = None,
    extra_addresses: list[dict[str, str]] | None = None,
    deleting: bool = False,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": labels or {}}
    if deleting:
        metadata["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    spec: dict[str, Any] = {}
    if taints is not None:
        spec["taints"] = taints
    if provider_id is not None:
        spec["providerID"] = provider_id
    addresses = list(extra_addresses or [])
    if ip is not None:
        addresses.append({"type": "InternalIP", "address": ip})
    addresses.append({"type": "Hostname", "address": name})
    return {"apiVersion": "v1", "kind": "Node", "metadata": metadata, "spec": spec, "status": {"addresses": addresses}}


def endpoint(
    ip: str,
    *,
    ready: bool | None = True,
    terminating: bool | None = False,
    node_name: str | None = None,
    zone: str | None = None,
) -> dict[str, Any]:
    conditions: dict[str, Any] = {}
    if ready is not None:
        conditions["ready"] = ready
    if terminating is not None:
        conditions["terminating"] = terminating
    out: dict[str, Any] = {"addresses": [ip], "conditions": conditions}
    if node_name is not None:
        out["nodeName"] = node_name
    if zone is not None:
        out["zone"] = zone
    return out


def endpoint_slice(
    service_name: str = "web",
    namespace: str = "demo",
    *,
    endpoints: list[Any],
    ports: list[dict[str, Any]] | None = None,
    address_type: str = "IPv4",
    name: str | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name or f"{service_name}-abcde",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": address_type,
        "ports": [{"name": "http", "protocol": "TCP", "port": 8080}] if ports is None else ports,
        "endpoints": endpoints,
    }
