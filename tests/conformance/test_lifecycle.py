"""Conformance: ensure/get/delete round trips, idempotency, identity-only specs and list_owned.

Every assertion about the cloud reads it back through the harness, never through what the provider returned.
"""

from __future__ import annotations

import collections
from typing import Any

import pytest

from cloudlb.capabilities import required_features
from cloudlb.errors import UnsupportedFeatureError
from cloudlb.model import (
    Algorithm,
    FrozenDict,
    HealthCheck,
    HealthCheckProtocol,
    LoadBalancerSpec,
    Protocol,
    Scheme,
    SessionAffinity,
    TargetMode,
)
from cloudlb.naming import ownership_tags
from cloudlb.provider import Provider
from tests.conformance.harness import Harness, ResourceView, expected_listeners, owned_resources

TCP, UDP = Protocol.TCP, Protocol.UDP

# Spec shapes every provider must converge on and then leave alone; a provider that cannot honour one must say so.
SHAPES = [
    pytest.param({}, id="one-tcp-listener"),
    pytest.param({"ports": ((TCP, 80), (TCP, 443))}, id="two-tcp-listeners"),
    pytest.param({"ports": ((TCP, 53), (UDP, 53))}, id="mixed-protocols"),
    pytest.param({"nodes": ()}, id="no-targets"),
    pytest.param({"target_mode": TargetMode.POD}, id="pod-targets"),
    pytest.param({"source_ranges": ("10.0.0.0/8", "192.168.0.0/16")}, id="source-ranges"),
    pytest.param({"session_affinity": SessionAffinity.CLIENT_IP}, id="client-ip-affinity"),
    pytest.param({"scheme": Scheme.INTERNAL}, id="internal"),
    pytest.param(
        {"health_check": HealthCheck(protocol=HealthCheckProtocol.HTTP, port=31000, path="/healthz")},
        id="http-health-check",
    ),
    pytest.param({"algorithm": Algorithm.LEAST_CONNECTIONS}, id="least-connections"),
    pytest.param({"tags": FrozenDict({"team": "web", "cost-center": "42"})}, id="user-tags"),
]


def assert_matches(harness: Harness, spec: LoadBalancerSpec) -> str:
    """The cloud holds exactly one balancer for ``spec``, equal to it; returns its cloud id."""
    found = harness.read_back(spec)
    assert len(found) == 1, f"expected one balancer for {spec.ref}, found {len(found)}"
    observed = found[0]
    assert observed.listeners == expected_listeners(spec)
    assert observed.internal == (spec.scheme is Scheme.INTERNAL)
    assert ownership_tags(spec.ref).items() <= observed.tags.items()
    assert spec.tags.items() <= observed.tags.items()
    return observed.cloud_id


def kinds(resources: list[ResourceView]) -> collections.Counter[str]:
    return collections.Counter(resource.kind for resource in resources)


def supported(provider: Provider, spec: LoadBalancerSpec) -> bool:
    return required_features(spec) <= provider.capabilities


@pytest.mark.parametrize("shape", SHAPES)
def test_ensure_get_delete_round_trip(harness: Harness, provider: Provider, shape: dict[str, Any]) -> None:
    spec = harness.make_spec(**shape)
    if not supported(provider, spec):
        with pytest.raises(UnsupportedFeatureError):
            provider.ensure(spec)
        assert harness.read_back(spec) == []
        return

    status = provider.ensure(spec)

    cloud_id = assert_matches(harness, spec)
    got = provider.get(spec)
    assert got is not None
    assert got.cloud_id == status.cloud_id == cloud_id
    assert provider.delete(spec) is True
    assert harness.read_back(spec) == []
    assert owned_resources(harness, spec) == []
    assert provider.get(spec) is None


@pytest.mark.parametrize("shape", SHAPES)
def test_second_ensure_makes_no_mutating_call(harness: Harness, provider: Provider, shape: dict[str, Any]) -> None:
    spec = harness.make_spec(**shape)
    if not supported(provider, spec):
        with pytest.raises(UnsupportedFeatureError):
            provider.plan(spec)
        return
    provider.ensure(spec)
    before = harness.mutating_calls()

    plan = provider.plan(spec)
    provider.ensure(spec)

    assert plan.is_empty, str(plan)
    assert harness.mutating_calls() == before
    assert_matches(harness, spec)


def test_plan_is_read_only(harness: Harness, provider: Provider) -> None:
    spec = harness.make_spec(ports=((TCP, 80), (TCP, 443)))
    before = harness.mutating_calls()

    first = provider.plan(spec)

    assert not first.is_empty
    assert harness.read_back(spec) == []
    provider.ensure(spec)
    changed = harness.make_spec(ports=((TCP, 80), (TCP, 8443)), nodes=range(2, 6))
    created = harness.mutating_calls()

    second = provider.plan(changed)

    assert not second.is_empty
    assert harness.mutating_calls() == created > before
    assert_matches(harness, spec)


def test_ensure_converges_a_changed_spec(harness: Harness, provider: Provider) -> None:
    provider.ensure(harness.make_spec(ports=((TCP, 80), (TCP, 443)), tags=FrozenDict({"team": "a"})))
    changed = harness.make_spec(ports=((TCP, 80), (TCP, 8443)), nodes=range(2, 6), tags=FrozenDict({"team": "b"}))

    provider.ensure(changed)

    assert_matches(harness, changed)
    fresh = harness.make_spec("fresh", ports=((TCP, 80), (TCP, 8443)))
    provider.ensure(fresh)
    # Nothing of the old shape is left over: converging leaves what creating from scratch leaves.
    assert kinds(owned_resources(harness, changed)) == kinds(owned_resources(harness, fresh))
    before = harness.mutating_calls()
    assert provider.plan(changed).is_empty
    provider.ensure(changed)
    assert harness.mutating_calls() == before


def test_delete_is_idempotent(harness: Harness, provider: Provider) -> None:
    spec = harness.make_spec()
    provider.ensure(spec)
    assert provider.delete(spec) is True
    before = harness.mutating_calls()

    again = provider.delete(spec)

    assert again is False
    assert harness.mutating_calls() == before
    assert owned_resources(harness, spec) == []


def test_delete_of_a_never_created_balancer_does_nothing(harness: Harness, provider: Provider) -> None:
    spec = harness.make_spec()

    assert provider.delete(spec) is False
    assert harness.mutating_calls() == 0
    assert provider.get(spec) is None


@pytest.mark.parametrize(
    "uid",
    [
        pytest.param(None, id="same-uid"),
        pytest.param("", id="no-uid-as-from-a-file"),
    ],
)
def test_get_and_delete_need_only_the_identity(harness: Harness, provider: Provider, uid: str | None) -> None:
    spec = harness.make_spec(ports=((TCP, 80), (TCP, 443)))
    status = provider.ensure(spec)
    identity = LoadBalancerSpec(
        cluster=spec.cluster, namespace=spec.namespace, name=spec.name, uid=spec.uid if uid is None else uid
    )

    got = provider.get(identity)
    removed = provider.delete(identity)

    assert got is not None
    assert got.cloud_id == status.cloud_id
    assert removed is True
    assert harness.read_back(spec) == []
    assert owned_resources(harness, spec) == []


def test_list_owned_finds_this_clusters_balancers_and_gc_removes_them(harness: Harness, provider: Provider) -> None:
    ours = [
        harness.make_spec(name, namespace=ns) for ns, name in (("default", "web"), ("default", "api"), ("ops", "web"))
    ]
    theirs = harness.make_spec("web", cluster="elsewhere")
    ids = {spec.ref: provider.ensure(spec).cloud_id for spec in [*ours, theirs]}

    owned = provider.list_owned(harness.cluster)

    assert {(o.ref, o.cloud_id) for o in owned} == {(s.ref, ids[s.ref]) for s in ours}
    assert [(o.ref, o.cloud_id) for o in provider.list_owned("elsewhere")] == [(theirs.ref, ids[theirs.ref])]
    for entry in owned:
        assert provider.delete(entry) is True
    for spec in ours:
        assert owned_resources(harness, spec) == []
    assert provider.list_owned(harness.cluster) == []
    assert_matches(harness, theirs)
