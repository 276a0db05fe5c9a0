"""The generic diffs: set_diff, map_diff, field_drift/drifted and batched."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudlb.model import Target
from cloudlb.plan import DiffItem, DiffOp, batched, drifted, field_drift, map_diff, set_diff

keys = st.text(alphabet="abcdefgh/.", min_size=1, max_size=4)
tag_maps = st.dictionaries(keys, st.text(max_size=3), max_size=8)


# --- set_diff ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("desired", "actual", "want_add", "want_remove", "want_keep"),
    [
        pytest.param({1, 2}, {1, 2}, set(), set(), {1, 2}, id="equal"),
        pytest.param({1, 2, 3}, {2}, {1, 3}, set(), {2}, id="only-additions"),
        pytest.param({2}, {1, 2, 3}, set(), {1, 3}, {2}, id="only-removals"),
        pytest.param({1, 2}, {2, 3}, {1}, {3}, {2}, id="both"),
        pytest.param(set(), {1}, set(), {1}, set(), id="desired-empty"),
        pytest.param({1}, set(), {1}, set(), set(), id="actual-empty"),
    ],
)
def test_set_diff_splits_three_ways(
    desired: set[int], actual: set[int], want_add: set[int], want_remove: set[int], want_keep: set[int]
) -> None:
    diff = set_diff(desired, actual)
    assert (set(diff.add), set(diff.remove), set(diff.keep)) == (want_add, want_remove, want_keep)
    assert bool(diff) == (desired != actual)
    assert isinstance(diff.add, frozenset)


def test_set_diff_of_targets_is_by_value() -> None:
    desired = frozenset({Target("10.0.0.1", 30080), Target("10.0.0.2", 30080)})
    actual = frozenset({Target("10.0.0.2", 30080), Target("10.0.0.3", 30080)})
    diff = set_diff(desired, actual)
    assert diff.add == {Target("10.0.0.1", 30080)}
    assert diff.remove == {Target("10.0.0.3", 30080)}


@given(desired=st.frozensets(st.integers(0, 30)), actual=st.frozensets(st.integers(0, 30)))
def test_applying_a_set_diff_to_actual_yields_desired(desired: frozenset[int], actual: frozenset[int]) -> None:
    diff = set_diff(desired, actual)
    assert diff.apply(actual) == desired
    assert not (diff.add & diff.remove)
    assert diff.keep | diff.add == desired


# --- map_diff ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("desired", "actual", "ignore", "want_set", "want_remove"),
    [
        pytest.param({"a": "1"}, {"a": "1"}, (), {}, set(), id="equal"),
        pytest.param({"a": "1", "b": "2"}, {"a": "1"}, (), {"b": "2"}, set(), id="add"),
        pytest.param({"a": "2"}, {"a": "1"}, (), {"a": "2"}, set(), id="change"),
        pytest.param({}, {"a": "1"}, (), {}, {"a"}, id="remove"),
        pytest.param({"a": ""}, {}, (), {"a": ""}, set(), id="empty-value-is-a-value"),
        pytest.param({}, {"aws:owner": "x"}, ("aws:owner",), {}, set(), id="ignored-key-not-removed"),
        pytest.param({"team": "a"}, {"team": "b"}, ("team",), {}, set(), id="ignored-key-not-changed"),
        pytest.param({"team": "a"}, {}, ("team",), {}, set(), id="ignored-key-not-added"),
        pytest.param(
            {"mine": "1"},
            {"mine": "0", "other/x": "y", "other/z": "w"},
            lambda key: key.startswith("other/"),
            {"mine": "1"},
            set(),
            id="predicate-ignores-a-family",
        ),
    ],
)
def test_map_diff(
    desired: dict[str, str],
    actual: dict[str, str],
    ignore: Callable[[str], bool] | Iterable[str],
    want_set: dict[str, str],
    want_remove: set[str],
) -> None:
    diff = map_diff(desired, actual, ignore=ignore)
    assert dict(diff.set) == want_set
    assert diff.remove == want_remove
    assert bool(diff) == bool(want_set or want_remove)


def test_map_diff_items_say_what_happens_to_each_key() -> None:
    diff = map_diff({"a": "new", "b": "2"}, {"a": "old", "c": "3"})
    assert diff.items() == (
        DiffItem(op=DiffOp.CHANGE, key="a", old="old", new="new"),
        DiffItem(op=DiffOp.ADD, key="b", old=None, new="2"),
        DiffItem(op=DiffOp.REMOVE, key="c", old="3", new=None),
    )


def test_map_diff_result_is_immutable() -> None:
    diff = map_diff({"a": "1"}, {})
    with pytest.raises(TypeError):
        diff.set["a"] = "2"  # type: ignore[index]


def test_map_diff_rejects_a_single_string_as_ignore() -> None:
    with pytest.raises(TypeError):
        map_diff({}, {}, ignore="team")


@given(desired=tag_maps, actual=tag_maps, ignored=st.frozensets(keys, max_size=4))
def test_applying_a_map_diff_converges_and_leaves_ignored_keys_alone(
    desired: dict[str, str], actual: dict[str, str], ignored: frozenset[str]
) -> None:
    result = map_diff(desired, actual, ignore=ignored).apply(actual)
    assert {k: v for k, v in result.items() if k not in ignored} == {
        k: v for k, v in desired.items() if k not in ignored
    }
    assert {k: v for k, v in result.items() if k in ignored} == {k: v for k, v in actual.items() if k in ignored}


@given(desired=tag_maps, actual=tag_maps)
def test_map_diff_touches_only_keys_that_differ(desired: dict[str, str], actual: dict[str, str]) -> None:
    diff = map_diff(desired, actual)
    for key in diff.set:
        assert actual.get(key) != desired[key]
    for key in diff.remove:
        assert key not in desired
    assert bool(diff) == (desired != actual)


# --- field_drift ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("desired", "actual", "want"),
    [
        pytest.param({"interval": 10, "path": "/"}, {"interval": 10, "path": "/"}, {}, id="no-drift"),
        pytest.param({"interval": 10}, {"interval": 30}, {"interval": (30, 10)}, id="before-is-actual"),
        pytest.param({"interval": 10}, {"interval": 10, "id": "hc-1"}, {}, id="cloud-only-fields-ignored"),
        pytest.param({"path": "/healthz"}, {}, {"path": (None, "/healthz")}, id="unreported-field-drifts"),
        pytest.param({"path": None}, {}, {}, id="none-matches-unreported"),
        pytest.param({"interval": 10}, {"interval": 10.0}, {}, id="numbers-compare-by-value"),
    ],
)
def test_field_drift(desired: dict[str, Any], actual: dict[str, Any], want: dict[str, tuple[Any, Any]]) -> None:
    assert field_drift(desired, actual) == want
    assert drifted(desired, actual) == bool(want)


@given(
    desired=st.dictionaries(keys, st.integers(0, 3), max_size=6),
    actual=st.dictionaries(keys, st.integers(0, 3), max_size=6),
)
def test_field_drift_is_empty_iff_equal_on_shared_fields(desired: dict[str, int], actual: dict[str, int]) -> None:
    actual = {**actual, **{k: actual.get(k, 0) for k in desired}}  # every desired field is reported
    shared_equal = all(desired[k] == actual[k] for k in desired)
    assert (field_drift(desired, actual) == {}) == shared_equal
    assert drifted(desired, actual) == (not shared_equal)


# --- batched ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "size", "want"),
    [
        pytest.param([], 3, [], id="empty"),
        pytest.param([1, 2, 3], 3, [(1, 2, 3)], id="exactly-one-batch"),
        pytest.param([5, 4, 3, 2, 1], 2, [(5, 4), (3, 2), (1,)], id="sequence-keeps-order"),
        pytest.param(frozenset({3, 1, 2}), 2, [(1, 2), (3,)], id="set-is-sorted"),
    ],
)
def test_batched(items: Iterable[Any], size: int, want: list[tuple[Any, ...]]) -> None:
    assert list(batched(items, size)) == want


def test_batched_orders_a_set_of_unorderable_items_by_repr() -> None:
    mixed: frozenset[object] = frozenset({(1, "a"), "b"})
    assert list(batched(mixed, 5)) == [("b", (1, "a"))]


@given(items=st.lists(st.integers(), max_size=50), size=st.integers(1, 12))
def test_batched_makes_ceil_k_over_size_batches(items: list[int], size: int) -> None:
    batches = list(batched(items, size))
    assert len(batches) == -(-len(items) // size)
    assert all(0 < len(batch) <= size for batch in batches)
    assert [item for batch in batches for item in batch] == items


def test_batched_rejects_a_size_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        list(batched([1], 0))
