"""What AWS would refuse (and moto would not) is refused before any call: plan and ensure raise, 0 calls made."""

from __future__ import annotations

from typing import Any

import pytest

from cloudlb.errors import CloudLBError, InvalidSpecError, UnsupportedFeatureError
from cloudlb.model import (
    Algorithm,
    FrozenDict,
    HealthCheck,
    Listener,
    LoadBalancerSpec,
    Protocol,
    ProxyProtocol,
    Scheme,
    Target,
)
from cloudlb_aws.clients import CallLog
from cloudlb_aws.provider import AwsProvider
from tests.aws.helpers import fake_instances, make_provider, node_pool, spec, tcp, udp

AWS = "service.beta.kubernetes.io/aws-load-balancer-"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
POOL = node_pool(fake_instances(3), 30080)


def web(**fields: Any) -> LoadBalancerSpec:
    return spec(tcp(80, POOL, node_port=30080, name="http"), **fields)


def annotated(annotations: dict[str, str], **fields: Any) -> LoadBalancerSpec:
    return web(annotations=annotations, **fields)


CASES = [
    pytest.param(web(tags=FrozenDict({f"k{i}": "v" for i in range(45)})), InvalidSpecError, "at most 50", id="51-tags"),
    pytest.param(web(tags=FrozenDict({"k" * 129: "v"})), InvalidSpecError, "1 to 128", id="tag-key-129"),
    pytest.param(web(tags=FrozenDict({"k": "v" * 257})), InvalidSpecError, "longer than 256", id="tag-value-257"),
    pytest.param(web(tags=FrozenDict({"aws:x": "v"})), InvalidSpecError, "reserved", id="tag-aws-prefix"),
    pytest.param(
        spec(tcp(80, node_pool(fake_instances(1001), 30080), node_port=30080)),
        InvalidSpecError,
        "at most 1000",
        id="1001-targets",
    ),
    pytest.param(
        spec(*(tcp(1000 + p, POOL, node_port=30000 + p) for p in range(51))),
        InvalidSpecError,
        "at most 50",
        id="51-listeners",
    ),
    pytest.param(annotated({AWS + "ssl-ports": "443"}), InvalidSpecError, "needs a certificate", id="tls-no-cert"),
    pytest.param(
        annotated({AWS + "ssl-cert": CERT, AWS + "ssl-ports": "8443"}),
        InvalidSpecError,
        "not a port number or name",
        id="ssl-port-unknown",
    ),
    pytest.param(
        spec(udp(53, POOL, node_port=30053), annotations=FrozenDict({AWS + "ssl-cert": CERT, AWS + "ssl-ports": "53"})),
        InvalidSpecError,
        "carries UDP",
        id="tls-on-udp",
    ),
    pytest.param(web(proxy_protocol=ProxyProtocol.V1), UnsupportedFeatureError, "proxy-protocol-v1", id="proxy-v1"),
    pytest.param(
        annotated({"cloudlb.io/health-check-interval": "3"}, health_check=HealthCheck(interval=3.0, timeout=2.0)),
        InvalidSpecError,
        "5..300",
        id="interval-3",
    ),
    pytest.param(web(health_check=HealthCheck(healthy_threshold=1)), InvalidSpecError, "2..10", id="threshold-1"),
    pytest.param(
        annotated({AWS + "healthcheck-timeout": "20", AWS + "healthcheck-interval": "10"}),
        InvalidSpecError,
        "longer than the interval",
        id="timeout-over-interval",
    ),
    pytest.param(
        spec(tcp(80, [Target("10.0.0.5", 30080, "node-x", "gce://p/z/n")], node_port=30080)),
        InvalidSpecError,
        "instance id",
        id="node-without-aws-provider-id",
    ),
    pytest.param(
        spec(tcp(53, node_pool(fake_instances(2), 30053)), udp(53, node_pool(fake_instances(2), 30054))),
        UnsupportedFeatureError,
        "same nodePort",
        id="tcp-udp-other-node-ports",
    ),
    pytest.param(
        annotated({AWS + "eip-allocations": "eipalloc-1"}, scheme=Scheme.INTERNAL),
        InvalidSpecError,
        "internet-facing",
        id="eip-internal",
    ),
    pytest.param(
        annotated({AWS + "eip-allocations": "eipalloc-1", AWS + "subnets": "subnet-1,subnet-2"}),
        InvalidSpecError,
        "one per subnet",
        id="eip-count",
    ),
    pytest.param(
        annotated({AWS + "target-group-attributes": "stickiness.lb_cookie.duration_seconds=10"}),
        InvalidSpecError,
        "not a Network Load Balancer attribute",
        id="attribute-unknown",
    ),
    pytest.param(
        annotated({AWS + "target-group-attributes": "deregistration_delay.timeout_seconds=9999"}),
        InvalidSpecError,
        "not a value AWS accepts",
        id="attribute-value",
    ),
    pytest.param(
        annotated(
            {AWS + "target-group-attributes": "proxy_protocol_v2.enabled=false"}, proxy_protocol=ProxyProtocol.V2
        ),
        InvalidSpecError,
        "contradicts",
        id="attribute-contradicts-spec",
    ),
    pytest.param(web(algorithm=Algorithm.LEAST_CONNECTIONS), UnsupportedFeatureError, "least", id="least-conn"),
    pytest.param(web(load_balancer_ip="1.2.3.4"), UnsupportedFeatureError, "load-balancer-ip", id="lb-ip"),
    pytest.param(
        spec(Listener("sctp", Protocol.SCTP, 3868, 30868, None, POOL)), UnsupportedFeatureError, "sctp", id="sctp"
    ),
    pytest.param(
        web(source_ranges=("10.0.0.0/8",)), UnsupportedFeatureError, "source-ranges", id="ranges-unmanaged-groups"
    ),
    pytest.param(annotated({AWS + "type": "clb"}), UnsupportedFeatureError, "type-clb", id="clb-not-configured"),
]


@pytest.fixture
def provider(aws: None) -> AwsProvider:
    """No network is seeded: nothing here may reach the cloud (and moto still stands guard should a call slip out)."""
    return make_provider()


@pytest.mark.parametrize(("bad", "error", "message"), CASES)
def test_refused_before_any_call(
    provider: AwsProvider, calls: CallLog, bad: LoadBalancerSpec, error: type[CloudLBError], message: str
) -> None:
    with pytest.raises(error, match=message):
        provider.plan(bad)
    with pytest.raises(error, match=message):
        provider.ensure(bad)
    with pytest.raises(error, match=message):
        provider.update_targets(bad)

    assert calls.count() == 0


def test_an_annotation_error_names_the_annotation(provider: AwsProvider) -> None:
    with pytest.raises(InvalidSpecError) as caught:
        provider.plan(
            annotated({"cloudlb.io/health-check-interval": "3"}, health_check=HealthCheck(interval=3.0, timeout=2.0))
        )

    assert caught.value.path == 'metadata.annotations["cloudlb.io/health-check-interval"]'


def test_a_node_without_an_instance_id_is_named(provider: AwsProvider) -> None:
    bad = spec(tcp(80, [Target("10.0.0.5", 30080, "ip-10-0-0-5", None)], node_port=30080))

    with pytest.raises(InvalidSpecError) as caught:
        provider.plan(bad)

    assert caught.value.path == 'nodes["ip-10-0-0-5"].spec.providerID'
