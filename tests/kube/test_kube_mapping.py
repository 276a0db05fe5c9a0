"""spec_from_manifests on well-formed input: each field of LoadBalancerSpec from its Service field or annotation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from cloudlb import (
    Algorithm,
    FrozenDict,
    HealthCheck,
    HealthCheckProtocol,
    IPFamily,
    Listener,
    Protocol,
    ProxyProtocol,
    Scheme,
    SessionAffinity,
    Target,
    TargetMode,
    TrafficPolicy,
    spec_from_manifests,
)
from cloudlb.kube import NodePool
from tests.kube.builders import endpoint, endpoint_slice, node, port, service

NODES = [node("n1", "10.0.0.1"), node("n2", "10.0.0.2")]


def node_pool(node_port: int) -> frozenset[Target]:
    return frozenset({Target("10.0.0.1", node_port, "n1"), Target("10.0.0.2", node_port, "n2")})


@dataclass(frozen=True)
class Case:
    service: Mapping[str, Any]
    want: Mapping[str, Any]  # LoadBalancerSpec attribute -> expected value
    slices: tuple[Mapping[str, Any], ...] = ()
    nodes: tuple[Mapping[str, Any], ...] = tuple(NODES)
    cluster: str = "default"


CASES = [
    pytest.param(
        Case(
            service=service(),
            want={
                "cluster": "default",
                "namespace": "demo",
                "name": "web",
                "uid": "uid-1",
                "listeners": (Listener("http", Protocol.TCP, 80, 30080, 80, node_pool(30080)),),
                "target_mode": TargetMode.NODE,
                "scheme": Scheme.EXTERNAL,
                "algorithm": Algorithm.ROUND_ROBIN,
                "health_check": HealthCheck(),
                "source_ranges": (),
                "session_affinity": SessionAffinity.NONE,
                "affinity_timeout": 10800,
                "load_balancer_ip": None,
                "ip_families": (IPFamily.IPV4,),
                "traffic_policy": TrafficPolicy.CLUSTER,
                "health_check_node_port": None,
                "proxy_protocol": ProxyProtocol.NONE,
                "load_balancer_class": None,
                "tags": FrozenDict(),
                "annotations": FrozenDict(),
            },
        ),
        id="defaults-node-mode",
    ),
    pytest.param(
        Case(
            service=service(namespace=None, uid=None),
            cluster="prod",
            want={"namespace": "default", "uid": "", "cluster": "prod"},
        ),
        id="namespace-defaults-and-uid-empty",
    ),
    pytest.param(
        Case(
            service=service(ports=[port(protocol=None, target_port="http-web")]),
            want={"listeners": (Listener("http", Protocol.TCP, 80, 30080, "http-web", node_pool(30080)),)},
        ),
        id="protocol-defaults-tcp-named-target-port",
    ),
    pytest.param(
        Case(
            service=service(
                ports=[
                    port(name="dns-udp", port=53, node_port=30053, protocol="UDP", target_port=5353),
                    port(name="dns-tcp", port=53, node_port=30054, protocol="TCP", target_port=5353),
                ]
            ),
            want={
                "listeners": (
                    Listener("dns-udp", Protocol.UDP, 53, 30053, 5353, node_pool(30053)),
                    Listener("dns-tcp", Protocol.TCP, 53, 30054, 5353, node_pool(30054)),
                ),
                "protocols": frozenset({Protocol.TCP, Protocol.UDP}),
            },
        ),
        id="mixed-protocols-same-port",
    ),
    pytest.param(
        Case(
            service=service(),
            nodes=(
                node("a", "10.1.0.1", labels={"topology.kubernetes.io/zone": "z1"}, provider_id="aws:///z1/i-1"),
                node("old-zone", "10.1.0.2", labels={"failure-domain.beta.kubernetes.io/zone": "z2"}),
                node("deleting", "10.1.0.3", deleting=True),
                node("excluded", "10.1.0.4", labels={"node.kubernetes.io/exclude-from-external-load-balancers": ""}),
                node(
                    "scaling-down",
                    "10.1.0.5",
                    taints=[{"key": "ToBeDeletedByClusterAutoscaler", "effect": "NoSchedule"}],
                ),
                node("other-taint", "10.1.0.6", taints=[{"key": "dedicated", "effect": "NoSchedule"}]),
                node("no-internal-ip", None, extra_addresses=[{"type": "ExternalIP", "address": "203.0.113.1"}]),
                node("ipv6-only", None, extra_addresses=[{"type": "InternalIP", "address": "fd00::7"}]),
            ),
            want={
                "targets": frozenset(
                    {
                        Target("10.1.0.1", 30080, "a", "aws:///z1/i-1", "z1"),
                        Target("10.1.0.2", 30080, "old-zone", None, "z2"),
                        Target("10.1.0.6", 30080, "other-taint"),
                    }
                )
            },
        ),
        id="node-filters-zone-provider-id",
    ),
    pytest.param(
        Case(
            service=service(ipFamilies=["IPv6"]),
            nodes=(
                node("dual", "10.2.0.1", extra_addresses=[{"type": "InternalIP", "address": "FD00:0:0::1"}]),
                node("v4-only", "10.2.0.2"),
            ),
            want={"ip_families": (IPFamily.IPV6,), "targets": frozenset({Target("fd00::1", 30080, "dual")})},
        ),
        id="ipv6-family-picks-ipv6-internal-ip-canonical",
    ),
    pytest.param(
        Case(
            service=service(annotations={"cloudlb.io/target-type": "pod"}),
            slices=(
                endpoint_slice(
                    endpoints=[
                        endpoint("10.9.0.1", node_name="n1", zone="z1"),
                        endpoint("10.9.0.2", ready=None, terminating=None),
                        endpoint("10.9.0.3", ready=False),
                        endpoint("10.9.0.4", ready=True, terminating=True),
                    ]
                ),
                endpoint_slice(
                    name="web-second", endpoints=[endpoint("10.9.0.5"), endpoint("10.9.0.1", node_name="n1", zone="z1")]
                ),
                endpoint_slice(service_name="other", endpoints=[endpoint("10.9.9.1")]),
                endpoint_slice(namespace="elsewhere", endpoints=[endpoint("10.9.9.2")]),
                endpoint_slice(address_type="FQDN", endpoints=[{"addresses": ["web.example.com"]}]),
                endpoint_slice(address_type="IPv6", endpoints=[endpoint("fd00::9")]),
            ),
            want={
                "target_mode": TargetMode.POD,
                "targets": frozenset(
                    {Target("10.9.0.1", 8080, "n1", None, "z1"), Target("10.9.0.2", 8080), Target("10.9.0.5", 8080)}
                ),
            },
        ),
        id="pod-mode-ready-endpoints-of-own-slices",
    ),
    pytest.param(
        Case(
            service=service(
                annotations={"cloudlb.io/target-type": "POD"},
                ports=[
                    port(name="web", port=80, node_port=None),
                    port(name="dns", port=53, node_port=None, protocol="UDP"),
                    port(name="metrics", port=9000, node_port=None),
                ],
            ),
            slices=(
                endpoint_slice(
                    ports=[
                        {"name": "web", "protocol": "TCP", "port": 8080},
                        {"name": "dns", "protocol": "TCP", "port": 5353},
                        {"name": "dns", "protocol": "UDP", "port": 5354},
                        {"name": "metrics", "protocol": "TCP", "port": None},
                    ],
                    endpoints=[endpoint("10.9.1.1")],
                ),
            ),
            want={
                "listeners": (
                    Listener("web", Protocol.TCP, 80, None, 80, frozenset({Target("10.9.1.1", 8080)})),
                    Listener("dns", Protocol.UDP, 53, None, 53, frozenset({Target("10.9.1.1", 5354)})),
                    Listener("metrics", Protocol.TCP, 9000, None, 9000, frozenset()),
                )
            },
        ),
        id="pod-ports-match-by-name-and-protocol",
    ),
    pytest.param(
        Case(
            service=service(ports=[{"port": 80}], annotations={"cloudlb.io/target-type": "pod"}),
            slices=(endpoint_slice(ports=[{"port": 8080}], endpoints=[endpoint("10.9.2.1")]),),
            want={"listeners": (Listener("", Protocol.TCP, 80, None, 80, frozenset({Target("10.9.2.1", 8080)})),)},
        ),
        id="pod-unnamed-port-matches-unnamed-slice-port",
    ),
    pytest.param(
        Case(
            service=service(
                annotations={"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"},
                ports=[port(node_port=None)],
            ),
            slices=(endpoint_slice(endpoints=[endpoint("10.9.3.1")]),),
            want={"target_mode": TargetMode.POD, "targets": frozenset({Target("10.9.3.1", 8080)})},
        ),
        id="pod-mode-from-aws-nlb-target-type-ip",
    ),
    pytest.param(
        Case(
            service=service(allocateLoadBalancerNodePorts=False, ports=[port(node_port=None)]),
            slices=(endpoint_slice(endpoints=[endpoint("10.9.4.1")]),),
            want={"target_mode": TargetMode.POD, "targets": frozenset({Target("10.9.4.1", 8080)})},
        ),
        id="pod-mode-when-no-node-ports-allocated",
    ),
    pytest.param(
        Case(
            service=service(allocateLoadBalancerNodePorts=False),
            want={"target_mode": TargetMode.NODE, "targets": node_pool(30080)},
        ),
        id="node-mode-when-node-ports-given-anyway",
    ),
    pytest.param(
        Case(
            service=service(externalTrafficPolicy="Local", healthCheckNodePort=32000),
            want={
                "traffic_policy": TrafficPolicy.LOCAL,
                "health_check_node_port": 32000,
                "health_check": HealthCheck(HealthCheckProtocol.HTTP, 32000, "/healthz"),
            },
        ),
        id="etp-local-probes-health-check-node-port",
    ),
    pytest.param(
        Case(
            service=service(externalTrafficPolicy="Local", annotations={"cloudlb.io/target-type": "pod"}),
            want={"traffic_policy": TrafficPolicy.LOCAL, "health_check_node_port": None, "health_check": HealthCheck()},
        ),
        id="etp-local-pod-mode-needs-no-node-port",
    ),
    pytest.param(
        Case(
            service=service(
                annotations={
                    "cloudlb.io/health-check-protocol": "http",
                    "cloudlb.io/health-check-port": "8081",
                    "cloudlb.io/health-check-path": "/ready",
                    "cloudlb.io/health-check-interval": "30s",
                    "cloudlb.io/health-check-timeout": "2.5",
                    "cloudlb.io/health-check-healthy-threshold": "5",
                    "cloudlb.io/health-check-unhealthy-threshold": "10",
                }
            ),
            want={"health_check": HealthCheck(HealthCheckProtocol.HTTP, 8081, "/ready", 30.0, 2.5, 5, 10)},
        ),
        id="health-check-annotations-override",
    ),
    pytest.param(
        Case(
            service=service(annotations={"cloudlb.io/health-check-protocol": "HTTPS"}),
            want={"health_check": HealthCheck(HealthCheckProtocol.HTTPS, None, "/")},
        ),
        id="health-check-http-path-defaults-to-slash",
    ),
    pytest.param(
        Case(
            service=service(
                externalTrafficPolicy="Local",
                healthCheckNodePort=32000,
                annotations={"cloudlb.io/health-check-protocol": "TCP"},
            ),
            want={"health_check": HealthCheck(HealthCheckProtocol.TCP, 32000, None)},
        ),
        id="health-check-tcp-on-local-drops-path",
    ),
    pytest.param(
        Case(
            service=service(
                externalTrafficPolicy="Local",
                healthCheckNodePort=32000,
                annotations={"cloudlb.io/health-check-port": "traffic-port"},
            ),
            want={"health_check": HealthCheck(HealthCheckProtocol.HTTP, None, "/healthz")},
        ),
        id="health-check-traffic-port",
    ),
    pytest.param(
        Case(
            service=service(
                loadBalancerSourceRanges=["10.0.0.0/8", "192.168.1.7/24", "10.0.0.0/8", "2001:DB8::/32", "1.2.3.4"]
            ),
            want={"source_ranges": ("1.2.3.4/32", "10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32")},
        ),
        id="source-ranges-normalised-deduplicated-sorted",
    ),
    pytest.param(
        Case(
            service=service(
                annotations={"service.beta.kubernetes.io/load-balancer-source-ranges": " 172.16.0.0/12 , 10.1.0.0/16,"}
            ),
            want={"source_ranges": ("10.1.0.0/16", "172.16.0.0/12")},
        ),
        id="source-ranges-from-annotation",
    ),
    pytest.param(
        Case(
            service=service(
                loadBalancerSourceRanges=["10.0.0.0/8"],
                annotations={"service.beta.kubernetes.io/load-balancer-source-ranges": "172.16.0.0/12"},
            ),
            want={"source_ranges": ("10.0.0.0/8",)},
        ),
        id="source-ranges-field-wins",
    ),
    pytest.param(
        Case(
            service=service(
                loadBalancerSourceRanges=[],
                annotations={"service.beta.kubernetes.io/load-balancer-source-ranges": "172.16.0.0/12"},
            ),
            want={"source_ranges": ("172.16.0.0/12",)},
        ),
        id="source-ranges-empty-field-falls-back",
    ),
    pytest.param(
        Case(
            service=service(sessionAffinity="ClientIP"),
            want={
                "session_affinity": SessionAffinity.CLIENT_IP,
                "affinity_timeout": 10800,
                "algorithm": Algorithm.SOURCE_IP,
            },
        ),
        id="client-ip-implies-source-ip",
    ),
    pytest.param(
        Case(
            service=service(
                sessionAffinity="ClientIP",
                sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}},
                annotations={"cloudlb.io/algorithm": "source-ip"},
            ),
            want={"affinity_timeout": 60, "algorithm": Algorithm.SOURCE_IP},
        ),
        id="client-ip-timeout-and-explicit-source-ip",
    ),
    pytest.param(
        Case(
            service=service(annotations={"cloudlb.io/algorithm": "Least-Connections"}),
            want={"algorithm": Algorithm.LEAST_CONNECTIONS},
        ),
        id="algorithm-case-insensitive",
    ),
    pytest.param(
        Case(service=service(annotations={"cloudlb.io/algorithm": "random"}), want={"algorithm": Algorithm.RANDOM}),
        id="algorithm-random",
    ),
    pytest.param(
        Case(service=service(annotations={"cloudlb.io/internal": "TRUE"}), want={"scheme": Scheme.INTERNAL}),
        id="internal-true",
    ),
    pytest.param(
        Case(service=service(annotations={"cloudlb.io/internal": "false"}), want={"scheme": Scheme.EXTERNAL}),
        id="internal-false",
    ),
    pytest.param(
        Case(
            service=service(annotations={"service.beta.kubernetes.io/aws-load-balancer-internal": "0.0.0.0/0"}),
            want={"scheme": Scheme.INTERNAL},
        ),
        id="internal-aws-cidr",
    ),
    pytest.param(
        Case(
            service=service(annotations={"service.beta.kubernetes.io/aws-load-balancer-internal": "false"}),
            want={"scheme": Scheme.EXTERNAL},
        ),
        id="internal-aws-false",
    ),
    pytest.param(
        Case(
            service=service(
                annotations={
                    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
                    "cloudlb.io/internal": "true",
                }
            ),
            want={"scheme": Scheme.INTERNAL},
        ),
        id="internal-aws-scheme-agrees",
    ),
    pytest.param(
        Case(
            service=service(annotations={"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}),
            want={"scheme": Scheme.INTERNAL},
        ),
        id="internal-azure",
    ),
    pytest.param(
        Case(
            service=service(annotations={"service.beta.kubernetes.io/openstack-internal-load-balancer": "True"}),
            want={"scheme": Scheme.INTERNAL},
        ),
        id="internal-openstack",
    ),
    pytest.param(
        Case(
            service=service(annotations={"cloudlb.io/proxy-protocol": "v1"}), want={"proxy_protocol": ProxyProtocol.V1}
        ),
        id="proxy-protocol-v1",
    ),
    pytest.param(
        Case(
            service=service(annotations={"cloudlb.io/proxy-protocol": "true"}),
            want={"proxy_protocol": ProxyProtocol.V2},
        ),
        id="proxy-protocol-true-is-v2",
    ),
    pytest.param(
        Case(
            service=service(annotations={"cloudlb.io/proxy-protocol": "False"}),
            want={"proxy_protocol": ProxyProtocol.NONE},
        ),
        id="proxy-protocol-false",
    ),
    pytest.param(
        Case(
            service=service(annotations={"cloudlb.io/tags": "team=web, cost-center = 42 ,empty=,"}),
            want={"tags": FrozenDict({"team": "web", "cost-center": "42", "empty": ""})},
        ),
        id="tags",
    ),
    pytest.param(
        Case(service=service(loadBalancerIP="2001:DB8:0::10"), want={"load_balancer_ip": "2001:db8::10"}),
        id="load-balancer-ip-normalised",
    ),
    pytest.param(
        Case(
            service=service(ipFamilies=["IPv4", "IPv6"], loadBalancerClass="cloudlb.io/local"),
            want={"ip_families": (IPFamily.IPV4, IPFamily.IPV6), "load_balancer_class": "cloudlb.io/local"},
        ),
        id="dual-stack-and-class",
    ),
    pytest.param(
        Case(
            service=service(
                annotations={
                    "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                    "kubectl.kubernetes.io/last-applied-configuration": "{}",
                }
            ),
            want={
                "annotations": FrozenDict(
                    {
                        "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                        "kubectl.kubernetes.io/last-applied-configuration": "{}",
                    }
                )
            },
        ),
        id="annotations-carried-whole",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_spec_from_manifests(case: Case) -> None:
    spec = spec_from_manifests(case.service, case.slices, case.nodes, cluster=case.cluster)

    got = {attribute: getattr(spec, attribute) for attribute in case.want}

    assert got == dict(case.want)


def test_node_readiness_is_not_a_filter() -> None:
    not_ready = node("n3", "10.0.0.3")
    not_ready["status"]["conditions"] = [{"type": "Ready", "status": "False"}]

    spec = spec_from_manifests(service(), nodes=[not_ready])

    assert spec.targets == frozenset({Target("10.0.0.3", 30080, "n3")})


def test_accepts_generators_and_ignores_input_order() -> None:
    nodes = [node(f"n{i}", f"10.3.0.{i}") for i in range(1, 6)]

    no_slices: list[dict[str, Any]] = []
    forward = spec_from_manifests(service(), (s for s in no_slices), iter(nodes))
    backward = spec_from_manifests(service(), (), list(reversed(nodes)))

    assert forward == backward
    assert len(forward.targets) == 5


def test_spec_is_hashable_and_equal_for_equal_input() -> None:
    first = spec_from_manifests(service(annotations={"cloudlb.io/tags": "a=1"}), (), NODES)
    second = spec_from_manifests(service(annotations={"cloudlb.io/tags": "a=1"}), (), NODES)

    assert first == second
    assert hash(first) == hash(second)


def test_large_pod_pool_is_built_completely() -> None:
    endpoints = [endpoint(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}") for i in range(5000)]
    slices = [endpoint_slice(name=f"web-{n}", endpoints=endpoints[n : n + 100]) for n in range(0, 5000, 100)]

    spec = spec_from_manifests(service(annotations={"cloudlb.io/target-type": "pod"}), slices)

    assert len(spec.targets) == 5000
    assert Target("10.0.19.135", 8080) in spec.targets  # endpoint 4999


def test_a_node_pool_is_reusable_across_services() -> None:
    nodes = [node("n1", "10.0.0.1"), node("n2", "10.0.0.2")]
    pool = NodePool.of(nodes)

    with_pool = [spec_from_manifests(service(f"s{i}", ports=[port(node_port=30000 + i)]), (), pool) for i in range(3)]
    with_list = [spec_from_manifests(service(f"s{i}", ports=[port(node_port=30000 + i)]), (), nodes) for i in range(3)]

    assert with_pool == with_list
    assert with_pool[2].targets == frozenset({Target("10.0.0.1", 30002, "n1"), Target("10.0.0.2", 30002, "n2")})
