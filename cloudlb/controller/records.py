"""Slim records: what the controller's caches keep of each Service, EndpointSlice and Node.

Where this sits: the informers hand every listed or watched object to ``slim_*`` here and cache only the result;
the reconciler turns records back into the manifests ``cloudlb.spec_from_manifests`` reads. A record keeps exactly
the fields a reconcile, a node-set decision or a status comparison reads, so that caching 5,000 Services, 20,000
EndpointSlices and 500 Nodes stays far below what the API objects weigh (managedFields alone often outweigh the
rest). Two records compare equal exactly when nothing the controller acts on changed, which is how heartbeats
and annotation churn are ignored without further rules.

Malformed input is kept, not repaired: a field of an unexpected type is copied as it came, so that
``spec_from_manifests`` reports it with its field path, as it would for the full object.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, NamedTuple

from cloudlb.targets import EXCLUDE_LABEL, SERVICE_NAME_LABEL, TO_BE_DELETED_TAINT, ZONE_LABELS

__all__ = [
    "FINALIZER",
    "SlimSlice",
    "has_finalizer",
    "object_key",
    "service_relevant",
    "slim_node",
    "slim_service",
    "slim_slice",
    "user_changed",
]

JSON = dict[str, Any]
FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
_SERVICE_META = ("name", "namespace", "uid", "resourceVersion", "annotations", "finalizers", "deletionTimestamp")
_NODE_LABELS = (EXCLUDE_LABEL, *ZONE_LABELS)


def _intern(value: Any) -> Any:
    # Node names, zones, protocols and namespaces repeat across thousands of records; one copy each is enough.
    return sys.intern(value) if type(value) is str else value


def object_key(obj: Mapping[str, Any]) -> str:
    """``namespace/name`` (just ``name`` for cluster-scoped objects), the key of every cache."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name"))


# -- Services ---------------------------------------------------------------------------------------------------


def slim_service(obj: Mapping[str, Any]) -> JSON:
    """The Service's identity, annotations, finalizers, deletion mark, spec and ``status.loadBalancer``."""
    meta = obj.get("metadata") or {}
    slim: JSON = {"metadata": {k: meta[k] for k in _SERVICE_META if k in meta}}
    if "spec" in obj:
        slim["spec"] = obj["spec"]
    status = obj.get("status")
    if isinstance(status, Mapping) and status.get("loadBalancer"):
        slim["status"] = {"loadBalancer": status["loadBalancer"]}
    return slim


def has_finalizer(service: Mapping[str, Any]) -> bool:
    """Whether the Service carries the controller's load-balancer-cleanup finalizer."""
    finalizers = (service.get("metadata") or {}).get("finalizers")
    return isinstance(finalizers, list) and FINALIZER in finalizers


def service_relevant(service: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a Service change must touch to need a reconcile: not its status and not its resourceVersion.

    The controller's own status patches thus never wake it up again. The first element, the presence of our
    finalizer, counts (a finalizer someone removed is put back) but is not a user's change: see ``user_changed``.
    """
    meta = service.get("metadata") or {}
    return (
        has_finalizer(service),
        meta.get("uid"),
        meta.get("annotations"),
        meta.get("deletionTimestamp"),
        service.get("spec"),
    )


def user_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether someone changed what the Service asks for (spec, annotations, deletion), as opposed to the
    controller's own finalizer write. Only such a change may cut a failing Service's backoff short."""
    return service_relevant(old)[1:] != service_relevant(new)[1:]


# -- EndpointSlices ---------------------------------------------------------------------------------------------

# (first address, ready, terminating, nodeName, zone): targets read only the first address.
Endpoint = tuple[Any, Any, Any, Any, Any]


class SlimSlice(NamedTuple):
    """An EndpointSlice as tuples: a tenth of the memory of its JSON dicts.

    ``raw`` holds a trimmed copy of the slice instead when any part is irregular (so ``spec_from_manifests`` can
    name the bad field); ``ports`` and ``endpoints`` are then empty.
    """

    namespace: str
    name: str
    service: str | None  # the kubernetes.io/service-name label
    address_type: Any
    ports: tuple[tuple[Any, Any, Any], ...]  # (name, protocol, port)
    endpoints: tuple[Endpoint, ...]
    raw: JSON | None = None

    @property
    def service_key(self) -> str | None:
        return f"{self.namespace}/{self.service}" if self.service else None

    def manifest(self) -> JSON:
        """The slice as ``spec_from_manifests`` reads it."""
        if self.raw is not None:
            return self.raw
        labels = {SERVICE_NAME_LABEL: self.service} if self.service else {}
        return {
            "kind": "EndpointSlice",
            "metadata": {"name": self.name, "namespace": self.namespace, "labels": labels},
            "addressType": self.address_type,
            "ports": [{"name": n, "protocol": p, "port": port} for n, p, port in self.ports],
            "endpoints": [_endpoint_manifest(e) for e in self.endpoints],
        }


def _endpoint_manifest(endpoint: Endpoint) -> JSON:
    address, ready, terminating, node, zone = endpoint
    out: JSON = {"addresses": [address], "conditions": {}}
    if ready is not None:
        out["conditions"]["ready"] = ready
    if terminating is not None:
        out["conditions"]["terminating"] = terminating
    if node is not None:
        out["nodeName"] = node
    if zone is not None:
        out["zone"] = zone
    return out


def slim_slice(obj: Mapping[str, Any]) -> SlimSlice:
    meta = obj.get("metadata") or {}
    labels = meta.get("labels")
    service = labels.get(SERVICE_NAME_LABEL) if isinstance(labels, Mapping) else None
    namespace = _intern(meta.get("namespace") or "default")
    name = str(meta.get("name"))
    service_name = _intern(service) if isinstance(service, str) and service else None
    ports = _slim_ports(obj.get("ports"))
    endpoints = _slim_endpoints(obj.get("endpoints"))
    if ports is None or endpoints is None:
        return SlimSlice(namespace, name, service_name, obj.get("addressType"), (), (), _trimmed_slice(obj))
    return SlimSlice(namespace, name, service_name, _intern(obj.get("addressType")), ports, endpoints)


def _slim_ports(ports: Any) -> tuple[tuple[Any, Any, Any], ...] | None:
    if ports is None:
        return ()
    if type(ports) is not list:
        return None
    out = []
    for port in ports:
        if type(port) is not dict:
            return None
        out.append((_intern(port.get("name")), _intern(port.get("protocol")), port.get("port")))
    return tuple(out)


def _slim_endpoints(endpoints: Any) -> tuple[Endpoint, ...] | None:
    if endpoints is None:
        return ()
    if type(endpoints) is not list:
        return None
    out = []
    for endpoint in endpoints:
        if type(endpoint) is not dict:
            return None
        addresses = endpoint.get("addresses")
        conditions = endpoint.get("conditions")
        if conditions is None:
            conditions = {}
        if type(addresses) is not list or not addresses or type(conditions) is not dict:
            return None
        out.append(
            (
                addresses[0],
                conditions.get("ready"),
                conditions.get("terminating"),
                _intern(endpoint.get("nodeName")),
                _intern(endpoint.get("zone")),
            )
        )
    return tuple(out)


def _trimmed_slice(obj: Mapping[str, Any]) -> JSON:
    meta = obj.get("metadata") or {}
    return {
        "kind": "EndpointSlice",
        "metadata": {k: meta[k] for k in ("name", "namespace", "labels") if k in meta},
        **{k: obj[k] for k in ("addressType", "ports", "endpoints") if k in obj},
    }


# -- Nodes ------------------------------------------------------------------------------------------------------


def slim_node(obj: Mapping[str, Any]) -> JSON:
    """The fields that decide whether and how a node is a target: its name and deletion mark, the exclude and zone
    labels, providerID, the autoscaler's deletion taint and its InternalIP addresses.

    Readiness, conditions, heartbeats and images are left out: Kubernetes does not resync load balancers for them
    (the balancer's own health check decides), so a change to them must not cost a reconcile.
    """
    meta = obj.get("metadata") or {}
    slim_meta: JSON = {"name": _intern(meta.get("name"))}
    if meta.get("deletionTimestamp") is not None:
        slim_meta["deletionTimestamp"] = meta["deletionTimestamp"]
    labels = meta.get("labels")
    if isinstance(labels, Mapping):
        kept = {k: _intern(labels[k]) for k in _NODE_LABELS if k in labels}
        if kept:
            slim_meta["labels"] = kept
    elif labels is not None:
        slim_meta["labels"] = labels
    slim: JSON = {"metadata": slim_meta}
    spec = obj.get("spec")
    if isinstance(spec, Mapping):
        slim_spec: JSON = {}
        if spec.get("providerID") is not None:
            slim_spec["providerID"] = spec["providerID"]
        taints = spec.get("taints")
        if isinstance(taints, list):
            kept_taints = [t for t in taints if not isinstance(t, Mapping) or t.get("key") == TO_BE_DELETED_TAINT]
            if kept_taints:
                slim_spec["taints"] = kept_taints
        elif taints is not None:
            slim_spec["taints"] = taints
        slim["spec"] = slim_spec
    elif spec is not None:
        slim["spec"] = spec
    status = obj.get("status")
    if isinstance(status, Mapping):
        addresses = status.get("addresses")
        if isinstance(addresses, list):
            addresses = [a for a in addresses if not isinstance(a, Mapping) or a.get("type") == "InternalIP"]
        slim["status"] = {"addresses": addresses} if addresses is not None else {}
    elif status is not None:
        slim["status"] = status
    return slim
