"""The fake's pure parts without HTTP: the three patch flavours, selectors, and the store's history window."""

from __future__ import annotations

from typing import Any

import pytest

from cloudlb.testing.kubeapi import KubeError
from cloudlb.testing.kubeapi.patch import json_patch, merge_patch, strategic_merge
from cloudlb.testing.kubeapi.resources import MERGE_LISTS
from cloudlb.testing.kubeapi.selectors import label_selector
from cloudlb.testing.kubeapi.store import Store

SERVICE_LISTS = MERGE_LISTS["services"]


@pytest.mark.parametrize(
    ("original", "patch", "expected"),
    [
        pytest.param(
            {"metadata": {"finalizers": ["a"]}}, {"metadata": {"finalizers": ["b", "a"]}},
            {"metadata": {"finalizers": ["a", "b"]}}, id="finalizers-merge-as-a-set",
        ),
        pytest.param(
            {"metadata": {"finalizers": ["a", "b"]}}, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
            {"metadata": {"finalizers": ["b"]}}, id="delete-from-primitive-list",
        ),
        pytest.param(
            {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}},
            {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}},
            {"spec": {"ports": [{"port": 80, "name": "http", "targetPort": 8080}, {"port": 443, "name": "https"}]}},
            id="ports-merge-by-port",
        ),
        pytest.param(
            {"spec": {"ports": [{"port": 80}, {"port": 443}]}}, {"spec": {"ports": [{"port": 80, "$patch": "delete"}]}},
            {"spec": {"ports": [{"port": 443}]}}, id="delete-list-element",
        ),
        pytest.param(
            {"status": {"loadBalancer": {"ingress": [{"ip": "1"}, {"ip": "2"}]}}},
            {"status": {"loadBalancer": {"ingress": [{"ip": "3"}]}}},
            {"status": {"loadBalancer": {"ingress": [{"ip": "3"}]}}}, id="atomic-list-replaced",
        ),
        pytest.param(
            {"metadata": {"labels": {"a": "1", "b": "2"}}}, {"metadata": {"labels": {"$patch": "replace", "c": "3"}}},
            {"metadata": {"labels": {"c": "3"}}}, id="replace-map",
        ),
        pytest.param(
            {"metadata": {"labels": {"a": "1", "b": "2"}}}, {"metadata": {"labels": {"a": None}}},
            {"metadata": {"labels": {"b": "2"}}}, id="null-deletes",
        ),
        pytest.param(
            {"metadata": {"finalizers": ["a"]}}, {"metadata": {"finalizers": [{"$patch": "replace"}, "z"]}},
            {"metadata": {"finalizers": ["z"]}}, id="replace-list",
        ),
    ],
)  # fmt: skip
def test_strategic_merge(original: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]) -> None:
    snapshot = repr(original)
    assert strategic_merge(original, patch, SERVICE_LISTS) == expected
    assert repr(original) == snapshot  # the stored object is never changed in place


def test_strategic_merge_requires_the_merge_key() -> None:
    with pytest.raises(KubeError) as info:
        strategic_merge({"spec": {"ports": [{"port": 80}]}}, {"spec": {"ports": [{"name": "x"}]}}, SERVICE_LISTS)
    assert info.value.code == 400


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        pytest.param([{"op": "add", "path": "/a/-", "value": 3}], {"a": [1, 2, 3], "b": {"c~/": 1}}, id="append"),
        pytest.param([{"op": "add", "path": "/a/0", "value": 0}], {"a": [0, 1, 2], "b": {"c~/": 1}}, id="insert"),
        pytest.param([{"op": "remove", "path": "/a/0"}], {"a": [2], "b": {"c~/": 1}}, id="remove"),
        pytest.param([{"op": "replace", "path": "/b/c~0~1", "value": 9}], {"a": [1, 2], "b": {"c~/": 9}}, id="escaped"),
        pytest.param([{"op": "move", "from": "/b", "path": "/d"}], {"a": [1, 2], "d": {"c~/": 1}}, id="move"),
        pytest.param([{"op": "copy", "from": "/a/1", "path": "/e"}], {"a": [1, 2], "b": {"c~/": 1}, "e": 2}, id="copy"),
        pytest.param([{"op": "test", "path": "/a", "value": [1, 2]}], {"a": [1, 2], "b": {"c~/": 1}}, id="test-passes"),
    ],
)
def test_json_patch(operations: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    original = {"a": [1, 2], "b": {"c~/": 1}}
    assert json_patch(original, operations) == expected
    assert original == {"a": [1, 2], "b": {"c~/": 1}}


@pytest.mark.parametrize(
    "operations",
    [
        pytest.param([{"op": "remove", "path": "/missing"}], id="remove-missing"),
        pytest.param([{"op": "replace", "path": "/a/5", "value": 1}], id="index-out-of-range"),
        pytest.param([{"op": "test", "path": "/a", "value": []}], id="test-fails"),
    ],
)
def test_json_patch_failures_are_invalid(operations: list[dict[str, Any]]) -> None:
    with pytest.raises(KubeError) as info:
        json_patch({"a": [1, 2]}, operations)
    assert info.value.code == 422


def test_merge_patch_follows_rfc_7386() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    patch = {"a": "z", "c": {"f": None}, "l": [3]}
    assert merge_patch(target, patch) == {"a": "z", "c": {"d": "e"}, "l": [3]}


@pytest.mark.parametrize("selector", ["a=b=c", "a in (x", "=b", "a,,b"])
def test_malformed_label_selectors_are_bad_requests(selector: str) -> None:
    with pytest.raises(KubeError) as info:
        label_selector(selector)
    assert info.value.code == 400


def _obj(name: str, value: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default"}, "data": value}


def test_state_at_undoes_later_changes() -> None:
    store = Store(history=10)
    store.put("things", _obj("a", "1"))
    then = store.revision
    store.put("things", _obj("a", "2"))
    store.put("things", _obj("b", "1"))
    gone = store.get("things", ("default", "a"))
    assert gone is not None
    store.remove("things", gone)
    assert {k: v["data"] for k, v in store.state_at("things", then).items()} == {("default", "a"): "1"}
    assert [c.type for c in store.changes_after(then)] == ["MODIFIED", "ADDED", "DELETED"]


def test_the_history_window_expires_older_revisions() -> None:
    store = Store(history=2)
    start = store.revision
    for value in "123":
        store.put("things", _obj("a", value))
    with pytest.raises(KubeError) as info:
        store.changes_after(start)
    assert (info.value.code, info.value.reason) == (410, "Expired")
    assert [c.obj["data"] for c in store.changes_after(start + 1)] == ["2", "3"]
