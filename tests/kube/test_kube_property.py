"""Property: whatever it is given, the mapping either builds a spec or raises InvalidSpecError, nothing else."""

from __future__ import annotations

import contextlib
import copy
import socket
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cloudlb import InvalidSpecError, LoadBalancerSpec, spec_from_manifests
from cloudlb.annotations import explain
from cloudlb.fields import ADDRESS_FAMILIES
from cloudlb.kube import is_managed
from cloudlb.manifests import parse_documents
from cloudlb.targets import _Irregular, _parse_node, _quick_node
from tests.kube.builders import endpoint, endpoint_slice, node, port, service

# Keys the mapping reads, so that random documents often reach deep into the code rather than stop at the top.
KEYS = [
    "kind", "metadata", "name", "namespace", "uid", "annotations", "labels", "spec", "type", "ports", "port",
    "nodePort", "targetPort", "protocol", "loadBalancerClass", "ipFamilies", "allocateLoadBalancerNodePorts",
    "externalTrafficPolicy", "healthCheckNodePort", "sessionAffinity", "sessionAffinityConfig", "clientIP",
    "timeoutSeconds", "loadBalancerSourceRanges", "loadBalancerIP", "status", "addresses", "address", "taints",
    "key", "providerID", "deletionTimestamp", "endpoints", "conditions", "ready", "terminating", "nodeName", "zone",
    "addressType", "kubernetes.io/service-name", "cloudlb.io/target-type", "cloudlb.io/algorithm",
]  # fmt: skip
SCALARS = [
    "Service", "LoadBalancer", "Node", "EndpointSlice", "TCP", "UDP", "Local", "ClientIP", "InternalIP", "IPv4",
    "IPv6", "FQDN", "pod", "10.0.0.1", "fd00::1", "web", "demo", "true", "", 0, 80, 30080, 70000, -1, True, False,
    None, 1.5, float("nan"), 2**70,
]  # fmt: skip

scalars = st.sampled_from(SCALARS) | st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4) | st.integers(), inner, max_size=5)
    ),
    max_leaves=30,
)


def builds_or_refuses(svc: Any, slices: Any, nodes: Any) -> LoadBalancerSpec | None:
    try:
        return spec_from_manifests(svc, slices, nodes)
    except InvalidSpecError as error:
        assert isinstance(error.path, str) and str(error)
        return None


@given(svc=values, slices=st.lists(values, max_size=3), nodes=st.lists(values, max_size=3))
def test_arbitrary_values_raise_only_invalid_spec_error(svc: Any, slices: Any, nodes: Any) -> None:
    builds_or_refuses(svc, slices, nodes)
    assert isinstance(is_managed(svc), bool)


def base_manifests(pod_mode: bool) -> tuple[dict[str, Any], list[Any], list[Any]]:
    annotations = {"cloudlb.io/algorithm": "random", "cloudlb.io/health-check-protocol": "HTTP"}
    if pod_mode:
        annotations["cloudlb.io/target-type"] = "pod"
    svc = service(
        ports=[port(), port(name="dns", port=53, protocol="UDP", node_port=30053)],
        annotations=annotations,
        loadBalancerSourceRanges=["10.0.0.0/8"],
        externalTrafficPolicy="Local",
        healthCheckNodePort=32000,
        sessionAffinity="ClientIP",
        sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}},
        ipFamilies=["IPv4"],
        loadBalancerIP="10.0.0.100",
    )
    svc["metadata"]["annotations"].pop("cloudlb.io/algorithm")  # ClientIP implies source-ip
    slices = [endpoint_slice(endpoints=[endpoint("10.9.0.1", node_name="n1", zone="z"), endpoint("10.9.0.2")])]
    nodes = [node("n1", "10.0.0.1", taints=[{"key": "k"}], labels={"topology.kubernetes.io/zone": "z"})]
    return svc, slices, nodes


def leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``value``, containers included, so a mutation can replace a whole subtree."""
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out.extend(leaf_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out.extend(leaf_paths(child, (*prefix, i)))
    return out


def replace(root: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    target = root
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return root


@given(data=st.data(), pod_mode=st.booleans())
def test_valid_manifests_with_one_field_replaced_raise_only_invalid_spec_error(
    data: st.DataObject, pod_mode: bool
) -> None:
    manifests = list(base_manifests(pod_mode))
    assert builds_or_refuses(*manifests) is not None  # the unmutated input is valid, so mutations start from a spec
    which = data.draw(st.integers(0, 2), label="object")
    path = data.draw(st.sampled_from(leaf_paths(manifests[which])), label="path")
    manifests[which] = replace(copy.deepcopy(manifests[which]), path, data.draw(values, label="new value"))

    builds_or_refuses(*manifests)


@given(text=st.text(max_size=200))
def test_arbitrary_text_parses_or_raises_invalid_spec_error(text: str) -> None:
    try:
        documents = parse_documents(text, "fuzz.yaml")
    except InvalidSpecError:
        return
    for document in documents:
        with contextlib.suppress(InvalidSpecError):
            explain(document.body)


def base_nodes() -> list[dict[str, Any]]:
    return [
        node("plain", "10.0.0.1"),
        node("zoned", "10.0.0.2", labels={"failure-domain.beta.kubernetes.io/zone": "z"}, provider_id="p://2"),
        node("tainted", "10.0.0.3", taints=[{"key": "other"}, {"key": "ToBeDeletedByClusterAutoscaler"}]),
        node("dual", "10.0.0.4", extra_addresses=[{"type": "InternalIP", "address": "fd00::4"}]),
    ]


@given(data=st.data(), family=st.sampled_from(["IPv4", "IPv6"]))
def test_quick_node_path_agrees_with_the_checked_one(data: st.DataObject, family: str) -> None:
    body = data.draw(st.sampled_from(base_nodes()), label="node")
    path = data.draw(st.sampled_from(leaf_paths(body)), label="path")
    mutated = replace(copy.deepcopy(body), path, data.draw(values, label="new value"))
    af = ADDRESS_FAMILIES[family]

    quick = _quick_node(mutated, af, af == socket.AF_INET6)

    if quick is not _Irregular.NODE:  # where the quick path answers, the checked path must agree
        assert _parse_node(mutated, family) == quick
