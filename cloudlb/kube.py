"""Kubernetes manifests -> ``LoadBalancerSpec``: the "build" step of the pipeline.

Where this sits: a Service, its EndpointSlices and the cluster's Nodes (plain dicts, from files or the API server)
go in; one frozen ``LoadBalancerSpec`` comes out, which a provider then plans and applies. Building is pure and does
no I/O except in ``load_manifests``. Every bad input raises ``InvalidSpecError`` naming the field path, and nothing
else escapes, whatever the input. The per-field policies (health check, scheme, affinity, ...) live in
``service_options.py`` and the target pools in ``targets.py``; this module holds identity, ports, the target mode
and the glue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudlb import service_options as options
from cloudlb.annotations import AWS_TARGET_TYPE, TARGET_TYPE, annotation_path, parse_choice, read_annotations
from cloudlb.errors import InvalidSpecError
from cloudlb.fields import child, index, opt_bool, opt_list, opt_map, opt_str, port_number, req_str, show
from cloudlb.manifests import Document, load_documents
from cloudlb.model import Listener, LoadBalancerSpec, Protocol, TargetMode
from cloudlb.targets import NodePool, ParsedSlice, Sourced, node_targets, parse_slice, pod_targets, service_of_slice

__all__ = ["CLASS_PREFIX", "NodePool", "is_managed", "load_manifests", "spec_from_manifests", "specs_from_documents"]

CLASS_PREFIX = "cloudlb.io/"
_PROTOCOLS = {p.value: p for p in Protocol}
_TARGET_TYPES = {"node": TargetMode.NODE, "pod": TargetMode.POD}
_AWS_TARGET_TYPES = {"instance": TargetMode.NODE, "ip": TargetMode.POD}


def spec_from_manifests(
    service: Mapping[str, Any],
    endpoint_slices: Iterable[Mapping[str, Any]] = (),
    nodes: Iterable[Mapping[str, Any]] = (),
    *,
    cluster: str = "default",
) -> LoadBalancerSpec:
    """The load balancer ``service`` asks for. Slices of other Services are ignored; all ``nodes`` are candidates.

    Errors in a slice or node carry ``source="endpoint_slices[i]"`` or ``"nodes[i]"``, their position here.
    A caller building many Services over the same nodes (a controller) passes ``NodePool.of(nodes)`` once, so the
    nodes are parsed once rather than per Service.
    """
    if not isinstance(service, Mapping):
        raise InvalidSpecError("", f"a Service must be a mapping, not {show(service)}")
    namespace, name = _identity(service)
    own: list[Sourced] = []
    for i, body in enumerate(_as_list(endpoint_slices, "endpoint_slices")):
        source = f"endpoint_slices[{i}]"
        if service_of_slice(body, source) == (namespace, name):
            own.append(Sourced(body, source))
    pool = nodes if isinstance(nodes, NodePool) else NodePool(_as_list(nodes, "nodes"), "nodes")
    return _build(service, slices=own, nodes=pool, cluster=cluster)


def _as_list(items: Iterable[Any], what: str) -> list[Any]:
    if isinstance(items, (str, bytes, Mapping)):
        raise InvalidSpecError(what, f"must be a list of manifests, not {show(items)}")
    try:
        return list(items)
    except TypeError:
        raise InvalidSpecError(what, f"must be a list of manifests, not {show(items)}") from None


def load_manifests(paths: Iterable[str | Path], *, cluster: str = "default") -> list[LoadBalancerSpec]:
    """One spec per LoadBalancer Service in ``paths`` (``-`` is stdin), in file order.

    EndpointSlices and Nodes from every file are shared: slices join their Service by the
    ``kubernetes.io/service-name`` label in the same namespace, and every Node is a candidate target. Services of
    another type, or with a ``spec.loadBalancerClass`` that is not ``cloudlb.io/...``, are skipped.
    """
    return specs_from_documents(load_documents(paths), cluster=cluster)


def specs_from_documents(documents: Iterable[Document], *, cluster: str = "default") -> list[LoadBalancerSpec]:
    """``load_manifests`` for documents already read (the CLI uses it to report per-document results)."""
    services: list[Document] = []
    slices: dict[tuple[str, str], list[Sourced]] = {}
    nodes: list[Sourced] = []
    for doc in documents:
        kind = doc.kind
        if kind is None:
            raise InvalidSpecError("kind", "required: every manifest needs apiVersion and kind", source=doc.source)
        if kind == "Service":
            services.append(doc)
        elif kind == "EndpointSlice":
            owner = service_of_slice(doc.body, doc.source)
            if owner is not None:
                slices.setdefault(owner, []).append(Sourced(doc.body, doc.source))
        elif kind == "Node":
            nodes.append(Sourced(doc.body, doc.source))
    pool = NodePool([node.body for node in nodes], [node.source for node in nodes])
    seen: dict[tuple[str, str], str] = {}
    specs: list[LoadBalancerSpec] = []
    for doc in services:
        try:
            if not _managed(doc.body, None):
                continue
            key = _identity(doc.body)
            if key in seen:
                raise InvalidSpecError("metadata.name", f"Service {key[0]}/{key[1]} is also defined in {seen[key]}")
            seen[key] = doc.source
            specs.append(_build(doc.body, slices=slices.get(key, ()), nodes=pool, cluster=cluster))
        except InvalidSpecError as exc:
            if exc.source is not None:  # from a slice or a node: already says where
                raise
            raise InvalidSpecError(exc.path, exc.message, source=doc.source) from None
    return specs


def is_managed(service: Mapping[str, Any], *, load_balancer_class: str | None = None) -> bool:
    """Whether cloudlb should give ``service`` a load balancer. Never raises: a malformed Service is not managed.

    Without ``load_balancer_class``: a LoadBalancer Service with no class or any ``cloudlb.io/...`` class. With it
    (a controller serving one class): a LoadBalancer Service with no class or exactly that class.
    """
    try:
        return _managed(service, load_balancer_class)
    except InvalidSpecError:
        return False


def _managed(service: object, load_balancer_class: str | None) -> bool:
    if not isinstance(service, Mapping):
        raise InvalidSpecError("", f"a Service must be a mapping, not {show(service)}")
    spec = opt_map(service, "spec", "")
    if opt_str(spec, "type", "spec") != "LoadBalancer":
        return False
    cls = opt_str(spec, "loadBalancerClass", "spec")
    if not cls:
        return True
    if load_balancer_class is not None:
        return cls == load_balancer_class
    return cls.startswith(CLASS_PREFIX)


def _identity(service: Mapping[str, Any]) -> tuple[str, str]:
    metadata = opt_map(service, "metadata", "")
    name = req_str(metadata, "name", "metadata")
    namespace = opt_str(metadata, "namespace", "metadata") or "default"
    return namespace, name


@dataclass(frozen=True, slots=True)
class _Port:
    name: str
    protocol: Protocol
    port: int
    node_port: int | None
    target_port: int | str


def _build(service: Mapping[str, Any], *, slices: Sequence[Sourced], nodes: NodePool, cluster: str) -> LoadBalancerSpec:
    if not isinstance(cluster, str) or not cluster:
        raise InvalidSpecError("cluster", f"must be a non-empty string, not {show(cluster)}")
    kind = service.get("kind")
    if kind is not None and kind != "Service":
        raise InvalidSpecError("kind", f"expected Service, got {show(kind)}")
    namespace, name = _identity(service)
    metadata = opt_map(service, "metadata", "")
    uid = opt_str(metadata, "uid", "metadata") or ""
    annotations = read_annotations(metadata)
    lookup = dict(annotations)  # plain-dict lookups: FrozenDict.get goes through the slower Mapping mixin
    spec = opt_map(service, "spec", "")
    service_type = opt_str(spec, "type", "spec")
    if service_type != "LoadBalancer":
        shown = "missing (defaults to ClusterIP)" if service_type is None else show(service_type)
        raise InvalidSpecError("spec.type", f"{shown}; cloudlb only handles Services of type LoadBalancer")
    families = options.ip_families(spec)
    ports = _ports(spec)
    mode = _target_mode(spec, lookup, ports)
    traffic = options.traffic(spec, mode)
    algorithm, affinity, affinity_timeout = options.affinity(spec, lookup)
    # Every Service field is checked before the targets, so a Service error wins over a slice or node error and
    # costs no pool parsing.
    scheme = options.scheme(lookup)
    health_check = options.health_check(lookup, traffic)
    source_ranges = options.source_ranges(spec, lookup)
    load_balancer_ip = options.load_balancer_ip(spec)
    proxy_protocol = options.proxy_protocol(lookup)
    load_balancer_class = opt_str(spec, "loadBalancerClass", "spec") or None
    tags = options.tags(lookup)
    family = str(families[0])  # targets use the primary family, as kube-proxy's primary does
    return LoadBalancerSpec(
        cluster=cluster,
        namespace=namespace,
        name=name,
        uid=uid,
        listeners=_listeners(ports, mode, family, slices, nodes),
        target_mode=mode,
        scheme=scheme,
        algorithm=algorithm,
        health_check=health_check,
        source_ranges=source_ranges,
        session_affinity=affinity,
        affinity_timeout=affinity_timeout,
        load_balancer_ip=load_balancer_ip,
        ip_families=families,
        traffic_policy=traffic.policy,
        health_check_node_port=traffic.health_check_node_port,
        proxy_protocol=proxy_protocol,
        load_balancer_class=load_balancer_class,
        tags=tags,
        annotations=annotations,
    )


def _ports(spec: Mapping[str, Any]) -> list[_Port]:
    raw_ports = opt_list(spec, "ports", "spec")
    if not raw_ports:
        raise InvalidSpecError("spec.ports", "at least one port is required")
    ports: list[_Port] = []
    names: dict[str, int] = {}
    keys: dict[tuple[Protocol, int], int] = {}
    for i, raw in enumerate(raw_ports):
        path = index("spec.ports", i)
        if not isinstance(raw, Mapping):
            raise InvalidSpecError(path, f"must be a mapping, not {show(raw)}")
        port = _parse_port(raw, path, several=len(raw_ports) > 1)
        if port.name in names:
            raise InvalidSpecError(
                child(path, "name"), f"{show(port.name)} is also the name of spec.ports[{names[port.name]}]"
            )
        key = (port.protocol, port.port)
        if key in keys:
            raise InvalidSpecError(path, f"{port.protocol}/{port.port} duplicates spec.ports[{keys[key]}]")
        names[port.name] = i
        keys[key] = i
        ports.append(port)
    return ports


def _parse_port(raw: Mapping[str, Any], path: str, *, several: bool) -> _Port:
    name = opt_str(raw, "name", path) or ""
    if several and not name:
        raise InvalidSpecError(child(path, "name"), "required when a Service has more than one port")
    protocol_text = opt_str(raw, "protocol", path) or "TCP"
    protocol = _PROTOCOLS.get(protocol_text)
    if protocol is None:
        raise InvalidSpecError(child(path, "protocol"), f"{show(protocol_text)} is not one of: TCP, UDP, SCTP")
    number = port_number(raw, "port", path)
    if number is None:
        raise InvalidSpecError(child(path, "port"), "required")
    return _Port(
        name=name,
        protocol=protocol,
        port=number,
        node_port=port_number(raw, "nodePort", path),
        target_port=_target_port(raw, path, number),
    )


def _target_port(raw: Mapping[str, Any], path: str, default: int) -> int | str:
    """``targetPort``: a number, or the name of a container port; the API server defaults it to ``port``."""
    value = raw.get("targetPort")
    if value is None:
        return default
    if isinstance(value, str):
        if not options.is_port_name(value):
            raise InvalidSpecError(
                child(path, "targetPort"),
                f"{show(value)} is not a port number or a port name (lowercase letters, digits and -, at most 15)",
            )
        return value
    number = port_number(raw, "targetPort", path)
    assert number is not None  # a non-null value is an int in range or port_number has raised
    return number


def _target_mode(spec: Mapping[str, Any], annotations: Mapping[str, str], ports: Sequence[_Port]) -> TargetMode:
    explicit: TargetMode | None = parse_choice(annotations, TARGET_TYPE, _TARGET_TYPES)
    aws: TargetMode | None = parse_choice(annotations, AWS_TARGET_TYPE, _AWS_TARGET_TYPES)
    if explicit is not None and aws is not None and explicit != aws:
        raise InvalidSpecError(
            annotation_path(AWS_TARGET_TYPE),
            f"{show(annotations[AWS_TARGET_TYPE])} conflicts with {annotation_path(TARGET_TYPE)}: "
            f"{show(annotations[TARGET_TYPE])}",
        )
    mode = explicit or aws
    allocate = opt_bool(spec, "allocateLoadBalancerNodePorts", "spec")
    if mode is None:
        no_node_ports = all(p.node_port is None for p in ports)
        mode = TargetMode.POD if allocate is False and no_node_ports else TargetMode.NODE
    if mode is TargetMode.NODE:
        for i, port in enumerate(ports):
            if port.node_port is None:
                raise InvalidSpecError(
                    f"spec.ports[{i}].nodePort",
                    f"required for node targets; set it, or use the annotation {TARGET_TYPE}: pod",
                )
    return mode


def _listeners(
    ports: Sequence[_Port], mode: TargetMode, family: str, slices: Sequence[Sourced], nodes: NodePool
) -> tuple[Listener, ...]:
    if mode is TargetMode.NODE:
        eligible = nodes.eligible(family)
        return tuple(
            Listener(p.name, p.protocol, p.port, p.node_port, p.target_port, node_targets(eligible, p.node_port or 0))
            for p in ports
        )
    parsed: list[ParsedSlice] = []
    for slice_ in slices:
        result = parse_slice(slice_, family)
        if result is not None:
            parsed.append(result)
    return tuple(
        Listener(p.name, p.protocol, p.port, p.node_port, p.target_port, pod_targets(parsed, p.name, p.protocol))
        for p in ports
    )
