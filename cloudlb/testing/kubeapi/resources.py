"""The resource types the fake API server serves, and the discovery documents that describe them.

Where this sits: ``server.py`` routes a URL to a ``ResourceType`` here; ``registry.py`` reads each type's traits
(namespaced, status subresource, what DELETE answers) to apply the real API server's semantics; ``patch.py`` takes
each type's strategic-merge list strategies from ``MERGE_LISTS``. Adding a kind is one ``ResourceType`` entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cloudlb.testing.kubeapi.events import from_events_v1, to_events_v1

__all__ = [
    "MERGE_LISTS",
    "RESOURCES",
    "ListStrategy",
    "ResourceType",
    "canonical",
    "discovery",
    "find_kind",
    "find_route",
]

Converter = Callable[[dict[str, Any]], dict[str, Any]]

_META_FIELDS = {"metadata.name": ("metadata", "name"), "metadata.namespace": ("metadata", "namespace")}
_EVENT_FIELDS = {
    **_META_FIELDS,
    **{f"involvedObject.{f}": ("involvedObject", f) for f in ("kind", "namespace", "name", "uid", "apiVersion")},
    **{f"regarding.{f}": ("involvedObject", f) for f in ("kind", "namespace", "name", "uid", "apiVersion")},
    "reason": ("reason",),
    "type": ("type",),
    "reportingComponent": ("reportingComponent",),
    "source": ("source", "component"),
}


@dataclass(frozen=True, eq=False)
class ResourceType:
    """One REST resource. Two types may share a ``storage`` (core and events.k8s.io Events are one store)."""

    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    storage: str
    singular: str
    short_names: tuple[str, ...] = ()
    status_subresource: bool = False
    keeps_status_on_create: bool = False  # a kubelet registers its Node with addresses already in status
    returns_deleted_object: bool = False  # else a finished DELETE answers with a Success Status
    field_labels: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(_META_FIELDS))
    to_wire: Converter | None = None  # stored form -> this group's form
    from_wire: Converter | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def wire(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self.to_wire(obj) if self.to_wire else obj

    def stored(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self.from_wire(obj) if self.from_wire else obj


RESOURCES: tuple[ResourceType, ...] = (
    ResourceType(
        "", "v1", "services", "Service", True, "services", "service", ("svc",),
        status_subresource=True, returns_deleted_object=True,
    ),
    ResourceType(
        "", "v1", "nodes", "Node", False, "nodes", "node", ("no",),
        status_subresource=True, keeps_status_on_create=True,
        field_labels={**_META_FIELDS, "spec.unschedulable": ("spec", "unschedulable")},
    ),
    ResourceType("", "v1", "events", "Event", True, "events", "event", ("ev",), field_labels=_EVENT_FIELDS),
    ResourceType(
        "events.k8s.io", "v1", "events", "Event", True, "events", "event", ("ev",),
        field_labels=_EVENT_FIELDS, to_wire=to_events_v1, from_wire=from_events_v1,
    ),
    ResourceType("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True, "endpointslices", "endpointslice"),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True, "leases", "lease"),
)  # fmt: skip


@dataclass(frozen=True)
class ListStrategy:
    """How strategic merge treats one list field: merged by ``key``, or as a set of primitives when key is None.

    Lists not named in ``MERGE_LISTS`` are atomic: a patch replaces them whole (``status.loadBalancer.ingress``).
    """

    key: str | None = None


_META_LISTS = {"metadata.finalizers": ListStrategy(), "metadata.ownerReferences": ListStrategy("uid")}

# The patchStrategy/patchMergeKey tags of the Go types, for the fields of the kinds served here.
MERGE_LISTS: dict[str, dict[str, ListStrategy]] = {
    "services": {
        **_META_LISTS,
        "spec.ports": ListStrategy("port"),
        "status.conditions": ListStrategy("type"),
    },
    "nodes": {
        **_META_LISTS,
        "status.conditions": ListStrategy("type"),
        "status.addresses": ListStrategy("type"),
    },
    "events": _META_LISTS,
    "endpointslices": _META_LISTS,
    "leases": _META_LISTS,
}

_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def canonical(storage: str) -> ResourceType:
    """The type whose form a storage keeps (the first listed; core/v1 for Events)."""
    return next(rt for rt in RESOURCES if rt.storage == storage)


def find_route(group: str, version: str, plural: str) -> ResourceType | None:
    for rt in RESOURCES:
        if (rt.group, rt.version, rt.plural) == (group, version, plural):
            return rt
    return None


def find_kind(kind: str, api_version: str | None = None) -> ResourceType:
    """The type a test helper means by ``kind`` ("Service", "services" or "svc"); core wins when two groups match."""
    wanted = kind.lower()
    for rt in RESOURCES:
        if api_version not in (None, rt.api_version):
            continue
        if wanted in (rt.kind.lower(), rt.plural, rt.singular, *rt.short_names):
            return rt
    raise KeyError(f"the fake API server serves no kind {kind!r}" + (f" in {api_version}" if api_version else ""))


def _group_versions() -> list[str]:
    seen: dict[str, None] = {}
    for rt in RESOURCES:
        if rt.group:
            seen.setdefault(rt.group)
    return list(seen)


def _resource_list(group_version: str, types: Iterable[ResourceType]) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for rt in types:
        resources.append(
            {
                "name": rt.plural,
                "singularName": rt.singular,
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": _VERBS,
                **({"shortNames": list(rt.short_names)} if rt.short_names else {}),
            }
        )
        if rt.status_subresource:
            resources.append(
                {
                    "name": f"{rt.plural}/status",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


def _group(name: str) -> dict[str, Any]:
    versions = [{"groupVersion": rt.api_version, "version": rt.version} for rt in RESOURCES if rt.group == name]
    unique = list({v["groupVersion"]: v for v in versions}.values())
    return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": unique, "preferredVersion": unique[0]}


def discovery(segments: list[str], server_address: str) -> dict[str, Any] | None:
    """The discovery document at ``/api``, ``/api/v1``, ``/apis``, ``/apis/G`` or ``/apis/G/V``; None elsewhere."""
    match segments:
        case ["api"]:
            cidrs = [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": cidrs}
        case ["api", "v1"]:
            return _resource_list("v1", (rt for rt in RESOURCES if not rt.group))
        case ["apis"]:
            groups = [
                {k: v for k, v in _group(g).items() if k not in ("kind", "apiVersion")} for g in _group_versions()
            ]
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        case ["apis", group] if group in _group_versions():
            return _group(group)
        case ["apis", group, version]:
            types = [rt for rt in RESOURCES if (rt.group, rt.version) == (group, version)]
            return _resource_list(f"{group}/{version}", types) if types else None
    return None
