"""Conformance: foreign resources are never touched, unsupported specs fail before any mutation, and a crash at
any point followed by a rerun leaves no duplicate and no orphan."""

from __future__ import annotations

import collections
import contextlib
from typing import Any

import pytest

from cloudlb.capabilities import required_features
from cloudlb.errors import CloudLBError, ConflictError, UnsupportedFeatureError
from cloudlb.model import (
    Algorithm,
    Feature,
    HealthCheck,
    HealthCheckProtocol,
    IPFamily,
    Protocol,
    ProxyProtocol,
    Scheme,
    SessionAffinity,
    TargetMode,
)
from cloudlb.naming import CLUSTER_TAG, SERVICE_TAG, UID_TAG
from cloudlb.provider import Provider
from tests.conformance.harness import CLUSTER, Harness, expected_listeners, owned_resources

TCP, UDP, SCTP = Protocol.TCP, Protocol.UDP, Protocol.SCTP
TWO_PORTS = ((TCP, 80), (TCP, 443))


@pytest.mark.parametrize(
    "tags",
    [
        pytest.param(
            {CLUSTER_TAG: "other-cluster", SERVICE_TAG: "default/web", UID_TAG: "uid-default-web"}, id="other-cluster"
        ),
        pytest.param({CLUSTER_TAG: CLUSTER, SERVICE_TAG: "default/other", UID_TAG: "x"}, id="other-service"),
        pytest.param({}, id="untagged"),
        pytest.param({"team": "web"}, id="someone-elses-tags"),
    ],
)
def test_a_lookalike_is_never_touched(harness: Harness, provider: Provider, tags: dict[str, str]) -> None:
    spec = harness.make_spec(ports=TWO_PORTS)
    foreign_id = harness.create_foreign_lookalike(spec, tags=tags)
    snapshot = harness.foreign_state()

    assert provider.get(spec) is None
    assert provider.delete(spec) is False
    assert harness.mutating_calls() == 0
    provider.plan(spec)
    try:
        provider.ensure(spec)
    except ConflictError:  # a cloud with unique names may refuse to create ours; adopting theirs is the bug
        assert harness.read_back(spec) == []
    else:
        [ours] = harness.read_back(spec)
        assert ours.cloud_id != foreign_id
        assert ours.listeners == expected_listeners(spec)
    assert harness.foreign_state() == snapshot

    owned = {o.cloud_id: o for o in provider.list_owned(harness.cluster)}
    if tags.get(CLUSTER_TAG) == harness.cluster:
        # Another Service of this cluster: listed for gc, under the Service its tags name, and that Service lives.
        assert f"{owned[foreign_id].namespace}/{owned[foreign_id].name}" == tags[SERVICE_TAG]
        del owned[foreign_id]
    assert foreign_id not in owned
    for entry in owned.values():
        provider.delete(entry)
    provider.delete(spec)
    assert harness.foreign_state() == snapshot
    assert owned_resources(harness, spec) == []


# One spec per feature; ``required_features`` decides what each needs, the provider's ``capabilities`` what it has.
FEATURE_SPECS: list[Any] = [
    pytest.param({"ports": ((UDP, 53),)}, id="udp"),
    pytest.param({"ports": ((SCTP, 3868),)}, id="sctp"),
    pytest.param({"ports": ((TCP, 53), (UDP, 53))}, id="mixed-protocols"),
    pytest.param({"source_ranges": ("10.0.0.0/8",)}, id="source-ranges"),
    pytest.param({"session_affinity": SessionAffinity.CLIENT_IP}, id="session-affinity"),
    pytest.param({"target_mode": TargetMode.POD}, id="pod-targets"),
    pytest.param({"scheme": Scheme.INTERNAL}, id="internal"),
    pytest.param({"load_balancer_ip": "10.0.200.10"}, id="load-balancer-ip"),
    pytest.param({"ip_families": (IPFamily.IPV4, IPFamily.IPV6)}, id="ipv6"),
    pytest.param({"proxy_protocol": ProxyProtocol.V2}, id="proxy-protocol"),
    pytest.param({"health_check": HealthCheck(protocol=HealthCheckProtocol.HTTP, path="/healthz")}, id="http-check"),
    *(pytest.param({"algorithm": algorithm}, id=f"algorithm-{algorithm.value}") for algorithm in Algorithm),
]


@pytest.mark.parametrize("fields", FEATURE_SPECS)
def test_capabilities_are_checked_before_any_mutation(
    harness: Harness, provider: Provider, fields: dict[str, Any]
) -> None:
    spec = harness.make_spec(**fields)
    missing = required_features(spec) - provider.capabilities
    if not missing:
        # Declared means honoured: the plan goes through, and still makes no mutation.
        assert not provider.plan(spec).is_empty
        assert harness.mutating_calls() == 0
        return

    with pytest.raises(UnsupportedFeatureError) as from_plan:
        provider.plan(spec)
    with pytest.raises(UnsupportedFeatureError) as from_ensure:
        provider.ensure(spec)

    expected = tuple(sorted(feature.value for feature in missing))
    assert from_plan.value.features == from_ensure.value.features == expected
    assert harness.mutating_calls() == 0
    assert harness.read_back(spec) == []


def test_the_narrowed_harness_lacks_features() -> None:
    """Guards the suite itself: without a provider lacking something, the refusal branch above would never run."""
    from tests.conformance.memory_harness import narrow_memory_harness

    assert Feature.UDP not in narrow_memory_harness().make_provider().capabilities


def _kinds(harness: Harness) -> collections.Counter[str]:
    return collections.Counter(resource.kind for resource in harness.resources())


# Where a crashed ensure starts from: an empty cloud, an older spec to converge from, or one to replace.
STARTS = [
    pytest.param(None, id="crash-while-creating"),
    pytest.param({"ports": ((TCP, 80), (TCP, 8080)), "nodes": range(4)}, id="crash-while-converging"),
    pytest.param({"ports": TWO_PORTS, "nodes": range(2, 7), "scheme": Scheme.INTERNAL}, id="crash-while-replacing"),
]


@pytest.mark.parametrize("start_from", STARTS)
def test_a_crash_at_any_call_then_a_rerun_leaves_no_duplicate_and_no_orphan(
    harness: Harness, provider: Provider, start_from: dict[str, Any] | None
) -> None:
    older = None if start_from is None else harness.make_spec(**start_from)
    spec = harness.make_spec(ports=TWO_PORTS, nodes=range(2, 7))
    if older is not None and not required_features(older) <= provider.capabilities:
        with pytest.raises(UnsupportedFeatureError):
            provider.plan(older)
        return
    baseline = _kinds(harness)

    def start() -> int:
        if older is not None:
            provider.ensure(older)
        return harness.mutating_calls()

    # A clean run first: how many mutating calls it takes, and what it leaves in the cloud.
    first = start()
    provider.ensure(spec)
    steps = harness.mutating_calls() - first
    converged = _kinds(harness)
    provider.delete(spec)
    assert _kinds(harness) == baseline
    assert steps >= 1  # a provider may create a whole balancer in one call (local does)

    for n in range(1, steps + 1):
        for after in (False, True):
            start()
            harness.fail_at_mutating_call(n, after=after)
            with contextlib.suppress(CloudLBError):  # the crash; a provider that retried through it is fine too
                provider.ensure(spec)
            harness.clear_faults()

            provider.ensure(spec)

            where = f"crash at mutating call {n} ({'after' if after else 'before'} its effect)"
            found = harness.read_back(spec)
            assert len(found) == 1, where
            assert found[0].listeners == expected_listeners(spec), where
            assert not found[0].internal, where
            assert _kinds(harness) == converged, where
            assert provider.delete(spec) is True
            assert _kinds(harness) == baseline, where


def test_gc_of_a_previous_incarnation_spares_the_live_one(harness: Harness, provider: Provider) -> None:
    old = harness.make_spec(uid="uid-1")
    new = harness.make_spec(uid="uid-2", nodes=range(1, 4))
    provider.ensure(old)
    [entry] = provider.list_owned(harness.cluster)

    provider.ensure(new)  # the Service was deleted and recreated before gc ran
    provider.delete(entry)

    [live] = harness.read_back(new)
    assert live.listeners == expected_listeners(new)
    assert live.tags[UID_TAG] == "uid-2"
    assert [r for r in harness.resources() if r.tags.get(UID_TAG) == "uid-1"] == []


def test_delete_after_a_crash_leaves_no_orphan(harness: Harness, provider: Provider) -> None:
    spec = harness.make_spec(ports=TWO_PORTS)
    baseline = _kinds(harness)
    provider.ensure(spec)
    steps = harness.mutating_calls()
    provider.delete(spec)

    for n in range(1, steps + 1):
        harness.fail_at_mutating_call(n)
        with pytest.raises(CloudLBError):
            provider.ensure(spec)
        harness.clear_faults()

        provider.delete(spec)

        assert owned_resources(harness, spec) == [], f"crash at mutating call {n}"
        assert _kinds(harness) == baseline, f"crash at mutating call {n}"
