"""The NLB, end to end on moto: ensure, get and delete, read back with boto3 (balancer, listeners, target groups,
health checks, attributes, tags), for each scheme, target type and protocol, and each drift converging."""

from __future__ import annotations

import pytest

from cloudlb.model import (
    FrozenDict,
    HealthCheck,
    HealthCheckProtocol,
    Listener,
    Protocol,
    ProxyProtocol,
    Scheme,
    SessionAffinity,
    TargetMode,
    TrafficPolicy,
)
from cloudlb.naming import CLUSTER_TAG, SERVICE_TAG, UID_TAG
from cloudlb_aws.provider import AwsProvider
from tests.aws.helpers import (
    World,
    boto,
    instance_target,
    node_pool,
    pod_target,
    read_nlbs,
    spec,
    target_groups,
    tcp,
    udp,
)

AWS = "service.beta.kubernetes.io/aws-load-balancer-"


def instances(world: World) -> list[str]:
    return [instance for instance, _, _ in world.instances]


def test_create_get_delete_reads_back_everything(provider: AwsProvider, world: World) -> None:
    web = spec(tcp(80, node_pool(instances(world), 30080), node_port=30080), tags=FrozenDict(team="web"))

    status = provider.ensure(web)

    [nlb] = read_nlbs(web)
    assert nlb.scheme == "internet-facing"
    assert nlb.subnets == frozenset(world.public_subnets)
    assert status.cloud_id == nlb.arn and status.cloud_name == nlb.name
    assert status.to_kube() == {"ingress": [{"hostname": nlb.dns_name}]}
    assert len(nlb.name) <= 32 and nlb.name == provider.load_balancer_name(web)
    assert nlb.listeners[80]["Protocol"] == "TCP"
    group = nlb.target_groups[80]
    assert (group["Protocol"], group["Port"], group["TargetType"]) == ("TCP", 30080, "instance")
    assert (group["HealthCheckProtocol"], group["HealthCheckPort"]) == ("TCP", "traffic-port")
    assert (group["HealthCheckIntervalSeconds"], group["HealthCheckTimeoutSeconds"]) == (10, 5)
    assert (group["HealthyThresholdCount"], group["UnhealthyThresholdCount"]) == (2, 3)
    assert nlb.targets[80] == {(i, 30080) for i in instances(world)}
    for tags in (nlb.tags, nlb.group_tags[80]):
        assert tags[CLUSTER_TAG] == "test" and tags[SERVICE_TAG] == "default/web" and tags[UID_TAG] == "uid-1"
        assert tags["kubernetes.io/cluster/test"] == "owned"
        assert tags["kubernetes.io/service-name"] == "default/web"
        assert tags["team"] == "web"
    assert provider.get(web) == status

    assert provider.delete(web) is True

    assert read_nlbs() == []
    assert target_groups() == []
    assert provider.get(web) is None
    assert provider.delete(web) is False


@pytest.mark.parametrize(
    ("scheme", "annotations", "expected"),
    [
        pytest.param(Scheme.EXTERNAL, {}, "internet-facing", id="internet-facing"),
        pytest.param(Scheme.INTERNAL, {}, "internal", id="internal"),
    ],
)
def test_scheme_picks_the_subnets_tagged_for_it(
    provider: AwsProvider, world: World, scheme: Scheme, annotations: dict[str, str], expected: str
) -> None:
    web = spec(tcp(80, node_pool(instances(world), 30080), node_port=30080), scheme=scheme)

    provider.ensure(web)

    [nlb] = read_nlbs(web)
    assert nlb.scheme == expected
    wanted = world.internal_subnets if scheme is Scheme.INTERNAL else world.public_subnets
    assert nlb.subnets == frozenset(wanted)


def test_pod_mode_registers_ip_targets(provider: AwsProvider, world: World) -> None:
    pods = [pod_target(f"10.0.100.{i}", 8080) for i in range(10, 13)]
    web = spec(Listener("http", Protocol.TCP, 80, None, 8080, frozenset(pods)), target_mode=TargetMode.POD)

    provider.ensure(web)

    [nlb] = read_nlbs(web)
    group = nlb.target_groups[80]
    assert (group["TargetType"], group["Port"]) == ("ip", 8080)
    assert nlb.targets[80] == {(f"10.0.100.{i}", 8080) for i in range(10, 13)}


def test_node_mode_takes_instance_ids_from_provider_ids(provider: AwsProvider, world: World) -> None:
    targets = [instance_target(instance, 30080, ip=ip, zone=zone) for instance, ip, zone in world.instances]
    web = spec(tcp(80, targets, node_port=30080))

    provider.ensure(web)

    [nlb] = read_nlbs(web)
    assert nlb.target_groups[80]["TargetType"] == "instance"
    assert {target_id for target_id, _ in nlb.targets[80]} == set(instances(world))


def test_tcp_and_udp_on_other_ports_get_their_own_listeners(provider: AwsProvider, world: World) -> None:
    pool = instances(world)
    web = spec(tcp(80, node_pool(pool, 30080), node_port=30080), udp(53, node_pool(pool, 30053), node_port=30053))

    provider.ensure(web)

    [nlb] = read_nlbs(web)
    assert {port: lst["Protocol"] for port, lst in nlb.listeners.items()} == {80: "TCP", 53: "UDP"}
    assert nlb.target_groups[53]["Protocol"] == "UDP"
    assert nlb.targets[53] == {(i, 30053) for i in pool}


def test_tcp_and_udp_on_one_port_share_a_tcp_udp_listener(provider: AwsProvider, world: World) -> None:
    pool = node_pool(instances(world), 30053)
    dns = spec(tcp(53, pool, node_port=30053), udp(53, pool, node_port=30053))

    provider.ensure(dns)

    [nlb] = read_nlbs(dns)
    assert list(nlb.listeners) == [53]
    assert nlb.listeners[53]["Protocol"] == "TCP_UDP"
    assert nlb.target_groups[53]["Protocol"] == "TCP_UDP"
    assert nlb.targets[53] == {(i, 30053) for i in instances(world)}
    assert len(target_groups()) == 1


def test_tls_listener_carries_the_certificate(provider: AwsProvider, world: World) -> None:
    acm = boto("acm")
    cert = acm.request_certificate(DomainName="web.example.com")["CertificateArn"]
    pool = instances(world)
    web = spec(
        tcp(80, node_pool(pool, 30080), node_port=30080, name="http"),
        tcp(443, node_pool(pool, 30443), node_port=30443, name="https"),
        annotations={AWS + "ssl-cert": cert, AWS + "ssl-ports": "https"},
    )

    provider.ensure(web)

    [nlb] = read_nlbs(web)
    assert nlb.listeners[443]["Protocol"] == "TLS"
    assert [c["CertificateArn"] for c in nlb.listeners[443]["Certificates"]] == [cert]
    assert nlb.listeners[80]["Protocol"] == "TCP"
    assert nlb.target_groups[443]["Protocol"] == "TCP"  # TLS ends at the NLB


def test_local_traffic_policy_checks_kube_proxys_healthz(provider: AwsProvider, world: World) -> None:
    web = spec(
        tcp(80, node_pool(instances(world), 30080), node_port=30080),
        traffic_policy=TrafficPolicy.LOCAL,
        health_check_node_port=32123,
    )

    provider.ensure(web)

    group = read_nlbs(web)[0].target_groups[80]
    assert (group["HealthCheckProtocol"], group["HealthCheckPort"], group["HealthCheckPath"]) == (
        "HTTP",
        "32123",
        "/healthz",
    )


def test_health_check_annotations_override_the_spec(provider: AwsProvider, world: World) -> None:
    web = spec(
        tcp(80, node_pool(instances(world), 30080), node_port=30080),
        annotations={
            AWS + "healthcheck-protocol": "http",
            AWS + "healthcheck-path": "/ready",
            AWS + "healthcheck-port": "31000",
            AWS + "healthcheck-interval": "30",
            AWS + "healthcheck-timeout": "6",
            AWS + "healthcheck-healthy-threshold": "3",
            AWS + "healthcheck-unhealthy-threshold": "4",
        },
    )

    provider.ensure(web)

    group = read_nlbs(web)[0].target_groups[80]
    assert group["HealthCheckProtocol"] == "HTTP" and group["HealthCheckPath"] == "/ready"
    assert group["HealthCheckPort"] == "31000"
    assert (group["HealthCheckIntervalSeconds"], group["HealthCheckTimeoutSeconds"]) == (30, 6)
    assert (group["HealthyThresholdCount"], group["UnhealthyThresholdCount"]) == (3, 4)


def test_proxy_protocol_affinity_and_attribute_annotation_become_attributes(
    provider: AwsProvider, world: World
) -> None:
    web = spec(
        tcp(80, node_pool(instances(world), 30080), node_port=30080),
        proxy_protocol=ProxyProtocol.V2,
        session_affinity=SessionAffinity.CLIENT_IP,
        annotations={AWS + "target-group-attributes": "deregistration_delay.timeout_seconds=30"},
    )

    provider.ensure(web)

    attributes = read_nlbs(web)[0].attributes[80]
    assert attributes["proxy_protocol_v2.enabled"] == "true"
    assert (attributes["stickiness.enabled"], attributes["stickiness.type"]) == ("true", "source_ip")
    assert attributes["deregistration_delay.timeout_seconds"] == "30"


def test_additional_resource_tags_go_on_every_resource(provider: AwsProvider, world: World) -> None:
    web = spec(
        tcp(80, node_pool(instances(world), 30080), node_port=30080),
        annotations={AWS + "additional-resource-tags": "cost-center=42,env=prod"},
        tags=FrozenDict(env="staging"),  # cloudlb.io/tags win over the AWS annotation
    )

    provider.ensure(web)

    [nlb] = read_nlbs(web)
    for tags in (nlb.tags, nlb.group_tags[80]):
        assert (tags["cost-center"], tags["env"]) == ("42", "staging")


@pytest.mark.parametrize(
    ("change", "expected_calls"),
    [
        pytest.param(
            {"health_check": HealthCheck(HealthCheckProtocol.HTTP, 31000, "/ok")}, ["ModifyTargetGroup"], id="health"
        ),
        pytest.param({"proxy_protocol": ProxyProtocol.V2}, ["ModifyTargetGroupAttributes"], id="attributes"),
        pytest.param({"tags": FrozenDict(team="b")}, ["AddTags", "AddTags"], id="tag-value"),
        pytest.param({"tags": FrozenDict()}, ["RemoveTags", "RemoveTags"], id="tag-removed"),
    ],
)
def test_each_drift_costs_only_its_own_calls(
    provider: AwsProvider, world: World, change: dict[str, object], expected_calls: list[str]
) -> None:
    pool = node_pool(instances(world), 30080)
    provider.ensure(spec(tcp(80, pool, node_port=30080), tags=FrozenDict(team="a")))
    mark = provider.clients.log.mark()
    changed = spec(tcp(80, pool, node_port=30080), **{"tags": FrozenDict(team="a"), **change})

    provider.ensure(changed)

    assert provider.clients.log.operations(mark, mutating=True) == expected_calls
    [nlb] = read_nlbs(changed)
    group = nlb.target_groups[80]
    if "health_check" in change:
        assert (group["HealthCheckProtocol"], group["HealthCheckPath"], group["HealthCheckPort"]) == (
            "HTTP",
            "/ok",
            "31000",
        )
    if "proxy_protocol" in change:
        assert nlb.attributes[80]["proxy_protocol_v2.enabled"] == "true"
    expected_team = dict(change.get("tags", {"team": "a"})).get("team")  # type: ignore[call-overload]
    assert nlb.tags.get("team") == expected_team == nlb.group_tags[80].get("team")
    assert provider.plan(changed).is_empty


def test_a_tag_another_tool_set_is_left_alone(provider: AwsProvider, world: World) -> None:
    web = spec(tcp(80, node_pool(instances(world), 30080), node_port=30080))
    provider.ensure(web)
    [nlb] = read_nlbs(web)
    boto("elbv2").add_tags(ResourceArns=[nlb.arn], Tags=[{"Key": "billing", "Value": "x"}])

    assert provider.plan(web).is_empty
    assert read_nlbs(web)[0].tags["billing"] == "x"


def test_a_changed_certificate_replaces_the_listener_on_its_port(provider: AwsProvider, world: World) -> None:
    acm = boto("acm")
    first, second = (acm.request_certificate(DomainName=f"{n}.example.com")["CertificateArn"] for n in "ab")
    pool = node_pool(instances(world), 30443)

    def with_cert(cert: str) -> object:
        return spec(tcp(443, pool, node_port=30443), annotations={AWS + "ssl-cert": cert})

    provider.ensure(with_cert(first))  # type: ignore[arg-type]
    group_before = read_nlbs()[0].target_groups[443]["TargetGroupArn"]
    mark = provider.clients.log.mark()

    provider.ensure(with_cert(second))  # type: ignore[arg-type]

    [nlb] = read_nlbs()
    assert [c["CertificateArn"] for c in nlb.listeners[443]["Certificates"]] == [second]
    assert nlb.target_groups[443]["TargetGroupArn"] == group_before
    assert provider.clients.log.operations(mark, mutating=True) == ["DeleteListener", "CreateListener"]


def test_a_new_node_port_gets_a_new_target_group_before_the_old_one_goes(provider: AwsProvider, world: World) -> None:
    pool = instances(world)
    provider.ensure(spec(tcp(80, node_pool(pool, 30080), node_port=30080)))
    mark = provider.clients.log.mark()
    moved = spec(tcp(80, node_pool(pool, 30999), node_port=30999))

    provider.ensure(moved)

    [nlb] = read_nlbs(moved)
    assert nlb.target_groups[80]["Port"] == 30999
    assert nlb.targets[80] == {(i, 30999) for i in pool}
    assert len(target_groups()) == 1
    assert provider.clients.log.operations(mark, mutating=True) == [
        "CreateTargetGroup",
        "RegisterTargets",
        "ModifyListener",
        "DeleteTargetGroup",
    ]


def test_ports_added_and_removed_converge_with_nothing_left_over(provider: AwsProvider, world: World) -> None:
    pool = instances(world)
    provider.ensure(
        spec(tcp(80, node_pool(pool, 30080), node_port=30080), tcp(81, node_pool(pool, 30081), node_port=30081))
    )
    changed = spec(tcp(80, node_pool(pool, 30080), node_port=30080), tcp(82, node_pool(pool, 30082), node_port=30082))

    provider.ensure(changed)

    [nlb] = read_nlbs(changed)
    assert sorted(nlb.listeners) == [80, 82]
    assert {tg["Port"] for tg in target_groups()} == {30080, 30082}
    assert provider.plan(changed).is_empty


def test_a_target_type_change_replaces_the_target_groups_and_keeps_the_nlb(provider: AwsProvider, world: World) -> None:
    provider.ensure(spec(tcp(80, node_pool(instances(world), 30080), node_port=30080)))
    [before] = read_nlbs()
    pods = [pod_target(f"10.0.100.{i}", 8080) for i in range(10, 12)]
    pod_mode = spec(Listener("http", Protocol.TCP, 80, None, 8080, frozenset(pods)), target_mode=TargetMode.POD)

    provider.ensure(pod_mode)

    [after] = read_nlbs()
    assert after.arn == before.arn
    assert after.target_groups[80]["TargetType"] == "ip"
    assert after.targets[80] == {(f"10.0.100.{i}", 8080) for i in range(10, 12)}
    assert [tg["TargetType"] for tg in target_groups()] == ["ip"]
