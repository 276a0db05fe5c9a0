"""resource_name and NameRules: deterministic, readable, valid per cloud, unique by hash."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cloudlb.model import ServiceRef
from cloudlb.naming import AWS_NAME_RULES, AZURE_NAME_RULES, OPENSTACK_NAME_RULES, NameRules, resource_name

WEB = ServiceRef(cluster="prod", namespace="default", name="web", uid="uid-1")
ALL_RULES = [
    pytest.param(AWS_NAME_RULES, id="aws"),
    pytest.param(AZURE_NAME_RULES, id="azure"),
    pytest.param(OPENSTACK_NAME_RULES, id="openstack"),
]


def digest(*fields: str) -> str:
    """The hash scheme, spelled out: names must not change between cloudlb releases, or every LB gets replaced."""
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:8]


@pytest.mark.parametrize(
    ("ref", "rules", "parts", "prefix", "want"),
    [
        pytest.param(WEB, AWS_NAME_RULES, (), "k8s", f"k8s-default-web-{digest('prod', 'default', 'web')}", id="short"),
        pytest.param(
            WEB,
            AWS_NAME_RULES,
            ("tcp-80",),
            "k8s",
            f"k8s-default-web-tcp-80-{digest('prod', 'default', 'web', 'tcp-80')}",
            id="with-port-part",
        ),
        pytest.param(
            ServiceRef("prod", "a-very-long-namespace-name-here", "my-really-long-service-name"),
            AWS_NAME_RULES,
            ("tcp-8080",),
            "k8s",
            "k8s-a-ve-my-r-tcp-8080-"
            + digest("prod", "a-very-long-namespace-name-here", "my-really-long-service-name", "tcp-8080"),
            id="namespace-and-name-shortened-before-the-port",
        ),
        pytest.param(
            ServiceRef("prod", "kube_system", "My.Svc"),
            AWS_NAME_RULES,
            (),
            "k8s",
            f"k8s-kube-system-my-svc-{digest('prod', 'kube_system', 'My.Svc')}",
            id="aws-replaces-underscores-and-dots",
        ),
        pytest.param(
            ServiceRef("prod", "kube_system", "My.Svc"),
            AZURE_NAME_RULES,
            (),
            "k8s",
            f"k8s-kube_system-my.svc-{digest('prod', 'kube_system', 'My.Svc')}",
            id="azure-keeps-underscores-and-dots",
        ),
        pytest.param(
            WEB,
            AWS_NAME_RULES,
            (),
            "internal",
            f"{digest('prod', 'default', 'web')}-internal-default-web",
            id="aws-reserved-prefix-avoided",
        ),
        pytest.param(WEB, AWS_NAME_RULES, (), "", f"default-web-{digest('prod', 'default', 'web')}", id="no-prefix"),
    ],
)
def test_resource_name(ref: ServiceRef, rules: NameRules, parts: tuple[str, ...], prefix: str, want: str) -> None:
    assert resource_name(ref, rules, *parts, prefix=prefix) == want


@pytest.mark.parametrize("rules", ALL_RULES)
def test_uid_does_not_change_the_name(rules: NameRules) -> None:
    from_file = ServiceRef("prod", "default", "web")
    assert resource_name(WEB, rules, "tcp-80") == resource_name(from_file, rules, "tcp-80")


@pytest.mark.parametrize("rules", ALL_RULES)
def test_lookalike_inputs_get_different_names(rules: NameRules) -> None:
    names = {
        resource_name(ServiceRef("prod", "a-b", "c"), rules),
        resource_name(ServiceRef("prod", "a", "b-c"), rules),
        resource_name(ServiceRef("prod", "a.b", "c"), rules),
        resource_name(ServiceRef("staging", "a-b", "c"), rules),
    }
    assert len(names) == 4


@pytest.mark.parametrize(
    ("rules", "name", "want"),
    [
        pytest.param(AWS_NAME_RULES, "k8s-default-web", True, id="aws-ok"),
        pytest.param(AWS_NAME_RULES, "a" * 32, True, id="aws-at-limit"),
        pytest.param(AWS_NAME_RULES, "a" * 33, False, id="aws-too-long"),
        pytest.param(AWS_NAME_RULES, "-web", False, id="aws-leading-hyphen"),
        pytest.param(AWS_NAME_RULES, "web-", False, id="aws-trailing-hyphen"),
        pytest.param(AWS_NAME_RULES, "my_web", False, id="aws-underscore"),
        pytest.param(AWS_NAME_RULES, "internal-web", False, id="aws-reserved-prefix"),
        pytest.param(AWS_NAME_RULES, "Internal-web", False, id="aws-reserved-prefix-any-case"),
        pytest.param(AWS_NAME_RULES, "internalweb", True, id="aws-prefix-needs-the-hyphen"),
        pytest.param(AZURE_NAME_RULES, "web_", True, id="azure-trailing-underscore"),
        pytest.param(AZURE_NAME_RULES, "web.", False, id="azure-trailing-period"),
        pytest.param(AZURE_NAME_RULES, "_web", False, id="azure-leading-underscore"),
        pytest.param(AZURE_NAME_RULES, "a" * 81, False, id="azure-too-long"),
        pytest.param(OPENSTACK_NAME_RULES, "a" * 255, True, id="openstack-at-limit"),
        pytest.param(OPENSTACK_NAME_RULES, "", False, id="empty"),
        pytest.param(OPENSTACK_NAME_RULES, "wéb", False, id="non-ascii"),
    ],
)
def test_name_rules_is_valid(rules: NameRules, name: str, want: bool) -> None:
    assert rules.is_valid(name) is want


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"max_length": 5}, id="no-room-for-hash"),
        pytest.param({"max_length": 32, "separator": "_"}, id="separator-not-allowed"),
    ],
)
def test_name_rules_reject_unusable_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        NameRules(**kwargs)  # type: ignore[arg-type]


inputs = st.tuples(
    st.text(max_size=40),  # cluster
    st.text(max_size=70),  # namespace
    st.text(max_size=70),  # name
    st.lists(st.text(max_size=20), max_size=3),  # parts
)


@pytest.mark.parametrize("rules", ALL_RULES)
@given(given_input=inputs)
def test_any_input_gives_a_valid_deterministic_name(
    rules: NameRules, given_input: tuple[str, str, str, list[str]]
) -> None:
    cluster, namespace, name, parts = given_input
    ref = ServiceRef(cluster, namespace, name)
    got = resource_name(ref, rules, *parts)
    assert rules.is_valid(got), got
    assert len(got) <= rules.max_length
    assert got == resource_name(ServiceRef(cluster, namespace, name, "some-uid"), rules, *parts)


@pytest.mark.parametrize("rules", ALL_RULES)
@given(first=inputs, second=inputs)
def test_distinct_inputs_give_distinct_names(
    rules: NameRules, first: tuple[str, str, str, list[str]], second: tuple[str, str, str, list[str]]
) -> None:
    assume(first != second)
    a, b = (resource_name(ServiceRef(c, ns, n), rules, *parts) for c, ns, n, parts in (first, second))
    assert a != b


@given(
    namespace=st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True),
    name=st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True),
)
def test_short_kubernetes_names_stay_readable(namespace: str, name: str) -> None:
    got = resource_name(ServiceRef("prod", namespace, name), OPENSTACK_NAME_RULES)
    assert got.startswith(f"k8s-{namespace}-{name}-")
