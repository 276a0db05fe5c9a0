"""What a Service's rules and probes carry: load distribution, idle timeout, floating IP, the probe (kube-proxy's
/healthz on healthCheckNodePort for externalTrafficPolicy: Local), and the anchors' annotations over them."""

from __future__ import annotations

from typing import Any

import pytest
from azure.mgmt.network import NetworkManagementClient

from cloudlb.errors import InvalidSpecError
from cloudlb_azure.fake import FakeArm
from cloudlb_azure.provider import AzureProvider
from tests.azure.helpers import lb, service, spec

A = "service.beta.kubernetes.io/azure-"


def rules_and_probes(provider: AzureProvider, client: NetworkManagementClient, svc: dict[str, Any]) -> tuple[Any, Any]:
    s = spec(svc)
    provider.ensure(s)
    base = provider.load_balancer_name(s)
    balancer = lb(client)
    rules = {r.name: r for r in balancer.load_balancing_rules or [] if str(r.name).startswith(base)}
    probes = {p.name: p for p in balancer.probes or [] if str(p.name).startswith(base)}
    return rules, probes


def test_defaults_tcp_probe_on_the_node_port_default_distribution(
    provider: AzureProvider, client: NetworkManagementClient
) -> None:
    rules, probes = rules_and_probes(provider, client, service(ports=((80, "TCP", 30080),)))

    [rule] = rules.values()
    [probe] = probes.values()
    assert (rule.protocol, rule.frontend_port, rule.backend_port) == ("Tcp", 80, 30080)
    assert (rule.load_distribution, rule.idle_timeout_in_minutes, rule.enable_floating_ip) == ("Default", 4, False)
    assert rule.enable_tcp_reset is True
    assert rule.probe.id == probe.id
    assert (probe.protocol, probe.port, probe.request_path) == ("Tcp", 30080, None)
    assert (probe.interval_in_seconds, probe.number_of_probes, probe.probe_threshold) == (10, 3, 3)


def test_client_ip_affinity_is_source_ip_distribution(provider: AzureProvider, client: NetworkManagementClient) -> None:
    rules, _ = rules_and_probes(provider, client, service(sessionAffinity="ClientIP"))

    assert [r.load_distribution for r in rules.values()] == ["SourceIP"]


def test_local_traffic_policy_probes_healthz_on_the_health_check_node_port(
    provider: AzureProvider, client: NetworkManagementClient
) -> None:
    svc = service(
        ports=((80, "TCP", 30080), (443, "TCP", 30443)), externalTrafficPolicy="Local", healthCheckNodePort=32000
    )
    rules, probes = rules_and_probes(provider, client, svc)

    [probe] = probes.values()
    assert (probe.protocol, probe.port, probe.request_path) == ("Http", 32000, "/healthz")
    assert {r.probe.id for r in rules.values()} == {probe.id}
    assert {r.backend_port for r in rules.values()} == {30080, 30443}


def test_a_udp_port_gets_no_probe_of_its_own(provider: AzureProvider, client: NetworkManagementClient) -> None:
    rules, probes = rules_and_probes(provider, client, service(ports=((53, "UDP", 30053), (53, "TCP", 30054))))

    udp = next(r for r in rules.values() if r.protocol == "Udp")
    tcp = next(r for r in rules.values() if r.protocol == "Tcp")
    assert udp.probe is None
    assert (udp.enable_tcp_reset, tcp.probe.id) == (False, next(iter(probes.values())).id)


def test_the_anchors_annotations_set_probe_idle_timeout_and_floating_ip(
    provider: AzureProvider, client: NetworkManagementClient
) -> None:
    notes = {
        f"{A}load-balancer-health-probe-protocol": "http",
        f"{A}load-balancer-health-probe-request-path": "/ready",
        f"{A}load-balancer-health-probe-interval": "7",
        f"{A}load-balancer-health-probe-num-of-probe": "5",
        f"{A}load-balancer-tcp-idle-timeout": "30",
        f"{A}disable-load-balancer-floating-ip": "false",
    }
    rules, probes = rules_and_probes(provider, client, service(annotations=notes))

    [rule] = rules.values()
    [probe] = probes.values()
    assert (probe.protocol, probe.port, probe.request_path) == ("Http", 30080, "/ready")
    assert (probe.interval_in_seconds, probe.number_of_probes, probe.probe_threshold) == (7, 5, 5)
    assert (rule.idle_timeout_in_minutes, rule.enable_floating_ip) == (30, True)
    assert rule.backend_port == 80  # floating IP: the packets keep the frontend's address and port


def test_a_changed_setting_updates_the_rule_in_place(
    provider: AzureProvider, client: NetworkManagementClient, fake: FakeArm
) -> None:
    provider.ensure(spec(service()))
    changed = spec(service(annotations={f"{A}load-balancer-tcp-idle-timeout": "15"}))

    plan = provider.plan(changed)
    provider.ensure(changed)

    [change] = plan.changes
    assert (change.resource, change.fields) == ("rule", {"idleTimeoutInMinutes": (4, 15)})
    assert [r.idle_timeout_in_minutes for r in lb(client).load_balancing_rules or []] == [15]
    assert provider.plan(changed).is_empty


@pytest.mark.parametrize(
    ("notes", "message"),
    [
        pytest.param({f"{A}load-balancer-tcp-idle-timeout": "3"}, "from 4 to 100", id="idle-timeout-too-low"),
        pytest.param({f"{A}load-balancer-health-probe-interval": "2"}, "from 5", id="probe-interval-too-low"),
        pytest.param({f"{A}load-balancer-health-probe-protocol": "udp"}, "tcp, http, https", id="probe-protocol"),
        pytest.param({f"{A}load-balancer-health-probe-request-path": "/x"}, "Tcp probe has no path", id="path-tcp"),
        pytest.param(
            {"cloudlb.io/target-type": "pod", f"{A}disable-load-balancer-floating-ip": "false"},
            "node targets only",
            id="floating-ip-pods",
        ),
        pytest.param({f"{A}load-balancer-internal-subnet": "s"}, "only applies to internal", id="subnet-external"),
        pytest.param({f"{A}pip-name": "bad/name"}, "not a valid Azure resource name", id="pip-name"),
        pytest.param({f"{A}dns-label-name": "9lives"}, "DNS label", id="dns-label"),
    ],
)
def test_a_bad_annotation_is_refused_by_name_before_any_call(
    provider: AzureProvider, fake: FakeArm, notes: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidSpecError, match=message) as caught:
        provider.plan(spec(service(annotations=notes)))

    assert any(key in str(caught.value) for key in notes if key.startswith(A))
    assert fake.requests == []
