"""Conformance: target pools change by delta, in few calls, registering new targets before removing old ones."""

from __future__ import annotations

import pytest

from cloudlb.model import FrozenDict, Protocol
from cloudlb.provider import Provider
from tests.conformance.harness import Harness, expected_listeners, max_target_calls, replay

TWO_PORTS = ((Protocol.TCP, 80), (Protocol.TCP, 443))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(range(10), range(1, 11), id="replace-1-of-10"),
        pytest.param(range(450), range(3, 453), id="replace-3-of-450"),
        pytest.param(range(450), range(450, 900), id="replace-all-450"),
        pytest.param(range(5), range(305), id="add-300"),
        pytest.param(range(300), range(50), id="remove-250"),
        pytest.param(range(3), (), id="remove-all"),
    ],
)
def test_target_change_costs_about_k_over_batch_calls(
    harness: Harness, provider: Provider, before: range, after: range
) -> None:
    old = harness.make_spec(nodes=before)
    new = harness.make_spec(nodes=after)
    provider.ensure(old)
    [(key, old_targets)] = expected_listeners(old).items()
    new_targets = expected_listeners(new)[key]
    added, removed = len(new_targets - old_targets), len(old_targets - new_targets)
    calls, log_start = harness.mutating_calls(), len(harness.target_ops())

    plan = provider.plan(new)
    provider.ensure(new)

    assert sum(len(change.added) for change in plan) == added
    assert sum(len(change.removed) for change in plan) == removed
    assert 1 <= harness.mutating_calls() - calls <= max_target_calls(harness, added, removed)
    [observed] = harness.read_back(new)
    assert observed.listeners == {key: new_targets}
    states = replay(old_targets, harness.target_ops()[log_start:])
    assert states[-1] == new_targets
    for state in states:
        # A target leaves only once every new target is in: the pool never shrinks below what it will serve.
        if old_targets - new_targets - state:
            assert new_targets <= state, f"a target was removed before {sorted(new_targets - state)} was added"


def test_update_targets_touches_only_the_pools(harness: Harness, provider: Provider) -> None:
    old = harness.make_spec(ports=TWO_PORTS, nodes=range(6), tags=FrozenDict({"team": "a"}))
    new = harness.make_spec(ports=TWO_PORTS, nodes=range(2, 9), tags=FrozenDict({"team": "b"}))
    provider.ensure(old)
    calls = harness.mutating_calls()

    provider.update_targets(new)

    [observed] = harness.read_back(new)
    assert observed.listeners == expected_listeners(new)
    assert observed.tags["team"] == "a"  # not a target: left for ensure
    assert harness.mutating_calls() - calls <= len(new.listeners) * max_target_calls(harness, 3, 2)
    before = harness.mutating_calls()
    provider.update_targets(new)
    assert harness.mutating_calls() == before
    assert not provider.plan(new).is_empty
    provider.ensure(new)
    [observed] = harness.read_back(new)
    assert observed.tags["team"] == "b"
