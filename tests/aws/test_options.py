"""The AWS options, parsed once: provider keyword arguments (``AwsOptions``) and the anchors' annotations
(``ServiceOptions``), as table tests. Every malformed value is refused naming the option or the annotation."""

from __future__ import annotations

from typing import Any

import pytest

from cloudlb.errors import ConfigError, InvalidSpecError
from cloudlb.model import (
    FrozenDict,
    HealthCheck,
    HealthCheckProtocol,
    LoadBalancerSpec,
    TargetMode,
    TrafficPolicy,
)
from cloudlb_aws.options import AwsOptions, LoadBalancerType, ServiceOptions

AWS = "service.beta.kubernetes.io/aws-load-balancer-"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/abc"


def parse(annotations: dict[str, str], **fields: Any) -> ServiceOptions:
    spec = LoadBalancerSpec("c", "default", "web", annotations=FrozenDict(annotations), **fields)
    return ServiceOptions.parse(spec, AwsOptions())


@pytest.mark.parametrize(
    ("annotations", "field", "expected"),
    [
        pytest.param({}, "type", LoadBalancerType.NLB, id="type-default"),
        pytest.param({AWS + "type": "nlb"}, "type", LoadBalancerType.NLB, id="type-nlb"),
        pytest.param({AWS + "type": "external"}, "type", LoadBalancerType.NLB, id="type-external"),
        pytest.param({AWS + "type": "CLB"}, "type", LoadBalancerType.CLB, id="type-clb"),
        pytest.param({AWS + "type": "classic"}, "type", LoadBalancerType.CLB, id="type-classic"),
        pytest.param(
            {AWS + "subnets": "subnet-1, private-a ,subnet-1"}, "subnets", ("subnet-1", "private-a"), id="subnets"
        ),
        pytest.param({AWS + "ssl-cert": CERT}, "ssl_certificate", CERT, id="ssl-cert"),
        pytest.param({AWS + "ssl-cert": CERT}, "ssl_ports", None, id="ssl-ports-default-all"),
        pytest.param({AWS + "ssl-ports": "*"}, "ssl_ports", None, id="ssl-ports-star"),
        pytest.param({AWS + "ssl-ports": "443, https"}, "ssl_ports", frozenset({"443", "https"}), id="ssl-ports-list"),
        pytest.param(
            {
                AWS
                + "target-group-attributes": "proxy_protocol_v2.enabled=true, deregistration_delay.timeout_seconds=30"
            },
            "target_group_attributes",
            {"proxy_protocol_v2.enabled": "true", "deregistration_delay.timeout_seconds": "30"},
            id="target-group-attributes",
        ),
        pytest.param(
            {AWS + "additional-resource-tags": "team=web,env=prod"},
            "additional_tags",
            {"team": "web", "env": "prod"},
            id="additional-resource-tags",
        ),
        pytest.param(
            {AWS + "eip-allocations": "eipalloc-1,eipalloc-2"},
            "eip_allocations",
            ("eipalloc-1", "eipalloc-2"),
            id="eip-allocations",
        ),
        pytest.param(
            {AWS + "security-groups": "sg-1, sg-2"}, "security_groups", ("sg-1", "sg-2"), id="security-groups"
        ),
        pytest.param({"kubectl.kubernetes.io/last-applied": "{}"}, "subnets", (), id="other-annotations-ignored"),
    ],
)
def test_annotations_parse_into_typed_fields(annotations: dict[str, str], field: str, expected: object) -> None:
    assert getattr(parse(annotations), field) == expected


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param({}, HealthCheck(), id="spec-default"),
        pytest.param(
            {AWS + "healthcheck-protocol": "HTTP"},
            HealthCheck(HealthCheckProtocol.HTTP, path="/"),
            id="http-gets-root-path",
        ),
        pytest.param(
            {
                AWS + "healthcheck-protocol": "https",
                AWS + "healthcheck-path": "/ready",
                AWS + "healthcheck-port": "8443",
                AWS + "healthcheck-interval": "30",
                AWS + "healthcheck-timeout": "10",
                AWS + "healthcheck-healthy-threshold": "5",
                AWS + "healthcheck-unhealthy-threshold": "4",
            },
            HealthCheck(HealthCheckProtocol.HTTPS, 8443, "/ready", 30.0, 10.0, 5, 4),
            id="every-key",
        ),
        pytest.param({AWS + "healthcheck-port": "traffic-port"}, HealthCheck(), id="traffic-port"),
    ],
)
def test_health_check_annotations_apply_over_the_spec(annotations: dict[str, str], expected: HealthCheck) -> None:
    assert parse(annotations).health_check == expected


def test_local_traffic_policy_probes_healthz_unless_an_annotation_says_otherwise() -> None:
    local: dict[str, Any] = {
        "traffic_policy": TrafficPolicy.LOCAL,
        "health_check_node_port": 32000,
        "target_mode": TargetMode.NODE,
    }

    assert parse({}, **local).health_check == HealthCheck(HealthCheckProtocol.HTTP, 32000, "/healthz")
    overridden = parse({AWS + "healthcheck-protocol": "tcp", AWS + "healthcheck-port": "traffic-port"}, **local)
    assert overridden.health_check == HealthCheck()


@pytest.mark.parametrize(
    ("annotations", "key", "message"),
    [
        pytest.param({AWS + "type": "alb"}, "type", "is not one of", id="unknown-type"),
        pytest.param({AWS + "ssl-cert": "not-an-arn"}, "ssl-cert", "is not an ARN", id="cert-not-arn"),
        pytest.param({AWS + "ssl-cert": f"{CERT},{CERT}2"}, "ssl-cert", "exactly one", id="two-certs"),
        pytest.param({AWS + "ssl-ports": " , "}, "ssl-ports", "is empty", id="empty-ssl-ports"),
        pytest.param({AWS + "healthcheck-protocol": "udp"}, "healthcheck-protocol", "not one of", id="hc-protocol"),
        pytest.param({AWS + "healthcheck-port": "70000"}, "healthcheck-port", "not a port", id="hc-port"),
        pytest.param({AWS + "healthcheck-interval": "10s"}, "healthcheck-interval", "whole number", id="hc-interval"),
        pytest.param(
            {AWS + "healthcheck-path": "/x"}, "healthcheck-path", "only applies to HTTP", id="hc-path-with-tcp"
        ),
        pytest.param(
            {AWS + "healthcheck-protocol": "http", AWS + "healthcheck-path": "x"},
            "healthcheck-path",
            "must start with /",
            id="hc-path-relative",
        ),
        pytest.param({AWS + "target-group-attributes": "novalue"}, "target-group-attributes", "key=value", id="attr"),
        pytest.param({AWS + "additional-resource-tags": "=x"}, "additional-resource-tags", "empty key", id="tag-key"),
        pytest.param({AWS + "eip-allocations": "1.2.3.4"}, "eip-allocations", "eipalloc-", id="eip-not-id"),
        pytest.param({AWS + "security-groups": "web-sg"}, "security-groups", "sg-", id="sg-not-id"),
        pytest.param({AWS + "subnets": ","}, "subnets", "is empty", id="subnets-empty"),
    ],
)
def test_a_malformed_annotation_is_refused_naming_it(annotations: dict[str, str], key: str, message: str) -> None:
    with pytest.raises(InvalidSpecError, match=message) as caught:
        parse(annotations)

    assert caught.value.path == f'metadata.annotations["{AWS}{key}"]'


@pytest.mark.parametrize(
    ("options", "field", "expected"),
    [
        pytest.param({}, "rate_limit", 10.0, id="rate-default"),
        pytest.param({"rate_limit": None}, "rate_limit", None, id="rate-off"),
        pytest.param({"rate_limit": "2.5"}, "rate_limit", 2.5, id="rate-from-text"),
        pytest.param({"targets_rate_limit": 4, "targets_rate_burst": 20}, "targets_rate_burst", 20.0, id="targets"),
        pytest.param({"subnets": "subnet-a, subnet-b"}, "subnets", ("subnet-a", "subnet-b"), id="subnets-text"),
        pytest.param({"subnets": ["subnet-a"]}, "subnets", ("subnet-a",), id="subnets-list"),
        pytest.param({"default_type": "clb"}, "default_type", LoadBalancerType.CLB, id="default-type"),
        pytest.param({"manage_security_groups": "false"}, "manage_security_groups", False, id="manage-text"),
        pytest.param({"retry_attempts": "3"}, "retry_attempts", 3, id="attempts"),
        pytest.param({"region": None}, "region", None, id="region-unset"),
        pytest.param({"endpoint_url": "http://127.0.0.1:5000"}, "endpoint_url", "http://127.0.0.1:5000", id="endpoint"),
    ],
)
def test_provider_options_are_typed(options: dict[str, Any], field: str, expected: object) -> None:
    assert getattr(AwsOptions.from_kwargs(**options), field) == expected


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"regoin": "us-east-1"}, "did you mean 'region'", id="typo"),
        pytest.param({"rate_limit": 0}, "must be positive", id="zero-rate"),
        pytest.param({"rate_limit": "fast"}, "must be a number", id="rate-text"),
        pytest.param({"retry_attempts": True}, "must be a number", id="bool-number"),
        pytest.param({"subnets": ["vpc-1"]}, "not a subnet id", id="subnet-id"),
        pytest.param({"default_type": "alb"}, "nlb or clb", id="type"),
        pytest.param({"manage_security_groups": "yes"}, "true or false", id="bool"),
        pytest.param({"region": 5}, "must be a string", id="region-type"),
    ],
)
def test_a_bad_provider_option_is_a_config_error(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AwsOptions.from_kwargs(**options)
