"""Builders for the Azure provider's tests: Services as Kubernetes manifests (so specs go through cloudlb's real
mapping, annotations included), and read-backs of the fake ARM through ``azure-mgmt-network``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from azure.mgmt.network import NetworkManagementClient

from cloudlb import spec_from_manifests
from cloudlb.model import LoadBalancerSpec
from cloudlb.naming import decode_tag_key
from cloudlb_azure.fake import FakeArm

RG, LOCATION, VNET, SUBNET, NSG = "rg", "eastus", "vnet", "subnet", "nsg"
CLUSTER = "prod"

Json = dict[str, Any]
Port = tuple[int, str, int]  # (port, protocol, nodePort)


def node(index: int) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": f"node-{index}"},
        "status": {"addresses": [{"type": "InternalIP", "address": f"10.1.0.{index}"}]},
    }


def nodes(*indices: int) -> list[Json]:
    return [node(i) for i in indices]


def service(
    name: str = "web",
    namespace: str = "default",
    *,
    uid: str | None = None,
    ports: Sequence[Port] = ((80, "TCP", 30080),),
    annotations: Mapping[str, str] | None = None,
    **spec: Any,
) -> Json:
    """A LoadBalancer Service; ``spec`` adds fields of ``Service.spec`` (camelCase, as in a manifest)."""
    metadata: Json = {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}" if uid is None else uid}
    if annotations:
        metadata["annotations"] = dict(annotations)
    body: Json = {
        "type": "LoadBalancer",
        "ports": [
            {"name": f"{p.lower()}-{port}", "protocol": p, "port": port, "nodePort": node_port, "targetPort": 8080 + i}
            for i, (port, p, node_port) in enumerate(ports)
        ],
        **spec,
    }
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": body}


def endpoint_slice(name: str, ips: Sequence[str], *, port: int = 8080, namespace: str = "default") -> Json:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{name}-1", "namespace": namespace, "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4",
        "ports": [{"name": "tcp-80", "protocol": "TCP", "port": port}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips],
    }


def spec(
    svc: Json | None = None,
    *,
    node_list: Sequence[Json] | None = None,
    slices: Sequence[Json] = (),
    cluster: str = CLUSTER,
) -> LoadBalancerSpec:
    """The spec cloudlb builds from the manifests; three nodes by default."""
    return spec_from_manifests(
        svc or service(),
        endpoint_slices=slices,
        nodes=nodes(1, 2, 3) if node_list is None else node_list,
        cluster=cluster,
    )


# --- reading the fake back -----------------------------------------------------------------------------------------


def tags(resource: Any) -> dict[str, str]:
    """A resource's tags as cloudlb means them (Azure stores the keys encoded)."""
    return {decode_tag_key(k): v for k, v in (resource.tags or {}).items()}


def lb(client: NetworkManagementClient, name: str = CLUSTER) -> Any:
    return client.load_balancers.get(RG, name)


def names(items: Any) -> list[str]:
    return sorted(str(item.name) for item in items or [])


def pool_ips(lb_model: Any, pool: str) -> set[str]:
    found = next(p for p in lb_model.backend_address_pools or [] if p.name == pool)
    return {a.ip_address for a in found.load_balancer_backend_addresses or []}


def rules_of(client: NetworkManagementClient, base: str) -> list[Any]:
    """The security rules named from a Service's base."""
    group = client.network_security_groups.get(RG, NSG)
    return [r for r in group.security_rules or [] if str(r.name).startswith(base)]


def writes(fake: FakeArm, since: int = 0) -> list[tuple[str, str]]:
    """(method, the resource type and name written) of every write from request ``since`` on."""
    out = []
    for record in fake.requests[since:]:
        if record.is_write:
            parts = record.path.strip("/").split("/")
            out.append((record.method, "/".join(parts[-2:])))
    return out
