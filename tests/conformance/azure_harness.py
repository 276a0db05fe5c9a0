"""The conformance harness for ``AzureProvider``: a fake ARM per harness, read back without the provider.

Azure has no "balancer per Service": a Service is a frontend (with its rules, probes and pool) on its cluster's
shared balancer, plus a public IP and security rules. So the harness's view of "one balancer of a Service" is that
frontend: its cloud id is the frontend's id, its listeners come from the rules that use it and the pool each rule
sends to, and its tags are what the cloud records for it (the balancer's record, decoded here independently of the
provider, plus the public IP's own tags). Every read goes to the fake's state directly, so it is neither counted
nor seen by the fault injection; calls are counted from the fake's request log. ``resources`` lists every
top-level resource and every child of a balancer and every security rule, so a leftover part of any kind shows.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from cloudlb.model import LoadBalancerSpec, Scheme, TargetMode
from cloudlb.model import Protocol as IPProtocol
from cloudlb.naming import CLUSTER_TAG, SERVICE_TAG, UID_TAG, Ownership, decode_tag_key, encode_tag_key, ownership
from cloudlb_azure.fake import FakeArm
from cloudlb_azure.mock import seed_network
from cloudlb_azure.names import pip_name
from cloudlb_azure.provider import AzureProvider
from tests.conformance.harness import BaseHarness, Endpoint, ObservedLoadBalancer, ResourceView, TargetOp

RG, LOCATION, VNET, SUBNET, NSG = "conformance-rg", "eastus", "vnet", "subnet", "nsg"
RECORD = "cloudlb.io/frontend/"
Json = dict[str, Any]


def _tags(resource: Mapping[str, Any] | None) -> dict[str, str]:
    return {decode_tag_key(k): v for k, v in ((resource or {}).get("tags") or {}).items()}


def _children(lb: Mapping[str, Any], collection: str) -> list[Json]:
    return list((lb.get("properties") or {}).get(collection) or [])


def _last(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1].lower()


class AzureHarness(BaseHarness):
    """Specs are made the way one Kubernetes cluster would make them, which Azure's shared balancer relies on:
    every Service of a cluster gets its own nodePorts, and node targets are the cluster's nodes, so a node-mode
    Service built without naming nodes gets the cluster's current ones (the last node set named for it)."""

    def __init__(self) -> None:
        self.id = "azure"
        self.target_batch_size: int | None = None  # one PUT replaces a whole pool
        self.fake = FakeArm(lro_delay=0.002).start()
        seed_network(
            self.fake, resource_group=RG, location=LOCATION, vnet_name=VNET, subnet_name=SUBNET, security_group_name=NSG
        )
        self._foreign: list[tuple[str, str]] = []
        self._ops_seen = 0
        self._ops: list[TargetOp] = []
        self._services: dict[tuple[str, str, str], int] = {}
        self._nodes: dict[str, tuple[int, ...]] = {}

    def make_spec(
        self,
        name: str = "web",
        *,
        namespace: str = "default",
        uid: str | None = None,
        cluster: str | None = None,
        ports: Sequence[tuple[IPProtocol, int]] = ((IPProtocol.TCP, 80),),
        nodes: Iterable[int] | None = None,
        **fields: Any,
    ) -> LoadBalancerSpec:
        cluster = self.cluster if cluster is None else cluster
        node_mode = fields.get("target_mode", TargetMode.NODE) is TargetMode.NODE
        if nodes is None:
            nodes = self._nodes.get(cluster, tuple(range(3))) if node_mode else range(3)
        elif node_mode:
            nodes = self._nodes[cluster] = tuple(nodes)
        spec = super().make_spec(
            name, namespace=namespace, uid=uid, cluster=cluster, ports=ports, nodes=nodes, **fields
        )
        shift = 100 * self._services.setdefault((cluster, namespace, name), len(self._services))
        listeners = []
        for listener in spec.listeners:
            node_port = (listener.node_port or 0) + shift
            targets = listener.targets
            if node_mode:
                targets = frozenset(t._replace(port=node_port) for t in targets)
            listeners.append(replace(listener, node_port=node_port, targets=targets))
        return replace(spec, listeners=tuple(listeners))

    def make_provider(self) -> AzureProvider:
        return AzureProvider(
            self.fake.subscription_id,
            RG,
            LOCATION,
            base_url=self.fake.url,
            ca_bundle=self.fake.ca_path,
            use_mock_credential=True,
            vnet_name=VNET,
            subnet_name=SUBNET,
            security_group_name=NSG,
            poll_interval=0.002,
            retry_initial_delay=0.01,
            retry_max_delay=0.1,
        )

    # --- counting ------------------------------------------------------------------------------------------------

    def mutating_calls(self) -> int:
        return len(self.fake.writes())

    def all_calls(self) -> int:
        return len(self.fake.requests)

    # --- reading the cloud back ----------------------------------------------------------------------------------

    def _all(self, kind: str) -> list[Json]:
        return [self.fake.state.document(kind, RG, r.ref.name) or {} for r in self.fake.state.all(kind, RG)]

    def _pips(self) -> dict[str, Json]:
        return {str(p["id"]).lower(): p for p in self._all("publicIPAddresses")}

    def read_back(self, spec: LoadBalancerSpec) -> list[ObservedLoadBalancer]:
        pips = self._pips()
        out = []
        for lb in self._all("loadBalancers"):
            cluster = _tags(lb).get(CLUSTER_TAG)
            for base, value in self._records(lb).items():
                service, _, uid = value.partition(" ")
                tags = {CLUSTER_TAG: cluster or "", SERVICE_TAG: service, UID_TAG: uid}
                if ownership(tags, spec.ref) is not Ownership.MINE:
                    continue
                out.append(self._view(lb, base, tags, pips))
        return out

    def _records(self, lb: Mapping[str, Any]) -> dict[str, str]:
        return {k[len(RECORD) :]: v for k, v in _tags(lb).items() if k.startswith(RECORD)}

    def _view(self, lb: Json, base: str, tags: dict[str, str], pips: dict[str, Json]) -> ObservedLoadBalancer:
        frontend = next(f for f in _children(lb, "frontendIPConfigurations") if f["name"].lower() == base.lower())
        pools = {p["name"].lower(): p for p in _children(lb, "backendAddressPools")}
        listeners: dict[tuple[IPProtocol, int], frozenset[Endpoint]] = {}
        for rule in _children(lb, "loadBalancingRules"):
            props = rule["properties"]
            if _last(props["frontendIPConfiguration"]["id"]) != base.lower():
                continue
            ips = set()
            for ref in props.get("backendAddressPools") or []:
                pool = pools[_last(ref["id"])]
                ips |= {a["properties"]["ipAddress"] for a in pool["properties"]["loadBalancerBackendAddresses"]}
            key = (IPProtocol(props["protocol"].upper()), props["frontendPort"])
            listeners[key] = frozenset((ip, props["backendPort"]) for ip in ips)
        pip_ref = frontend["properties"].get("publicIPAddress")
        all_tags = dict(tags)
        if pip_ref:
            all_tags = {**_tags(pips.get(pip_ref["id"].lower())), **tags}
        internal = "subnet" in frontend["properties"]
        return ObservedLoadBalancer(frontend["id"], f"{lb['name']}/{base}", all_tags, listeners, internal)

    def target_ops(self) -> list[TargetOp]:
        """Every accepted write of a pool, as the whole pool it set; the port comes from the rules using it."""
        requests = self.fake.requests
        for record in requests[self._ops_seen :]:
            if record.method != "PUT" or record.status >= 300 or not isinstance(record.body, dict):
                continue
            parts = record.path.strip("/").split("/")
            if "loadBalancers" not in parts:
                continue
            lb = parts[parts.index("loadBalancers") + 1]
            if parts[-2] == "backendAddressPools":
                pools = [{"name": parts[-1], **record.body}]
                rules = _children(self.fake.state.document("loadBalancers", RG, lb) or {}, "loadBalancingRules")
            else:
                pools = _children(record.body, "backendAddressPools")
                rules = _children(record.body, "loadBalancingRules")
            for pool in pools:
                ips = {
                    a["properties"]["ipAddress"] for a in pool["properties"].get("loadBalancerBackendAddresses") or []
                }
                ports = {
                    rule["properties"]["backendPort"]
                    for rule in rules
                    if any(
                        _last(p["id"]) == pool["name"].lower()
                        for p in rule["properties"].get("backendAddressPools") or []
                    )
                }
                for port in sorted(ports):
                    self._ops.append(
                        TargetOp(f"{lb}/{pool['name']}/{port}", "replace", frozenset((ip, port) for ip in ips))
                    )
        self._ops_seen = len(requests)
        return list(self._ops)

    def resources(self) -> list[ResourceView]:
        out = []
        for lb in self._all("loadBalancers"):
            lb_tags = _tags(lb)
            out.append(ResourceView("load-balancer", lb["id"], lb["name"], lb_tags))
            owners = {}
            for base, value in self._records(lb).items():
                service, _, uid = value.partition(" ")
                owners[base.lower()] = {CLUSTER_TAG: lb_tags.get(CLUSTER_TAG, ""), SERVICE_TAG: service, UID_TAG: uid}
            for collection in ("frontendIPConfigurations", "loadBalancingRules", "probes", "backendAddressPools"):
                for child in _children(lb, collection):
                    owner = next((t for b, t in owners.items() if child["name"].lower().startswith(b)), {})
                    out.append(ResourceView(collection, child["id"], child["name"], owner))
        for pip in self._all("publicIPAddresses"):
            out.append(ResourceView("public-ip", pip["id"], pip["name"], _tags(pip)))
        for nsg in self._all("networkSecurityGroups"):
            for rule in _children(nsg, "securityRules"):
                parts = (rule["properties"].get("description") or "").split(" ")
                tags = {}
                if parts[0] == "cloudlb" and len(parts) in (3, 4):
                    tags = {CLUSTER_TAG: parts[1], SERVICE_TAG: parts[2], UID_TAG: parts[3] if len(parts) == 4 else ""}
                out.append(ResourceView("security-rule", rule["id"], rule["name"], tags))
        return out

    # --- planting and breaking -----------------------------------------------------------------------------------

    def create_foreign_lookalike(self, spec: LoadBalancerSpec, *, tags: Mapping[str, str]) -> str:
        """A balancer named like the cluster's, holding a frontend named like the Service's with its rules, and a
        public IP named like its; all of them carrying ``tags`` (on the balancer: as cluster tag and record)."""
        provider = self.make_provider()
        base = provider.load_balancer_name(spec)
        lb = spec.cluster if spec.scheme is Scheme.EXTERNAL else f"{spec.cluster}-internal"
        lb_tags = {encode_tag_key(k): v for k, v in tags.items() if k not in (SERVICE_TAG, UID_TAG)}
        if SERVICE_TAG in tags:
            lb_tags[encode_tag_key(RECORD + base)] = f"{tags[SERVICE_TAG]} {tags.get(UID_TAG, '')}".strip()
        pip = self.fake.create(
            "publicIPAddresses",
            RG,
            pip_name(base, spec.uid),
            {
                "location": LOCATION,
                "sku": {"name": "Standard"},
                "tags": {encode_tag_key(k): v for k, v in tags.items()},
                "properties": {"publicIPAllocationMethod": "Static"},
            },
        )
        lb_id = pip["id"].split("/publicIPAddresses/")[0] + f"/loadBalancers/{lb}"
        frontend_id = f"{lb_id}/frontendIPConfigurations/{base}"
        rules = [
            {
                "name": f"{base}-{lst.protocol.value.lower()}-{lst.port}",
                "properties": {
                    "frontendIPConfiguration": {"id": frontend_id},
                    "backendAddressPool": {"id": f"{lb_id}/backendAddressPools/cloudlb-nodes"},
                    "protocol": lst.protocol.value.capitalize(),
                    "frontendPort": lst.port,
                    "backendPort": 9000 + i,
                },
            }
            for i, lst in enumerate(spec.listeners)
        ]
        vnet = pip["id"].split("/publicIPAddresses/")[0] + f"/virtualNetworks/{VNET}"
        address = {"name": "foreign", "properties": {"ipAddress": "10.9.0.1", "virtualNetwork": {"id": vnet}}}
        self.fake.create(
            "loadBalancers",
            RG,
            lb,
            {
                "location": LOCATION,
                "sku": {"name": "Standard"},
                "tags": lb_tags,
                "properties": {
                    "frontendIPConfigurations": [{"name": base, "properties": {"publicIPAddress": {"id": pip["id"]}}}],
                    "backendAddressPools": [
                        {"name": "cloudlb-nodes", "properties": {"loadBalancerBackendAddresses": [address]}}
                    ],
                    "loadBalancingRules": rules,
                },
            },
        )
        self._foreign += [("loadBalancers", lb), ("publicIPAddresses", str(pip["name"]))]
        return frontend_id

    def foreign_state(self) -> object:
        return [copy.deepcopy(self.fake.state.document(kind, RG, name)) for kind, name in self._foreign]

    def fail_at_mutating_call(self, n: int, *, after: bool = False) -> None:
        # A 4xx: the provider must see the crash (a 5xx it would take for a temporary failure and retry).
        self.fake.fail_write(n, after=after, status=400, code="InjectedFailure")

    def clear_faults(self) -> None:
        self.fake.clear_faults()

    def close(self) -> None:
        self.fake.stop()


def azure_harness() -> AzureHarness:
    return AzureHarness()
