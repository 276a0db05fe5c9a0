"""What the real API server does to a Service on the way in: defaults, cluster IPs, node ports, type changes.

Where this sits: ``registry.py`` calls ``ServiceAllocator.prepare`` before a Service is stored and ``commit``
after, under the store's lock. A controller under test therefore sees Services shaped as a cluster shapes them: a
LoadBalancer Service created without node ports gets them (so node-mode targets have a port), a type change away
from LoadBalancer drops the node ports, the health-check node port and the class, and ``loadBalancerClass`` cannot
be changed once set. This is the subset of the real allocator and validation that a load-balancer controller
depends on, not all of it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from cloudlb.testing.kubeapi.errors import KubeError

__all__ = ["ServiceAllocator"]

NODE_PORTS = range(30000, 32768)
_PROTOCOLS = ("TCP", "UDP", "SCTP")


def _needs_node_ports(spec: dict[str, Any]) -> bool:
    kind = spec.get("type")
    return kind == "NodePort" or (kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts", True))


def _needs_health_port(spec: dict[str, Any]) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def _node_ports(svc: dict[str, Any] | None) -> set[int]:
    if not svc:
        return set()
    spec = svc.get("spec") or {}
    ports = {p["nodePort"] for p in spec.get("ports") or [] if p.get("nodePort")}
    if spec.get("healthCheckNodePort"):
        ports.add(spec["healthCheckNodePort"])
    return ports


class ServiceAllocator:
    """Cluster IPs from ``service_cidr`` and node ports from 30000-32767, each held by one Service at a time."""

    def __init__(self, service_cidr: str = "10.96.0.0/16") -> None:
        self._network = ipaddress.ip_network(service_cidr)
        self._ips: dict[str, tuple[str, str]] = {}
        self._ports: dict[int, tuple[str, str]] = {}
        # Cursors make allocation cheap when thousands of Services exist; index 1 is the API server's own IP.
        self._next_ip = 2
        self._next_port = NODE_PORTS.start

    def prepare(self, svc: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Default, allocate and validate ``svc`` (a create when ``old`` is None) in place; 422 on invalid input."""
        meta, spec = svc["metadata"], svc.setdefault("spec", {})
        owner = (meta.get("namespace", ""), meta["name"])
        old_spec = (old or {}).get("spec") or {}
        self._defaults(spec)
        self._drop_type_dependent(spec, old_spec)
        problems = self._validate(spec, old_spec)
        if problems:
            raise KubeError.invalid("Service", meta["name"], problems)
        if spec["type"] != "ExternalName":
            self._cluster_ip(spec, old_spec, owner)
        self._allocate_ports(spec, old_spec, owner, meta["name"])

    def commit(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """Record the allocations of ``new`` (None when deleted) in place of those of ``old``."""
        for port in _node_ports(old) - _node_ports(new):
            self._ports.pop(port, None)
        if new:
            owner = (new["metadata"].get("namespace", ""), new["metadata"]["name"])
            for port in _node_ports(new):
                self._ports[port] = owner
        old_ip = ((old or {}).get("spec") or {}).get("clusterIP")
        new_ip = ((new or {}).get("spec") or {}).get("clusterIP")
        if old_ip and old_ip != new_ip:
            self._ips.pop(old_ip, None)
        if new and new_ip and new_ip != "None":
            self._ips[new_ip] = (new["metadata"].get("namespace", ""), new["metadata"]["name"])

    @staticmethod
    def _defaults(spec: dict[str, Any]) -> None:
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
        if spec["type"] != "ExternalName":
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        if spec["type"] in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
        if spec["type"] == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)

    @staticmethod
    def _drop_type_dependent(spec: dict[str, Any], old_spec: dict[str, Any]) -> None:
        """Fields that only mean something for the old type go when a patch or update changes the type."""
        if not old_spec or old_spec.get("type") == spec["type"]:
            return
        if not _needs_node_ports(spec) and _needs_node_ports(old_spec):
            old_ports = {p.get("nodePort") for p in old_spec.get("ports") or []}
            for port in spec.get("ports") or []:
                if port.get("nodePort") in old_ports:
                    port.pop("nodePort", None)
        if spec["type"] != "LoadBalancer":
            for field in ("loadBalancerClass", "allocateLoadBalancerNodePorts"):
                if spec.get(field) == old_spec.get(field):
                    spec.pop(field, None)
        if not _needs_health_port(spec) and spec.get("healthCheckNodePort") == old_spec.get("healthCheckNodePort"):
            spec.pop("healthCheckNodePort", None)
        if spec["type"] not in ("NodePort", "LoadBalancer"):
            spec.pop("externalTrafficPolicy", None)

    @staticmethod
    def _validate(spec: dict[str, Any], old_spec: dict[str, Any]) -> list[str]:
        problems: list[str] = []
        kind = spec["type"]
        if kind not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
            problems.append(f'spec.type: Unsupported value: "{kind}"')
        ports = spec.get("ports") or []
        if not ports and kind != "ExternalName" and spec.get("clusterIP") != "None":
            problems.append("spec.ports: Required value")
        names = [p.get("name", "") for p in ports]
        for i, port in enumerate(ports):
            if not isinstance(port.get("port"), int) or not 1 <= port["port"] <= 65535:
                problems.append(
                    f"spec.ports[{i}].port: Invalid value: {port.get('port')!r}: must be between 1 and 65535"
                )
            if port.get("protocol") not in _PROTOCOLS:
                problems.append(f'spec.ports[{i}].protocol: Unsupported value: "{port.get("protocol")}"')
            if len(ports) > 1 and not port.get("name"):
                problems.append(f"spec.ports[{i}].name: Required value")
            elif port.get("name") and names.count(port["name"]) > 1:
                problems.append(f'spec.ports[{i}].name: Duplicate value: "{port["name"]}"')
            if port.get("nodePort") and kind == "ClusterIP":
                problems.append(f"spec.ports[{i}].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'")
            elif port.get("nodePort") and port["nodePort"] not in NODE_PORTS:
                problems.append(f"spec.ports[{i}].nodePort: Invalid value: {port['nodePort']}: provided port is not in "
                                "the valid range. The range of valid ports is 30000-32767")  # fmt: skip
        if spec.get("loadBalancerClass") and kind != "LoadBalancer":
            problems.append("spec.loadBalancerClass: Forbidden: may only be used when `type` is 'LoadBalancer'")
        class_changed = old_spec.get("loadBalancerClass") != spec.get("loadBalancerClass")
        if old_spec.get("type") == "LoadBalancer" == kind and class_changed:
            problems.append("spec.loadBalancerClass: Invalid value: may not change once set")
        if old_spec.get("clusterIP") and spec.get("clusterIP") not in (None, old_spec["clusterIP"]):
            problems.append("spec.clusterIP: Invalid value: field is immutable")
        return problems

    def _cluster_ip(self, spec: dict[str, Any], old_spec: dict[str, Any], owner: tuple[str, str]) -> None:
        wanted = spec.get("clusterIP") or old_spec.get("clusterIP")
        if wanted is None:
            wanted = self._free_ip()
        elif wanted != "None" and self._ips.get(wanted, owner) != owner:
            raise KubeError.invalid(
                "Service", owner[1], [f"spec.clusterIP: Invalid value: {wanted!r}: already allocated"]
            )
        spec["clusterIP"] = wanted
        spec["clusterIPs"] = [wanted]

    def _free_ip(self) -> str:
        size = self._network.num_addresses - 2
        for _ in range(size):
            ip = str(self._network[self._next_ip])
            self._next_ip = self._next_ip + 1 if self._next_ip < size else 2
            if ip not in self._ips:
                return ip
        raise KubeError(500, "InternalError", "range is full: no cluster IP left")

    def _free_port(self, taken: set[int]) -> int:
        for _ in NODE_PORTS:
            port = self._next_port
            self._next_port = port + 1 if port + 1 in NODE_PORTS else NODE_PORTS.start
            if port not in self._ports and port not in taken:
                return port
        raise KubeError(500, "InternalError", "range is full: no node port left")

    def _allocate_ports(
        self, spec: dict[str, Any], old_spec: dict[str, Any], owner: tuple[str, str], name: str
    ) -> None:
        ports = spec.get("ports") or []
        taken: set[int] = set()
        for i, port in enumerate(ports):
            node_port = port.get("nodePort")
            if node_port and (self._ports.get(node_port, owner) != owner or node_port in taken):
                raise KubeError.invalid(
                    "Service",
                    name,
                    [f"spec.ports[{i}].nodePort: Invalid value: {node_port}: provided port is already allocated"],
                )
            if node_port:
                taken.add(node_port)
        if _needs_node_ports(spec):
            # Like the real server, an update that omits a nodePort keeps the one the same-named port had.
            previous = {p.get("name", ""): p.get("nodePort") for p in old_spec.get("ports") or []}
            for port in ports:
                if not port.get("nodePort"):
                    reuse = previous.get(port.get("name", ""))
                    port["nodePort"] = reuse if reuse and reuse not in taken else self._free_port(taken)
                    taken.add(port["nodePort"])
        if _needs_health_port(spec) and not spec.get("healthCheckNodePort"):
            kept = old_spec.get("healthCheckNodePort")
            spec["healthCheckNodePort"] = kept if kept and kept not in taken else self._free_port(taken)
