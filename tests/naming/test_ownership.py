"""The ownership tag scheme: tags, owner_of, ownership classification and key=value strings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudlb.model import ServiceRef
from cloudlb.naming import (
    CLUSTER_TAG,
    SERVICE_TAG,
    UID_TAG,
    Ownership,
    is_owned_by_cluster,
    owner_of,
    ownership,
    ownership_tags,
    tags_from_strings,
    tags_to_strings,
)

WEB = ServiceRef(cluster="prod", namespace="default", name="web", uid="uid-1")


def tags(cluster: str = "prod", service: str = "default/web", uid: str | None = "uid-1") -> dict[str, str]:
    out = {CLUSTER_TAG: cluster, SERVICE_TAG: service}
    if uid is not None:
        out[UID_TAG] = uid
    return out


def test_ownership_tags_name_cluster_service_and_uid() -> None:
    assert ownership_tags(WEB) == {
        "cloudlb.io/cluster": "prod",
        "cloudlb.io/service": "default/web",
        "cloudlb.io/service-uid": "uid-1",
    }


@pytest.mark.parametrize(
    ("found", "want"),
    [
        pytest.param(tags(), WEB, id="complete"),
        pytest.param(tags(uid=None), ServiceRef("prod", "default", "web", ""), id="no-uid-tag"),
        pytest.param({**tags(), "team": "a"}, WEB, id="other-tags-ignored"),
        pytest.param(tags(cluster=""), None, id="empty-cluster"),
        pytest.param({SERVICE_TAG: "default/web"}, None, id="no-cluster-tag"),
        pytest.param({CLUSTER_TAG: "prod"}, None, id="no-service-tag"),
        pytest.param(tags(service="web"), None, id="service-without-namespace"),
        pytest.param(tags(service="/web"), None, id="empty-namespace"),
        pytest.param(tags(service="default/"), None, id="empty-name"),
        pytest.param(tags(service="a/b/c"), None, id="too-many-slashes"),
        pytest.param({}, None, id="untagged"),
    ],
)
def test_owner_of(found: dict[str, str], want: ServiceRef | None) -> None:
    assert owner_of(found) == want


@pytest.mark.parametrize(
    ("found", "ref", "want"),
    [
        pytest.param(tags(), WEB, Ownership.MINE, id="exact-match"),
        pytest.param(tags(uid=""), WEB, Ownership.MINE, id="created-from-a-file-adopted"),
        pytest.param(tags(uid=None), WEB, Ownership.MINE, id="uid-tag-missing"),
        pytest.param(tags(), ServiceRef("prod", "default", "web"), Ownership.MINE, id="spec-from-a-file"),
        pytest.param(tags(uid="uid-0"), WEB, Ownership.STALE, id="previous-incarnation"),
        pytest.param(tags(cluster="staging"), WEB, Ownership.FOREIGN, id="same-service-other-cluster"),
        pytest.param(tags(cluster="prod2"), WEB, Ownership.FOREIGN, id="cluster-name-prefix-lookalike"),
        pytest.param(tags(cluster="Prod"), WEB, Ownership.FOREIGN, id="cluster-case-differs"),
        pytest.param(tags(service="default/web2"), WEB, Ownership.FOREIGN, id="other-service"),
        pytest.param(tags(service="other/web"), WEB, Ownership.FOREIGN, id="same-name-other-namespace"),
        pytest.param(tags(cluster="staging", uid="uid-0"), WEB, Ownership.FOREIGN, id="other-cluster-other-uid"),
        pytest.param({"Name": "k8s-default-web-1a2b3c4d"}, WEB, Ownership.FOREIGN, id="name-matches-but-untagged"),
        pytest.param({}, WEB, Ownership.FOREIGN, id="untagged"),
    ],
)
def test_ownership(found: dict[str, str], ref: ServiceRef, want: Ownership) -> None:
    assert ownership(found, ref) is want


@pytest.mark.parametrize(
    ("found", "cluster", "want"),
    [
        pytest.param(tags(), "prod", True, id="ours"),
        pytest.param(tags(uid="anything"), "prod", True, id="any-service-of-ours"),
        pytest.param(tags(), "staging", False, id="other-cluster"),
        pytest.param(tags(service="broken"), "prod", False, id="malformed-service-tag"),
        pytest.param({CLUSTER_TAG: "prod"}, "prod", False, id="cluster-tag-only"),
    ],
)
def test_is_owned_by_cluster(found: dict[str, str], cluster: str, want: bool) -> None:
    assert is_owned_by_cluster(found, cluster) is want


@given(
    ref=st.builds(
        ServiceRef,
        cluster=st.text(min_size=1, max_size=10),
        namespace=st.text(alphabet=st.characters(blacklist_characters="/"), min_size=1, max_size=10),
        name=st.text(alphabet=st.characters(blacklist_characters="/"), min_size=1, max_size=10),
        uid=st.text(max_size=10),
    )
)
def test_own_tags_round_trip(ref: ServiceRef) -> None:
    assert owner_of(ownership_tags(ref)) == ref
    assert ownership(ownership_tags(ref), ref) is Ownership.MINE
    assert tags_from_strings(tags_to_strings(ownership_tags(ref))) == ownership_tags(ref)


# --- key=value strings (Octavia) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strings", "want"),
    [
        pytest.param(["cloudlb.io/cluster=prod"], {"cloudlb.io/cluster": "prod"}, id="key-value"),
        pytest.param(["expr=a=b"], {"expr": "a=b"}, id="first-equals-splits"),
        pytest.param(["k="], {"k": ""}, id="empty-value"),
        pytest.param(["production"], {"production": ""}, id="plain-tag-kept-with-empty-value"),
        pytest.param(["=orphan", ""], {}, id="empty-key-dropped"),
        pytest.param(["k=1", "k=2"], {"k": "2"}, id="last-duplicate-wins"),
    ],
)
def test_tags_from_strings(strings: list[str], want: dict[str, str]) -> None:
    assert tags_from_strings(strings) == want


def test_tags_to_strings_is_sorted_and_keeps_plain_tags_plain() -> None:
    assert tags_to_strings({"b": "2", "a": "x=y", "production": ""}) == ["a=x=y", "b=2", "production"]


@pytest.mark.parametrize("key", [pytest.param("a=b", id="equals-in-key"), pytest.param("", id="empty-key")])
def test_tags_to_strings_rejects_keys_that_cannot_round_trip(key: str) -> None:
    with pytest.raises(ValueError):
        tags_to_strings({key: "v"})


@given(
    st.dictionaries(
        st.text(alphabet=st.characters(blacklist_characters="="), min_size=1, max_size=8), st.text(max_size=8)
    )
)
def test_tag_strings_round_trip(mapping: dict[str, str]) -> None:
    assert tags_from_strings(tags_to_strings(mapping)) == mapping
