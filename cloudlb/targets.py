"""Target pools: Nodes and EndpointSlices -> frozensets of ``Target``.

Where this sits: ``kube.py`` decides the target mode and the listeners; this module turns the cluster's Nodes (node
mode) or the Service's EndpointSlices (pod mode) into each listener's pool. Pools of thousands of targets are
rebuilt on every sync, so each Node and slice is parsed once into plain tuples and the per-listener work is a single
comprehension. Errors name the field inside the object and carry the object's ``source`` (a file and document, or
its position in the arguments).
"""

from __future__ import annotations

import enum
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple, NoReturn

from cloudlb.errors import InvalidSpecError
from cloudlb.fields import ADDRESS_FAMILIES, child, index, opt_list, opt_map, opt_str, req_str, show, valid_ip
from cloudlb.model import Protocol, Target

__all__ = [
    "EXCLUDE_LABEL",
    "SERVICE_NAME_LABEL",
    "TO_BE_DELETED_TAINT",
    "NodePool",
    "ParsedSlice",
    "Sourced",
    "node_targets",
    "parse_slice",
    "pod_targets",
    "service_of_slice",
]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler"
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
_LIST_TYPES = (list, tuple)
_OPTIONAL_STR = (str, type(None))


class Sourced(NamedTuple):
    """A manifest and where it came from, for error messages."""

    body: object
    source: str | None


# (ip, node name, provider id, zone) of one eligible node
NodeInfo = tuple[str, str, str | None, str | None]


def _check_kind(body: object, kind: str, source: str | None) -> Mapping[str, Any]:
    if type(body) is not dict and not isinstance(body, Mapping):
        article = "an" if kind[0] in "AEIOU" else "a"
        raise InvalidSpecError("", f"{article} {kind} must be a mapping, not {show(body)}", source=source)
    found = body.get("kind")
    if found is not None and found != kind:
        raise InvalidSpecError("kind", f"expected {kind}, got {show(found)}", source=source)
    return body


@dataclass(slots=True)
class NodePool:
    """The cluster's Nodes, parsed at most once per IP family however many Services use them.

    ``sources`` gives each node's source for errors: one per node, or an argument name whose nodes are then
    ``name[0]``, ``name[1]``, ... (built only when an error needs it: pools can hold thousands of nodes).
    """

    bodies: Sequence[Any]
    sources: Sequence[str | None] | str
    _parsed: dict[str, list[NodeInfo]] = field(default_factory=dict)

    @classmethod
    def of(cls, nodes: Iterable[object]) -> NodePool:
        """A pool to pass as ``nodes`` to ``spec_from_manifests`` for many Services: the nodes are parsed once."""
        return cls(list(nodes), "nodes")

    def __iter__(self) -> Iterator[Any]:  # Any: it stands in for spec_from_manifests' Iterable[Mapping]
        return iter(self.bodies)

    def source(self, i: int) -> str | None:
        return f"{self.sources}[{i}]" if isinstance(self.sources, str) else self.sources[i]

    def eligible(self, family: str) -> list[NodeInfo]:
        cached = self._parsed.get(family)
        if cached is None:
            cached = self._parse(family)
            self._parsed[family] = cached
        return cached

    def _parse(self, family: str) -> list[NodeInfo]:
        af = ADDRESS_FAMILIES[family]
        canonicalise = af == socket.AF_INET6
        out: list[NodeInfo] = []
        for i, body in enumerate(self.bodies):
            info = _quick_node(body, af, canonicalise)
            if info is _IRREGULAR:
                try:
                    info = _parse_node(_check_kind(body, "Node", None), family)
                except InvalidSpecError as exc:
                    raise InvalidSpecError(exc.path, exc.message, source=self.source(i)) from None
            if info is not None:
                out.append(info)
        return out


class _Irregular(enum.Enum):
    """What ``_quick_node`` returns for a node it leaves to ``_parse_node``."""

    NODE = enum.auto()


_IRREGULAR: Final = _Irregular.NODE  # a module global: reading an Enum member off its class is slow in a loop
_NO_FIELDS: dict[str, Any] = {}


def _quick_node(node: object, af: int, canonicalise: bool) -> NodeInfo | _Irregular | None:
    """``_parse_node`` for the common, well-formed node, with exact type checks only: ~5x faster.

    Anything irregular returns ``_IRREGULAR`` and ``_parse_node`` decides, and names the error. Wherever this
    answers, it must answer as ``_parse_node`` does; test_kube_property compares the two.
    """
    if type(node) is not dict or node.get("kind", "Node") != "Node":
        return _IRREGULAR
    metadata = node.get("metadata")
    if type(metadata) is not dict:
        return _IRREGULAR
    name = metadata.get("name")
    if type(name) is not str or not name:
        return _IRREGULAR
    if metadata.get("deletionTimestamp") is not None:
        return None
    # ``x.get(k) or default`` would let a falsy wrong type ([] for a mapping) through; _parse_node refuses those.
    labels = metadata.get("labels")
    spec = node.get("spec")
    status = node.get("status")
    if labels is None:
        labels = _NO_FIELDS
    if spec is None:
        spec = _NO_FIELDS
    if type(labels) is not dict or type(spec) is not dict or type(status) is not dict:
        return _IRREGULAR
    if EXCLUDE_LABEL in labels:
        return None
    taints = spec.get("taints")
    if taints is None:
        taints = []
    elif type(taints) is not list:
        return _IRREGULAR
    for taint in taints:
        if type(taint) is not dict:
            return _IRREGULAR
        if taint.get("key") == TO_BE_DELETED_TAINT:
            return None
    provider_id = spec.get("providerID")
    zone = labels.get(ZONE_LABELS[0])
    old_zone = labels.get(ZONE_LABELS[1])
    if not (
        isinstance(provider_id, _OPTIONAL_STR)
        and isinstance(zone, _OPTIONAL_STR)
        and isinstance(old_zone, _OPTIONAL_STR)
    ):
        return _IRREGULAR
    addresses = status.get("addresses")
    if type(addresses) is not list:
        return _IRREGULAR
    for address in addresses:
        if type(address) is not dict:
            return _IRREGULAR
        if address.get("type") == "InternalIP":
            text = address.get("address")
            if type(text) is not str:
                return _IRREGULAR
            try:
                packed = socket.inet_pton(af, text)
            except (OSError, ValueError):
                return _IRREGULAR  # another family's InternalIP may follow, or it is an error: _parse_node knows
            ip = socket.inet_ntop(af, packed) if canonicalise else text
            return (ip, name, provider_id or None, zone or old_zone or None)
    return None


def _parse_node(node: Mapping[str, Any], family: str) -> NodeInfo | None:
    """The node's target address, or None when the node must not receive load-balancer traffic.

    Readiness is deliberately not consulted: the balancer's own health check decides, as Kubernetes does.
    """
    metadata = opt_map(node, "metadata", "")
    name = req_str(metadata, "name", "metadata")
    if metadata.get("deletionTimestamp") is not None:
        return None
    labels = opt_map(metadata, "labels", "metadata")
    if EXCLUDE_LABEL in labels:
        return None
    spec = opt_map(node, "spec", "")
    for i, taint in enumerate(opt_list(spec, "taints", "spec")):
        if not isinstance(taint, Mapping):
            raise InvalidSpecError(index("spec.taints", i), f"must be a mapping, not {show(taint)}")
        if taint.get("key") == TO_BE_DELETED_TAINT:
            return None
    provider_id = opt_str(spec, "providerID", "spec") or None
    zone = None
    for label in ZONE_LABELS:
        zone = opt_str(labels, label, "metadata.labels") or None
        if zone:
            break
    addresses = opt_list(opt_map(node, "status", ""), "addresses", "status")
    for i, address in enumerate(addresses):
        path = index("status.addresses", i)
        if not isinstance(address, Mapping):
            raise InvalidSpecError(path, f"must be a mapping, not {show(address)}")
        if address.get("type") != "InternalIP":
            continue
        text = address.get("address")
        ip = valid_ip(text, family)
        if ip is not None:
            return (ip, name, provider_id, zone)
        other = "IPv6" if family == "IPv4" else "IPv4"
        if valid_ip(text, other) is None:
            raise InvalidSpecError(child(path, "address"), f"{show(text)} is not an IP address")
    return None  # no InternalIP of this family: the node cannot be a target


def node_targets(nodes: Iterable[NodeInfo], node_port: int) -> frozenset[Target]:
    return frozenset([Target(ip, node_port, name, provider_id, zone) for ip, name, provider_id, zone in nodes])


def service_of_slice(body: object, source: str | None) -> tuple[str, str] | None:
    """``(namespace, service name)`` an EndpointSlice belongs to, or None when it has no service-name label."""
    slice_ = _check_kind(body, "EndpointSlice", source)
    try:
        metadata = opt_map(slice_, "metadata", "")
        labels = opt_map(metadata, "labels", "metadata")
        service = opt_str(labels, SERVICE_NAME_LABEL, "metadata.labels")
        namespace = opt_str(metadata, "namespace", "metadata") or "default"
    except InvalidSpecError as exc:
        raise InvalidSpecError(exc.path, exc.message, source=source) from None
    return (namespace, service) if service else None


class SlicePort(NamedTuple):
    name: str
    protocol: str
    port: int


# (ip, node name, zone) of one ready endpoint
EndpointInfo = tuple[str, str | None, str | None]


class ParsedSlice(NamedTuple):
    ports: tuple[SlicePort, ...]
    endpoints: tuple[EndpointInfo, ...]


def parse_slice(slice_: Sourced, family: str) -> ParsedSlice | None:
    """The ready endpoints and ports of one slice, or None when the slice holds another address family."""
    body = _check_kind(slice_.body, "EndpointSlice", slice_.source)
    try:
        return _parse_slice(body, family)
    except InvalidSpecError as exc:
        raise InvalidSpecError(exc.path, exc.message, source=slice_.source) from None


def _parse_slice(body: Mapping[str, Any], family: str) -> ParsedSlice | None:
    address_type = body.get("addressType")
    if address_type == "FQDN" or (address_type in ("IPv4", "IPv6") and address_type != family):
        return None
    if address_type != family:
        raise InvalidSpecError("addressType", f"{show(address_type)} is not one of: IPv4, IPv6, FQDN")
    ports = []
    for i, raw in enumerate(opt_list(body, "ports", "")):
        path = index("ports", i)
        if not isinstance(raw, Mapping):
            raise InvalidSpecError(path, f"must be a mapping, not {show(raw)}")
        number = raw.get("port")
        if number is None:
            continue  # a null port means "all ports", which a balancer cannot express
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 65535:
            raise InvalidSpecError(child(path, "port"), f"{show(number)} is not a port (1..65535)")
        name = opt_str(raw, "name", path) or ""
        protocol = opt_str(raw, "protocol", path) or "TCP"
        ports.append(SlicePort(name, protocol, number))
    return ParsedSlice(tuple(ports), _ready_endpoints(opt_list(body, "endpoints", ""), family))


def _ready_endpoints(endpoints: Sequence[Any], family: str) -> tuple[EndpointInfo, ...]:
    """The ready endpoints. This loop runs once per endpoint on every sync, so the happy path is kept flat: exact
    ``dict`` type checks before the slower ABC checks, and ``inet_pton`` inline. Anything unexpected goes to
    ``_bad_endpoint``, which finds the precise error."""
    af = ADDRESS_FAMILIES[family]
    canonicalise = af == socket.AF_INET6  # an accepted IPv4 string is already canonical (no leading zeros)
    out: list[EndpointInfo] = []
    append = out.append
    for i, endpoint in enumerate(endpoints):
        if type(endpoint) is not dict and not isinstance(endpoint, Mapping):
            _bad_endpoint(i, endpoint, family)
        conditions = endpoint.get("conditions")
        if conditions is None:
            ready = terminating = None
        elif type(conditions) is dict or isinstance(conditions, Mapping):
            ready = conditions.get("ready")
            terminating = conditions.get("terminating")
        else:
            _bad_endpoint(i, endpoint, family)
        # identity checks, not ``in`` or ``==``: 1 == True, and a YAML 1 or 0 must not pass for a boolean
        if (ready is not None and ready is not True and ready is not False) or (
            terminating is not None and terminating is not True and terminating is not False
        ):
            _bad_endpoint(i, endpoint, family)
        addresses = endpoint.get("addresses")
        if not isinstance(addresses, _LIST_TYPES) or not addresses:
            _bad_endpoint(i, endpoint, family)
        ip = addresses[0]
        try:
            packed = socket.inet_pton(af, ip)
        except (OSError, ValueError, TypeError):
            _bad_endpoint(i, endpoint, family)
        node = endpoint.get("nodeName")
        zone = endpoint.get("zone")
        if not isinstance(node, _OPTIONAL_STR) or not isinstance(zone, _OPTIONAL_STR):
            _bad_endpoint(i, endpoint, family)
        if ready is False or terminating is True:
            continue
        append((socket.inet_ntop(af, packed) if canonicalise else ip, node or None, zone or None))
    return tuple(out)


def _bad_endpoint(i: int, endpoint: object, family: str) -> NoReturn:
    """Raise the precise error for an endpoint that failed the fast checks."""
    path = index("endpoints", i)
    if not isinstance(endpoint, Mapping):
        raise InvalidSpecError(path, f"must be a mapping, not {show(endpoint)}")
    conditions = opt_map(endpoint, "conditions", path)
    for key in ("ready", "terminating"):
        value = conditions.get(key)
        if not (value is None or value is True or value is False):
            raise InvalidSpecError(child(child(path, "conditions"), key), f"must be true or false, not {show(value)}")
    addresses = opt_list(endpoint, "addresses", path)
    if not addresses:
        raise InvalidSpecError(child(path, "addresses"), "at least one address is required")
    if valid_ip(addresses[0], family) is None:
        raise InvalidSpecError(index(child(path, "addresses"), 0), f"{show(addresses[0])} is not an {family} address")
    opt_str(endpoint, "nodeName", path)
    opt_str(endpoint, "zone", path)
    raise InvalidSpecError(path, "is malformed")  # pragma: no cover  # the fast checks and these ones agree


def pod_targets(slices: Iterable[ParsedSlice], port_name: str, protocol: Protocol) -> frozenset[Target]:
    """Every ready endpoint at the slice port whose name and protocol match the Service port."""
    wanted = str(protocol)
    out: list[Target] = []
    for parsed in slices:
        port = next((p.port for p in parsed.ports if p.name == port_name and p.protocol == wanted), None)
        if port is not None:
            out.extend([Target(ip, port, node, None, zone) for ip, node, zone in parsed.endpoints])
    return frozenset(out)
