"""spec_from_manifests on malformed input: each error names the exact field path and, for slices and nodes, the
object's position in the arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from cloudlb import InvalidSpecError, spec_from_manifests
from tests.kube.builders import endpoint, endpoint_slice, node, port, service

NODES = (node("n1", "10.0.0.1"),)
POD = {"cloudlb.io/target-type": "pod"}


@dataclass(frozen=True)
class Bad:
    service: Any
    path: str
    message: str  # a fragment of the message after the path
    slices: Any = ()
    nodes: Any = NODES
    source: str | None = None
    cluster: Any = "default"


def with_metadata(**metadata: Any) -> dict[str, Any]:
    body = service()
    body["metadata"] = metadata
    return body


def with_spec(**changes: Any) -> dict[str, Any]:
    body = service()
    body["spec"] = {**body["spec"], **changes}
    return body


def annotated(**annotations: Any) -> dict[str, Any]:
    return service(annotations=dict(annotations))


def ann(key: str) -> str:
    return f'metadata.annotations["{key}"]'


CASES = [
    # the object itself and its identity
    pytest.param(
        Bad(service=["not", "a", "mapping"], path="", message="a Service must be a mapping"), id="not-a-mapping"
    ),
    pytest.param(
        Bad(service={**service(), "kind": "ConfigMap"}, path="kind", message='expected Service, got "ConfigMap"'),
        id="wrong-kind",
    ),
    pytest.param(
        Bad(service={**service(), "metadata": "web"}, path="metadata", message="must be a mapping"),
        id="metadata-not-mapping",
    ),
    pytest.param(
        Bad(service=with_metadata(namespace="demo"), path="metadata.name", message="required"), id="name-missing"
    ),
    pytest.param(
        Bad(service=with_metadata(name="web", namespace=7), path="metadata.namespace", message="must be a string"),
        id="namespace-not-string",
    ),
    pytest.param(Bad(service=service(), cluster="", path="cluster", message="non-empty string"), id="empty-cluster"),
    # type
    pytest.param(
        Bad(
            service=with_spec(type="ClusterIP"),
            path="spec.type",
            message='"ClusterIP"; cloudlb only handles Services of type LoadBalancer',
        ),
        id="type-cluster-ip",
    ),
    pytest.param(
        Bad(
            service={**service(), "spec": {"ports": [port()]}},
            path="spec.type",
            message="missing (defaults to ClusterIP)",
        ),
        id="type-missing",
    ),
    pytest.param(
        Bad(service={**service(), "spec": ["LoadBalancer"]}, path="spec", message="must be a mapping"),
        id="spec-not-mapping",
    ),
    # ports
    pytest.param(
        Bad(service=service(ports=[]), path="spec.ports", message="at least one port is required"), id="no-ports"
    ),
    pytest.param(
        Bad(service=with_spec(ports={"port": 80}), path="spec.ports", message="must be a list"), id="ports-not-list"
    ),
    pytest.param(
        Bad(service=service(ports=["80"]), path="spec.ports[0]", message="must be a mapping"),
        id="port-entry-not-mapping",
    ),
    pytest.param(
        Bad(
            service=service(ports=[port(), port(name="admin", port=70000, node_port=30001)]),
            path="spec.ports[1].port",
            message="70000 is not a port",
        ),
        id="port-out-of-range",
    ),
    pytest.param(
        Bad(service=service(ports=[port(port=0)]), path="spec.ports[0].port", message="0 is not a port"), id="port-zero"
    ),
    pytest.param(
        Bad(
            service=service(ports=[{"name": "a", "port": "80", "nodePort": 30080}]),
            path="spec.ports[0].port",
            message='must be an integer, not a string ("80")',
        ),
        id="port-string",
    ),
    pytest.param(
        Bad(
            service=service(ports=[{"name": "a", "port": True, "nodePort": 30080}]),
            path="spec.ports[0].port",
            message="must be an integer, not a boolean",
        ),
        id="port-boolean",
    ),
    pytest.param(
        Bad(
            service=service(ports=[{"name": "a", "port": 80.0, "nodePort": 30080}]),
            path="spec.ports[0].port",
            message="must be an integer, not a number",
        ),
        id="port-float",
    ),
    pytest.param(
        Bad(service=service(ports=[{"name": "a", "nodePort": 30080}]), path="spec.ports[0].port", message="required"),
        id="port-missing",
    ),
    pytest.param(
        Bad(
            service=service(ports=[port(protocol="HTTP")]),
            path="spec.ports[0].protocol",
            message='"HTTP" is not one of: TCP, UDP, SCTP',
        ),
        id="protocol-unknown",
    ),
    pytest.param(
        Bad(
            service=service(ports=[port(protocol="tcp")]), path="spec.ports[0].protocol", message='"tcp" is not one of'
        ),
        id="protocol-lowercase",
    ),
    pytest.param(
        Bad(
            service=service(ports=[port(name="a"), port(name="b", node_port=30081)]),
            path="spec.ports[1]",
            message="TCP/80 duplicates spec.ports[0]",
        ),
        id="duplicate-protocol-port",
    ),
    pytest.param(
        Bad(
            service=service(ports=[port(name="a"), port(name="a", port=81, node_port=30081)]),
            path="spec.ports[1].name",
            message='"a" is also the name of spec.ports[0]',
        ),
        id="duplicate-name",
    ),
    pytest.param(
        Bad(
            service=service(ports=[port(name="a"), {"port": 81, "nodePort": 30081}]),
            path="spec.ports[1].name",
            message="required when a Service has more than one port",
        ),
        id="unnamed-port-among-several",
    ),
    pytest.param(
        Bad(
            service=service(ports=[port(node_port=65536)]), path="spec.ports[0].nodePort", message="65536 is not a port"
        ),
        id="node-port-out-of-range",
    ),
    pytest.param(
        Bad(
            service=service(ports=[port(name="a"), port(name="b", port=81, node_port=None)]),
            path="spec.ports[1].nodePort",
            message="set it, or use the annotation cloudlb.io/target-type: pod",
        ),
        id="node-port-missing-in-node-mode",
    ),
    pytest.param(
        Bad(
            service=service(
                ports=[port(node_port=None)],
                annotations={"cloudlb.io/target-type": "node"},
                allocateLoadBalancerNodePorts=False,
            ),
            path="spec.ports[0].nodePort",
            message="required for node targets",
        ),
        id="node-port-missing-with-explicit-node-mode",
    ),
    pytest.param(
        Bad(
            service=service(ports=[port(target_port="Not_A_Name")]),
            path="spec.ports[0].targetPort",
            message="is not a port number or a port name",
        ),
        id="target-port-bad-name",
    ),
    pytest.param(
        Bad(
            service=service(ports=[port(target_port="8080")]),
            path="spec.ports[0].targetPort",
            message='"8080" is not a port number or a port name',
        ),
        id="target-port-numeric-string",
    ),
    pytest.param(
        Bad(service=service(ports=[port(target_port=0)]), path="spec.ports[0].targetPort", message="0 is not a port"),
        id="target-port-zero",
    ),
    pytest.param(
        Bad(
            service=with_spec(allocateLoadBalancerNodePorts="false"),
            path="spec.allocateLoadBalancerNodePorts",
            message='must be true or false, not "false"',
        ),
        id="allocate-not-boolean",
    ),
    # traffic policy
    pytest.param(
        Bad(
            service=with_spec(externalTrafficPolicy="Local"),
            path="spec.healthCheckNodePort",
            message="required with externalTrafficPolicy: Local",
        ),
        id="local-without-health-node-port",
    ),
    pytest.param(
        Bad(
            service=with_spec(externalTrafficPolicy="Sometimes"),
            path="spec.externalTrafficPolicy",
            message='"Sometimes" is not one of: Cluster, Local',
        ),
        id="traffic-policy-unknown",
    ),
    pytest.param(
        Bad(
            service=with_spec(healthCheckNodePort=32000),
            path="spec.healthCheckNodePort",
            message="only be set with externalTrafficPolicy: Local",
        ),
        id="health-node-port-with-cluster",
    ),
    pytest.param(
        Bad(
            service=with_spec(externalTrafficPolicy="Local", healthCheckNodePort=99999),
            path="spec.healthCheckNodePort",
            message="99999 is not a port",
        ),
        id="health-node-port-out-of-range",
    ),
    # affinity and algorithm
    pytest.param(
        Bad(
            service=with_spec(sessionAffinity="Sticky"),
            path="spec.sessionAffinity",
            message='"Sticky" is not one of: None, ClientIP',
        ),
        id="affinity-unknown",
    ),
    pytest.param(
        Bad(
            service=with_spec(sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 0}}),
            path="spec.sessionAffinityConfig.clientIP.timeoutSeconds",
            message="out of range 1..86400",
        ),
        id="affinity-timeout-zero",
    ),
    pytest.param(
        Bad(
            service=with_spec(
                sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 86401}}
            ),
            path="spec.sessionAffinityConfig.clientIP.timeoutSeconds",
            message="86401 is out of range",
        ),
        id="affinity-timeout-too-long",
    ),
    pytest.param(
        Bad(
            service=service(sessionAffinity="ClientIP", annotations={"cloudlb.io/algorithm": "round-robin"}),
            path=ann("cloudlb.io/algorithm"),
            message='"round-robin" conflicts with spec.sessionAffinity: ClientIP',
        ),
        id="affinity-conflicts-with-algorithm",
    ),
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/algorithm": "fastest"}),
            path=ann("cloudlb.io/algorithm"),
            message='"fastest" is not one of: round-robin, random, least-connections, source-ip',
        ),
        id="algorithm-unknown",
    ),
    # annotations in general
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/algoritm": "random"}),
            path=ann("cloudlb.io/algoritm"),
            message='unknown cloudlb.io annotation; did you mean "cloudlb.io/algorithm"?',
        ),
        id="annotation-typo-suggests",
    ),
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/zzz": "1"}),
            path=ann("cloudlb.io/zzz"),
            message="unknown cloudlb.io annotation; known keys: cloudlb.io/algorithm",
        ),
        id="annotation-unknown-lists-keys",
    ),
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/internal": True}),
            path=ann("cloudlb.io/internal"),
            message="must be a string, not true; quote it",
        ),
        id="annotation-value-not-string",
    ),
    pytest.param(
        Bad(
            service=with_metadata(name="web", annotations=["a"]),
            path="metadata.annotations",
            message="must be a mapping",
        ),
        id="annotations-not-mapping",
    ),
    pytest.param(
        Bad(
            service=with_metadata(name="web", annotations={1: "a"}),
            path="metadata.annotations",
            message="keys must be strings",
        ),
        id="annotation-key-not-string",
    ),
    # target type
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/target-type": "lambda"}),
            path=ann("cloudlb.io/target-type"),
            message='"lambda" is not one of: node, pod',
        ),
        id="target-type-unknown",
    ),
    pytest.param(
        Bad(
            service=annotated(
                **{
                    "cloudlb.io/target-type": "pod",
                    "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "instance",
                }
            ),
            path=ann("service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"),
            message='"instance" conflicts with metadata.annotations["cloudlb.io/target-type"]: "pod"',
        ),
        id="target-type-conflicts-with-aws",
    ),
    # scheme
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/internal": "yes"}),
            path=ann("cloudlb.io/internal"),
            message='"yes" is not a boolean',
        ),
        id="internal-not-boolean",
    ),
    pytest.param(
        Bad(
            service=annotated(
                **{"cloudlb.io/internal": "false", "service.beta.kubernetes.io/azure-load-balancer-internal": "true"}
            ),
            path=ann("service.beta.kubernetes.io/azure-load-balancer-internal"),
            message='"true" conflicts with metadata.annotations["cloudlb.io/internal"]: "false"',
        ),
        id="internal-conflicts-with-azure",
    ),
    pytest.param(
        Bad(
            service=annotated(**{"service.beta.kubernetes.io/aws-load-balancer-internal": "maybe"}),
            path=ann("service.beta.kubernetes.io/aws-load-balancer-internal"),
            message='"maybe" is not true, false or a CIDR',
        ),
        id="aws-internal-bad",
    ),
    pytest.param(
        Bad(
            service=annotated(**{"service.beta.kubernetes.io/aws-load-balancer-scheme": "private"}),
            path=ann("service.beta.kubernetes.io/aws-load-balancer-scheme"),
            message="is not one of: internal, internet-facing",
        ),
        id="aws-scheme-bad",
    ),
    # proxy protocol and tags
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/proxy-protocol": "v3"}),
            path=ann("cloudlb.io/proxy-protocol"),
            message='"v3" is not one of: v1, v2, true, false',
        ),
        id="proxy-protocol-unknown",
    ),
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/tags": "a=1,=2"}),
            path=ann("cloudlb.io/tags"),
            message='"=2" has an empty key',
        ),
        id="tags-empty-key",
    ),
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/tags": "a=1,b"}),
            path=ann("cloudlb.io/tags"),
            message='"b" is not key=value',
        ),
        id="tags-missing-equals",
    ),
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/tags": "a=1,a=2"}),
            path=ann("cloudlb.io/tags"),
            message='tag "a" is given twice',
        ),
        id="tags-duplicate",
    ),
    # health check
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/health-check-protocol": "UDP"}),
            path=ann("cloudlb.io/health-check-protocol"),
            message='"UDP" is not one of: tcp, http, https',
        ),
        id="hc-protocol-unknown",
    ),
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/health-check-port": "0"}),
            path=ann("cloudlb.io/health-check-port"),
            message='"0" is not a port (1..65535) or traffic-port',
        ),
        id="hc-port-zero",
    ),
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/health-check-port": "http"}),
            path=ann("cloudlb.io/health-check-port"),
            message='"http" is not a port',
        ),
        id="hc-port-name",
    ),
    pytest.param(
        Bad(
            service=annotated(
                **{"cloudlb.io/health-check-protocol": "HTTP", "cloudlb.io/health-check-path": "healthz"}
            ),
            path=ann("cloudlb.io/health-check-path"),
            message='"healthz" must start with /',
        ),
        id="hc-path-no-slash",
    ),
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/health-check-path": "/healthz"}),
            path=ann("cloudlb.io/health-check-path"),
            message="only applies to HTTP and HTTPS health checks",
        ),
        id="hc-path-with-tcp",
    ),
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/health-check-interval": "-1"}),
            path=ann("cloudlb.io/health-check-interval"),
            message='"-1" must be a positive number of seconds',
        ),
        id="hc-interval-negative",
    ),
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/health-check-interval": "nan"}),
            path=ann("cloudlb.io/health-check-interval"),
            message="must be a positive number of seconds",
        ),
        id="hc-interval-nan",
    ),
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/health-check-timeout": "soon"}),
            path=ann("cloudlb.io/health-check-timeout"),
            message='"soon" is not a number of seconds',
        ),
        id="hc-timeout-not-number",
    ),
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/health-check-interval": "10", "cloudlb.io/health-check-timeout": "10s"}),
            path=ann("cloudlb.io/health-check-timeout"),
            message="the timeout (10s) must be less than the interval (10s)",
        ),
        id="hc-timeout-not-below-interval",
    ),
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/health-check-interval": "3"}),
            path=ann("cloudlb.io/health-check-interval"),
            message="the timeout (5s) must be less than the interval (3s)",
        ),
        id="hc-interval-below-default-timeout",
    ),
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/health-check-healthy-threshold": "0"}),
            path=ann("cloudlb.io/health-check-healthy-threshold"),
            message='"0" is not an integer from 1 to 10',
        ),
        id="hc-threshold-zero",
    ),
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/health-check-unhealthy-threshold": "11"}),
            path=ann("cloudlb.io/health-check-unhealthy-threshold"),
            message='"11" is not an integer from 1 to 10',
        ),
        id="hc-threshold-eleven",
    ),
    pytest.param(
        Bad(
            service=annotated(**{"cloudlb.io/health-check-healthy-threshold": "2.5"}),
            path=ann("cloudlb.io/health-check-healthy-threshold"),
            message="is not an integer from 1 to 10",
        ),
        id="hc-threshold-fraction",
    ),
    # source ranges, addresses, families, class
    pytest.param(
        Bad(
            service=with_spec(loadBalancerSourceRanges=["10.0.0.0/8", "10.0.0.0/33"]),
            path="spec.loadBalancerSourceRanges[1]",
            message='"10.0.0.0/33" is not a CIDR',
        ),
        id="source-range-bad-prefix",
    ),
    pytest.param(
        Bad(
            service=with_spec(loadBalancerSourceRanges=[10]),
            path="spec.loadBalancerSourceRanges[0]",
            message="must be a string",
        ),
        id="source-range-not-string",
    ),
    pytest.param(
        Bad(
            service=annotated(**{"service.beta.kubernetes.io/load-balancer-source-ranges": "10.0.0.0/8,office"}),
            path=ann("service.beta.kubernetes.io/load-balancer-source-ranges"),
            message='"office" is not a CIDR',
        ),
        id="source-range-annotation-bad",
    ),
    pytest.param(
        Bad(
            service=with_spec(loadBalancerIP="1.2.3"),
            path="spec.loadBalancerIP",
            message='"1.2.3" is not an IP address',
        ),
        id="load-balancer-ip-bad",
    ),
    pytest.param(
        Bad(
            service=with_spec(ipFamilies=["IPv5"]),
            path="spec.ipFamilies[0]",
            message='"IPv5" is not one of: IPv4, IPv6',
        ),
        id="ip-family-unknown",
    ),
    pytest.param(
        Bad(service=with_spec(ipFamilies=["IPv4", "IPv4"]), path="spec.ipFamilies[1]", message="IPv4 is listed twice"),
        id="ip-family-twice",
    ),
    pytest.param(
        Bad(
            service=with_spec(ipFamilies=["IPv4", "IPv6", "IPv4"]),
            path="spec.ipFamilies",
            message="at most two families",
        ),
        id="ip-families-three",
    ),
    pytest.param(
        Bad(service=with_spec(loadBalancerClass=5), path="spec.loadBalancerClass", message="must be a string"),
        id="class-not-string",
    ),
    # slices: errors say which argument and where inside it
    pytest.param(
        Bad(
            service=service(annotations=POD),
            slices=[endpoint_slice(endpoints=[endpoint("10.0.0.1"), endpoint("not-an-ip")])],
            path="endpoints[1].addresses[0]",
            message='"not-an-ip" is not an IPv4 address',
            source="endpoint_slices[0]",
        ),
        id="slice-address-bad",
    ),
    pytest.param(
        Bad(
            service=service(annotations=POD),
            slices=[endpoint_slice(endpoints=[{"addresses": ["10.0.0.1"], "conditions": {"ready": "yes"}}])],
            path="endpoints[0].conditions.ready",
            message='must be true or false, not "yes"',
            source="endpoint_slices[0]",
        ),
        id="slice-ready-not-boolean",
    ),
    pytest.param(
        Bad(
            service=service(annotations=POD),
            slices=[endpoint_slice(endpoints=[{"addresses": ["10.0.0.1"], "conditions": {"terminating": 1}}])],
            path="endpoints[0].conditions.terminating",
            message="must be true or false, not 1",
            source="endpoint_slices[0]",
        ),
        id="slice-terminating-integer",
    ),
    pytest.param(
        Bad(
            service=service(annotations=POD),
            slices=[endpoint_slice(endpoints=[{"addresses": []}])],
            path="endpoints[0].addresses",
            message="at least one address is required",
            source="endpoint_slices[0]",
        ),
        id="slice-endpoint-without-address",
    ),
    pytest.param(
        Bad(
            service=service(annotations=POD),
            slices=[endpoint_slice(endpoints=[{"addresses": ["10.0.0.1"], "nodeName": 3}])],
            path="endpoints[0].nodeName",
            message="must be a string",
            source="endpoint_slices[0]",
        ),
        id="slice-node-name-not-string",
    ),
    pytest.param(
        Bad(
            service=service(annotations=POD),
            slices=[endpoint_slice(endpoints=[], address_type="IPX")],
            path="addressType",
            message='"IPX" is not one of: IPv4, IPv6, FQDN',
            source="endpoint_slices[0]",
        ),
        id="slice-address-type-unknown",
    ),
    pytest.param(
        Bad(
            service=service(annotations=POD),
            slices=[endpoint_slice(endpoints=[], ports=[{"name": "http", "port": 0}])],
            path="ports[0].port",
            message="0 is not a port",
            source="endpoint_slices[0]",
        ),
        id="slice-port-zero",
    ),
    pytest.param(
        Bad(
            service=service(annotations=POD),
            slices=[endpoint_slice(endpoints=[]), "junk"],
            path="",
            message='an EndpointSlice must be a mapping, not "junk"',
            source="endpoint_slices[1]",
        ),
        id="slice-not-mapping",
    ),
    pytest.param(
        Bad(
            service=service(annotations=POD),
            slices=[node("n1", "10.0.0.1")],
            path="kind",
            message='expected EndpointSlice, got "Node"',
            source="endpoint_slices[0]",
        ),
        id="node-passed-as-slice",
    ),
    pytest.param(
        Bad(service=service(), slices=None, path="endpoint_slices", message="must be a list of manifests"),
        id="slices-none",
    ),
    # nodes
    pytest.param(
        Bad(
            service=service(),
            nodes=[node("n1", "10.0.0.1"), node("n2", "bogus")],
            path="status.addresses[0].address",
            message='"bogus" is not an IP address',
            source="nodes[1]",
        ),
        id="node-address-bad",
    ),
    pytest.param(
        Bad(
            service=service(),
            nodes=[{"kind": "Node", "metadata": {}}],
            path="metadata.name",
            message="required",
            source="nodes[0]",
        ),
        id="node-without-name",
    ),
    pytest.param(
        Bad(
            service=service(),
            nodes=[{"metadata": {"name": "n"}, "spec": {"taints": "NoSchedule"}}],
            path="spec.taints",
            message="must be a list",
            source="nodes[0]",
        ),
        id="node-taints-not-list",
    ),
    pytest.param(
        Bad(service=service(), nodes=[42], path="", message="a Node must be a mapping, not 42", source="nodes[0]"),
        id="node-not-mapping",
    ),
    pytest.param(
        Bad(service=service(), nodes={"kind": "Node"}, path="nodes", message="must be a list of manifests"),
        id="nodes-mapping-not-list",
    ),
]


@pytest.mark.parametrize("bad", CASES)
def test_invalid_input_names_the_field(bad: Bad) -> None:
    with pytest.raises(InvalidSpecError) as caught:
        spec_from_manifests(bad.service, bad.slices, bad.nodes, cluster=bad.cluster)

    error = caught.value
    assert (error.path, error.source) == (bad.path, bad.source)
    assert bad.message in error.message
    assert str(error).startswith(f"{bad.source}: " if bad.source else "")


def test_message_reads_path_colon_reason() -> None:
    body = service(ports=[port(), port(name="admin", port=70000, node_port=30001)])

    with pytest.raises(InvalidSpecError) as caught:
        spec_from_manifests(body, nodes=NODES)

    assert str(caught.value) == "spec.ports[1].port: 70000 is not a port (1..65535)"


def test_pod_mode_does_not_read_nodes() -> None:
    garbage: Any = ["garbage"]

    spec = spec_from_manifests(service(annotations=POD), [endpoint_slice(endpoints=[])], nodes=garbage)

    assert spec.targets == frozenset()


def test_slices_of_other_services_are_not_validated() -> None:
    foreign = endpoint_slice(service_name="other", endpoints=[{"addresses": ["not-an-ip"]}])

    spec = spec_from_manifests(service(annotations=POD), [foreign])

    assert spec.targets == frozenset()


def test_service_errors_are_reported_before_target_errors() -> None:
    body = service(annotations={**POD, "cloudlb.io/algorithm": "fastest"})
    broken_slice = endpoint_slice(endpoints=[endpoint("not-an-ip")])
    broken_nodes: Any = ["broken node"]

    with pytest.raises(InvalidSpecError) as caught:
        spec_from_manifests(body, [broken_slice], broken_nodes)

    assert (caught.value.path, caught.value.source) == ('metadata.annotations["cloudlb.io/algorithm"]', None)
