"""What a Service should hold on Azure, as ARM JSON: pure functions of the spec, with no call.

Where this sits: the provider builds a ``Slice`` (the Service's frontend, rules, probes and pool on its cluster's
shared balancer) and the public IP body here, then ``lb.converge`` and ``pips`` compare them with what ARM shows.
ARM resource ids are deterministic, so every reference (the public IP a frontend uses, a rule's probe) is known
before anything exists; that keeps the whole balancer change one PUT.

A rule per listener: frontend port -> the targets' port (the nodePort in node mode, the pod's port in pod mode; the
frontend port itself with floating IP). A probe per distinct probed port: the health check's fixed port (kube-proxy's
healthCheckNodePort for ``externalTrafficPolicy: Local``), or each TCP listener's target port; a UDP listener
probed on its own port gets none, since Azure cannot probe UDP and a TCP probe there would mark every target down.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cloudlb.errors import ConfigError, InvalidSpecError
from cloudlb.fields import index
from cloudlb.model import (
    Algorithm,
    Listener,
    LoadBalancerSpec,
    Protocol,
    Scheme,
    ServiceRef,
    SessionAffinity,
    TargetMode,
)
from cloudlb_azure.names import NODE_POOL, probe_name, record, rule_name
from cloudlb_azure.options import AzureOptions, ServiceOptions

__all__ = ["NETWORK", "Scope", "Slice", "desired_slice", "lb_skeleton", "pool_body", "pool_ips", "target_port"]

Json = dict[str, Any]
NETWORK = "Microsoft.Network"
_AZURE_PROTOCOL = {Protocol.TCP: "Tcp", Protocol.UDP: "Udp"}


class Scope:
    """The ids of everything the provider references, built from its options."""

    def __init__(self, options: AzureOptions) -> None:
        self.options = options
        self.group = options.resource_group
        self.network_group = options.network_resource_group or options.resource_group

    def _id(self, group: str, kind: str, name: str) -> str:
        return f"/subscriptions/{self.options.subscription_id}/resourceGroups/{group}/providers/{NETWORK}/{kind}/{name}"

    def lb_id(self, lb: str) -> str:
        return self._id(self.group, "loadBalancers", lb)

    def child_id(self, lb: str, collection: str, name: str) -> str:
        return f"{self.lb_id(lb)}/{collection}/{name}"

    def pip_id(self, group: str, name: str) -> str:
        return self._id(group, "publicIPAddresses", name)

    def vnet_id(self) -> str:
        if not self.options.vnet_name:
            raise ConfigError("azure option 'vnet_name' is needed: backend pools hold node and pod IPs of a vnet")
        return self._id(self.network_group, "virtualNetworks", self.options.vnet_name)

    def subnet_id(self, name: str | None) -> str:
        subnet = name or self.options.subnet_name
        if not subnet:
            raise ConfigError(
                "an internal Service needs a subnet: set azure option 'subnet_name' (with 'vnet_name'), or the "
                "annotation service.beta.kubernetes.io/azure-load-balancer-internal-subnet"
            )
        return f"{self.vnet_id()}/subnets/{subnet}"


@dataclass(frozen=True, slots=True)
class Slice:
    """What one Service holds on its shared balancer. ``pool`` is the pool its rules use: the cluster's node pool
    (shared by every node-mode Service) or its own pod pool, named like its frontend."""

    ref: ServiceRef
    base: str
    record: tuple[str, str]
    frontend: Json
    probes: tuple[Json, ...]
    rules: tuple[Json, ...]
    pool: str
    pool_ips: frozenset[str]

    @property
    def shared_pool(self) -> bool:
        return self.pool == NODE_POOL


def target_port(listener: Listener, mode: TargetMode) -> int:
    """The port the targets of ``listener`` listen on (one per listener on Azure: a rule has one backend port)."""
    ports = {target.port for target in listener.targets}
    if len(ports) == 1:
        return ports.pop()
    if mode is TargetMode.NODE and listener.node_port:
        return listener.node_port
    if isinstance(listener.target_port, int):
        return listener.target_port
    return listener.port  # a named port with no endpoint yet: corrected once endpoints exist


def pool_ips(spec: LoadBalancerSpec) -> frozenset[str]:
    """The addresses of the Service's pool: every listener's targets (checked to be the same in ``validate``)."""
    return frozenset(target.ip for listener in spec.listeners for target in listener.targets)


def desired_slice(
    spec: LoadBalancerSpec,
    service: ServiceOptions,
    scope: Scope,
    *,
    ref: ServiceRef,
    lb: str,
    base: str,
    pip_id: str | None,
) -> Slice:
    """The Service's part of balancer ``lb``: ``ref`` is whose it is (with the uid to record), ``pip_id`` the
    public IP of an external Service."""
    frontend_id = scope.child_id(lb, "frontendIPConfigurations", base)
    pool = NODE_POOL if spec.target_mode is TargetMode.NODE else base
    pool_ref = {"id": scope.child_id(lb, "backendAddressPools", pool)}
    distribution = (
        "SourceIP"
        if spec.session_affinity is SessionAffinity.CLIENT_IP or spec.algorithm is Algorithm.SOURCE_IP
        else "Default"
    )
    probes: dict[str, Json] = {}
    rules: list[Json] = []
    for listener in spec.listeners:
        protocol = _AZURE_PROTOCOL[listener.protocol]
        targets_at = target_port(listener, spec.target_mode)
        probe_ref: dict[str, str] | None = None
        probe_port = service.probe.port or (targets_at if listener.protocol is Protocol.TCP else None)
        if probe_port is not None:
            name = probe_name(base, probe_port)
            probes[name] = _probe(name, service, probe_port)
            probe_ref = {"id": scope.child_id(lb, "probes", name)}
        rules.append(
            {
                "name": rule_name(base, protocol, listener.port),
                "properties": {
                    "frontendIPConfiguration": {"id": frontend_id},
                    "backendAddressPool": pool_ref,
                    "backendAddressPools": [pool_ref],
                    "probe": probe_ref,
                    "protocol": protocol,
                    "frontendPort": listener.port,
                    "backendPort": listener.port if service.floating_ip else targets_at,
                    "idleTimeoutInMinutes": service.idle_timeout,
                    "enableFloatingIP": service.floating_ip,
                    "enableTcpReset": listener.protocol is Protocol.TCP,
                    "disableOutboundSnat": False,
                    "loadDistribution": distribution,
                },
            }
        )
    return Slice(
        ref=ref,
        base=base,
        record=record(ref, base),
        frontend={"name": base, "properties": _frontend(spec, service, scope, pip_id)},
        probes=tuple(probes.values()),
        rules=tuple(rules),
        pool=pool,
        pool_ips=pool_ips(spec),
    )


def _frontend(spec: LoadBalancerSpec, service: ServiceOptions, scope: Scope, pip_id: str | None) -> Json:
    if spec.scheme is Scheme.EXTERNAL:
        assert pip_id is not None, "an external Service's frontend needs its public IP"
        return {"publicIPAddress": {"id": pip_id}}
    props: Json = {"subnet": {"id": scope.subnet_id(service.internal_subnet)}}
    if spec.load_balancer_ip:
        props.update(privateIPAllocationMethod="Static", privateIPAddress=spec.load_balancer_ip)
    else:
        props["privateIPAllocationMethod"] = "Dynamic"
    return props


def _probe(name: str, service: ServiceOptions, port: int) -> Json:
    probe = service.probe
    return {
        "name": name,
        "properties": {
            "protocol": probe.protocol,
            "port": port,
            "requestPath": probe.path,
            "intervalInSeconds": probe.interval,
            "numberOfProbes": probe.count,
            "probeThreshold": probe.count,
        },
    }


def pool_body(name: str, ips: Iterable[str], vnet_id: str | None) -> Json:
    """An IP-based backend pool: each address named by itself, in the cluster's vnet."""
    ordered = sorted(ips, key=ipaddress.ip_address)
    if ordered and vnet_id is None:
        raise ConfigError("azure option 'vnet_name' is needed: backend pools hold node and pod IPs of a vnet")
    addresses = [{"name": ip, "properties": {"ipAddress": ip, "virtualNetwork": {"id": vnet_id}}} for ip in ordered]
    return {"name": name, "properties": {"loadBalancerBackendAddresses": addresses}}


def lb_skeleton(location: str, tags: dict[str, str]) -> Json:
    """A new, empty Standard balancer; ``lb.converge`` fills in a Service's parts."""
    return {
        "location": location,
        "sku": {"name": "Standard", "tier": "Regional"},
        "tags": dict(tags),
        "properties": {
            "frontendIPConfigurations": [],
            "backendAddressPools": [],
            "probes": [],
            "loadBalancingRules": [],
        },
    }


def check_targets(spec: LoadBalancerSpec) -> None:
    """Azure gives a Service one pool and a rule one backend port: refuse what that cannot express."""
    sets = {frozenset(t.ip for t in listener.targets) for listener in spec.listeners if listener.targets}
    if len(sets) > 1:
        raise InvalidSpecError(
            "spec.ports", "on Azure every port of a Service is served by one backend pool: give each the same targets"
        )
    seen: dict[tuple[Protocol, int], int] = {}
    for i, listener in enumerate(spec.listeners):
        ports = {t.port for t in listener.targets}
        if len(ports) > 1:
            raise InvalidSpecError(
                index("spec.ports", i), f"targets listen on ports {sorted(ports)}; an Azure rule has one backend port"
            )
        if spec.target_mode is TargetMode.POD:
            key = (listener.protocol, target_port(listener, spec.target_mode))
            if key in seen:
                raise InvalidSpecError(
                    index("spec.ports", i),
                    f"sends {key[0]} to the same pod port {key[1]} as spec.ports[{seen[key]}]; Azure refuses two "
                    "rules to one port of one pool",
                )
            seen[key] = i
