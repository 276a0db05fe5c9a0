"""The annotation table, explain() and is_managed()."""

from __future__ import annotations

from typing import Any

import pytest

from cloudlb import InvalidSpecError, spec_from_manifests
from cloudlb.annotations import CLOUDLB_ANNOTATIONS, AnnotationUse, Use, explain, provider_for
from cloudlb.kube import is_managed
from tests.kube.builders import node, service


@pytest.mark.parametrize(
    ("key", "value", "use", "provider"),
    [
        pytest.param("cloudlb.io/algorithm", "random", Use.CORE, None, id="neutral-key"),
        pytest.param("cloudlb.io/algoritm", "random", Use.UNKNOWN, None, id="neutral-typo"),
        pytest.param(
            "service.beta.kubernetes.io/load-balancer-source-ranges", "10.0.0.0/8", Use.CORE, None, id="source-ranges"
        ),
        pytest.param(
            "service.beta.kubernetes.io/aws-load-balancer-internal", "true", Use.CORE, "aws", id="aws-internal"
        ),
        pytest.param(
            "service.beta.kubernetes.io/aws-load-balancer-scheme", "internal", Use.CORE, "aws", id="aws-scheme"
        ),
        pytest.param(
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type", "ip", Use.CORE, "aws", id="aws-target-type"
        ),
        pytest.param("service.beta.kubernetes.io/aws-load-balancer-type", "nlb", Use.PROVIDER, "aws", id="aws-type"),
        pytest.param(
            "service.beta.kubernetes.io/azure-load-balancer-internal", "true", Use.CORE, "azure", id="azure-internal"
        ),
        pytest.param(
            "service.beta.kubernetes.io/azure-allowed-ip-ranges",
            "10.0.0.0/8",
            Use.PROVIDER,
            "azure",
            id="azure-allowed-ranges",
        ),
        pytest.param("service.beta.kubernetes.io/azure-pip-name", "my-ip", Use.PROVIDER, "azure", id="azure-pip"),
        pytest.param("loadbalancer.openstack.org/flavor-id", "f1", Use.PROVIDER, "openstack", id="openstack-prefix"),
        pytest.param(
            "service.beta.kubernetes.io/openstack-internal-load-balancer",
            "true",
            Use.CORE,
            "openstack",
            id="openstack-internal",
        ),
        pytest.param("kubectl.kubernetes.io/last-applied-configuration", "{}", Use.IGNORED, None, id="kubectl"),
        pytest.param("example.com/owner", "team-a", Use.IGNORED, None, id="user-annotation"),
        pytest.param(
            "service.beta.kubernetes.io/gcp-load-balancer-type", "Internal", Use.IGNORED, None, id="unsupported-cloud"
        ),
    ],
)
def test_explain_classifies_each_key(key: str, value: str, use: Use, provider: str | None) -> None:
    (got,) = explain(service(annotations={key: value}))

    assert (got.key, got.value, got.use, got.provider) == (key, value, use, provider)
    assert got.description


def test_explain_is_sorted_and_tolerates_what_the_builder_refuses() -> None:
    body = service(annotations={"z.example/a": "1", "cloudlb.io/nope": "x", "a.example/b": True})

    uses = explain(body)

    assert [(u.key, u.value, u.use) for u in uses] == [
        ("a.example/b", "true", Use.IGNORED),
        ("cloudlb.io/nope", "x", Use.UNKNOWN),
        ("z.example/a", "1", Use.IGNORED),
    ]
    assert uses[1].description.startswith("unknown cloudlb.io annotation")


def test_explain_unknown_neutral_key_gives_the_same_suggestion_as_the_error() -> None:
    body = service(annotations={"cloudlb.io/health-check-intervl": "5"})

    (use,) = explain(body)
    with pytest.raises(InvalidSpecError) as caught:
        spec_from_manifests(body, nodes=[node("n1", "10.0.0.1")])

    assert (
        use.description
        == caught.value.message
        == 'unknown cloudlb.io annotation; did you mean "cloudlb.io/health-check-interval"?'
    )


@pytest.mark.parametrize(
    ("body", "want"),
    [
        pytest.param(service(), [], id="no-annotations"),
        pytest.param({"kind": "Service", "metadata": {"name": "x", "annotations": None}}, [], id="null-annotations"),
    ],
)
def test_explain_without_annotations(body: dict[str, Any], want: list[AnnotationUse]) -> None:
    assert explain(body) == want


def test_explain_malformed_annotations_is_invalid() -> None:
    with pytest.raises(InvalidSpecError) as caught:
        explain({"metadata": {"annotations": "a=b"}})

    assert caught.value.path == "metadata.annotations"


VALID = {
    "cloudlb.io/target-type": "node",
    "cloudlb.io/internal": "true",
    "cloudlb.io/algorithm": "least-connections",
    "cloudlb.io/health-check-protocol": "HTTP",
    "cloudlb.io/health-check-port": "10256",
    "cloudlb.io/health-check-path": "/livez",
    "cloudlb.io/health-check-interval": "15",
    "cloudlb.io/health-check-timeout": "4",
    "cloudlb.io/health-check-healthy-threshold": "3",
    "cloudlb.io/health-check-unhealthy-threshold": "4",
    "cloudlb.io/proxy-protocol": "v2",
    "cloudlb.io/tags": "team=web",
}


def test_every_table_key_is_a_neutral_key_the_builder_accepts() -> None:
    spec = spec_from_manifests(service(annotations=VALID), nodes=[node("n1", "10.0.0.1")])

    assert set(CLOUDLB_ANNOTATIONS) == set(VALID)
    assert dict(spec.annotations) == VALID
    assert all(provider_for(key) is None and CLOUDLB_ANNOTATIONS[key] for key in CLOUDLB_ANNOTATIONS)


@pytest.mark.parametrize(
    ("body", "load_balancer_class", "want"),
    [
        pytest.param(service(), None, True, id="load-balancer-without-class"),
        pytest.param(service(type="ClusterIP"), None, False, id="cluster-ip"),
        pytest.param(service(type="NodePort"), None, False, id="node-port"),
        pytest.param(service(loadBalancerClass="cloudlb.io/aws"), None, True, id="any-cloudlb-class"),
        pytest.param(service(loadBalancerClass="service.k8s.aws/nlb"), None, False, id="foreign-class"),
        pytest.param(service(loadBalancerClass="cloudlb.io/azure"), "cloudlb.io/aws", False, id="other-cloudlb-class"),
        pytest.param(service(loadBalancerClass="cloudlb.io/aws"), "cloudlb.io/aws", True, id="own-class"),
        pytest.param(service(), "cloudlb.io/aws", True, id="classless-with-controller-class"),
        pytest.param({"kind": "Service", "spec": 3}, None, False, id="malformed-spec"),
        pytest.param({"kind": "Service", "spec": {"type": ["LoadBalancer"]}}, None, False, id="malformed-type"),
        pytest.param("Service", None, False, id="not-a-mapping"),
    ],
)
def test_is_managed(body: Any, load_balancer_class: str | None, want: bool) -> None:
    assert is_managed(body, load_balancer_class=load_balancer_class) is want
