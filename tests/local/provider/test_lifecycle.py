"""ensure / get / delete against a real daemon, read back through the API, with the calls each step cost."""

from __future__ import annotations

import dataclasses

import pytest

from cloudlb.errors import NotFoundError
from cloudlb.model import Algorithm, HealthCheck, Protocol, SessionAffinity, Target
from cloudlb.naming import CLUSTER_TAG, SERVICE_TAG, UID_TAG
from cloudlb_local.client import LocalClient
from cloudlb_local.provider import LocalProvider
from cloudlb_local.testing import DaemonHandle
from tests.local.provider.backends import ask, eventually, targets, tcp_backends
from tests.local.provider.helpers import CallCounter, make_spec, tcp, udp

NODES = ("127.0.0.11", "127.0.0.12", "127.0.0.13")


# Long intervals: hundreds of targets nobody serves need not be probed often.
SLOW_CHECKS = HealthCheck(interval=60.0, timeout=1.0)


def fake_targets(count: int, port: int, *, start: int = 0) -> frozenset[Target]:
    """Targets nobody serves: enough to count calls; the balancer's checks just find them down."""
    return frozenset(Target(f"127.1.{(start + i) // 250}.{(start + i) % 250 + 1}", port) for i in range(count))


def test_round_trip_reads_back_through_the_api(provider: LocalProvider, api: LocalClient) -> None:
    with tcp_backends(NODES) as backends:
        spec = make_spec(tcp(8080, targets(*backends)), tcp(8081, targets(*backends), name="admin"))
        status = provider.ensure(spec)

        lb = api.get_load_balancer(status.cloud_id or "")
        assert lb["name"] == provider.load_balancer_name(spec) == status.cloud_name
        assert {k: lb["tags"][k] for k in (CLUSTER_TAG, SERVICE_TAG, UID_TAG)} == {
            CLUSTER_TAG: "test",
            SERVICE_TAG: "demo/web",
            UID_TAG: "uid-1",
        }
        assert [(lst["name"], lst["protocol"], lst["port"]) for lst in lb["listeners"]] == [
            ("http", "TCP", 8080),
            ("admin", "TCP", 8081),
        ]
        served = {(t["ip"], t["port"]) for t in lb["listeners"][0]["targets"]}
        assert served == {(b.ip, b.port) for b in backends}
        assert lb["settings"]["health_check"]["interval"] == 0.3
        assert status.ingress[0].ip == lb["address"]
        assert [(p.port, p.protocol, p.error) for p in status.ingress[0].ports] == [
            (8080, Protocol.TCP, None),
            (8081, Protocol.TCP, None),
        ]
        assert provider.get(spec) == status
        names = {b.name for b in backends}
        assert eventually(lambda: ask(lb["address"], 8080) in names)

        assert provider.delete(spec) is True
        with pytest.raises(NotFoundError):
            api.get_load_balancer(lb["id"])
        assert ask(lb["address"], 8080) is None
        assert provider.get(spec) is None
        assert provider.delete(spec) is False


def test_a_new_load_balancer_is_one_post(provider: LocalProvider, calls: CallCounter) -> None:
    spec = make_spec(tcp(80, fake_targets(20, 30080)), udp(53, fake_targets(20, 30053)))
    calls.start()
    provider.ensure(spec)
    assert calls.delta() == {"GET": 1, "POST": 1, "PATCH": 0, "DELETE": 0}


def test_second_ensure_makes_no_mutating_call(provider: LocalProvider, calls: CallCounter) -> None:
    spec = make_spec(
        tcp(80, fake_targets(20, 30080)), algorithm=Algorithm.LEAST_CONNECTIONS, source_ranges=("10.0.0.0/8",)
    )
    first = provider.ensure(spec)
    calls.start()
    assert provider.plan(spec).is_empty
    assert provider.ensure(spec) == first
    assert calls.delta() == {"GET": 2, "POST": 0, "PATCH": 0, "DELETE": 0}  # one observe for plan, one for ensure


@pytest.mark.parametrize(
    ("size", "changed", "batches"),
    [
        pytest.param(300, 5, 1, id="5-of-300"),
        pytest.param(300, 300, 1, id="all-300"),
        pytest.param(700, 700, 2, id="all-700-is-1400-deltas"),
    ],
)
def test_target_churn_costs_one_call_per_listener_per_thousand(
    provider: LocalProvider, api: LocalClient, calls: CallCounter, size: int, changed: int, batches: int
) -> None:
    def pools(old: int, new: int) -> tuple[frozenset[Target], frozenset[Target]]:
        keep = size - old
        return (
            fake_targets(keep, 30080) | fake_targets(new, 30080, start=size),
            fake_targets(keep, 30053) | fake_targets(new, 30053, start=size),
        )

    http, dns = fake_targets(size, 30080), fake_targets(size, 30053)
    provider.ensure(make_spec(tcp(80, http), udp(53, dns), health_check=SLOW_CHECKS))
    new_http, new_dns = pools(changed, changed)
    spec = make_spec(tcp(80, new_http), udp(53, new_dns), health_check=SLOW_CHECKS)
    plan = provider.plan(spec)
    assert [(c.resource, len(c.added), len(c.removed)) for c in plan.changes] == [("targets", changed, changed)] * 2

    calls.start()
    status = provider.ensure(spec)
    # Each listener's delta is its adds plus its removes, at most 1,000 of them a call.
    assert calls.delta() == {"GET": 1, "POST": 2 * batches, "PATCH": 0, "DELETE": 0}
    lb = api.get_load_balancer(status.cloud_id or "")
    have = {lst["protocol"]: {Target(t["ip"], t["port"]) for t in lst["targets"]} for lst in lb["listeners"]}
    assert have == {"TCP": new_http, "UDP": new_dns}


def test_settings_drift_is_one_patch_and_the_plan_names_the_fields(
    provider: LocalProvider, api: LocalClient, calls: CallCounter
) -> None:
    spec = make_spec(tcp(80, fake_targets(3, 30080)))
    provider.ensure(spec)
    changed = dataclasses.replace(
        spec, session_affinity=SessionAffinity.CLIENT_IP, affinity_timeout=600, source_ranges=("127.0.0.0/24",)
    )
    text = str(provider.plan(changed))
    assert 'algorithm: "round-robin" -> "source-ip"' in text
    assert "affinity_timeout: 10800 -> 600" in text
    calls.start()
    status = provider.ensure(changed)
    assert calls.delta() == {"GET": 1, "POST": 0, "PATCH": 1, "DELETE": 0}
    settings = api.get_load_balancer(status.cloud_id or "")["settings"]
    assert (settings["algorithm"], settings["affinity_timeout"], settings["source_ranges"]) == (
        "source-ip",
        600,
        ["127.0.0.0/24"],
    )


def test_listener_rename_is_one_patch_and_keeps_the_port(provider: LocalProvider, calls: CallCounter) -> None:
    spec = make_spec(tcp(80, fake_targets(3, 30080), name="http"))
    before = provider.ensure(spec)
    calls.start()
    after = provider.ensure(make_spec(tcp(80, fake_targets(3, 30080), name="web")))
    assert calls.delta() == {"GET": 1, "POST": 0, "PATCH": 1, "DELETE": 0}
    assert after.cloud_id == before.cloud_id


def test_a_recreated_service_replaces_the_stale_load_balancer(provider: LocalProvider, api: LocalClient) -> None:
    old = provider.ensure(make_spec(tcp(80, fake_targets(3, 30080)), uid="uid-1"))
    plan = provider.plan(make_spec(tcp(80, fake_targets(3, 30080)), uid="uid-2"))
    assert [(c.action.value, c.resource) for c in plan.changes][:2] == [
        ("delete", "load-balancer"),
        ("create", "load-balancer"),
    ]
    new = provider.ensure(make_spec(tcp(80, fake_targets(3, 30080)), uid="uid-2"))
    found = api.list_load_balancers({SERVICE_TAG: "demo/web"})
    assert [(lb["id"], lb["tags"][UID_TAG]) for lb in found] == [(new.cloud_id, "uid-2")]
    assert new.cloud_id != old.cloud_id


def test_list_owned_names_every_service_of_the_cluster(provider: LocalProvider) -> None:
    web = provider.ensure(make_spec(tcp(80, fake_targets(1, 30080)), name="web"))
    api_ = provider.ensure(make_spec(tcp(81, fake_targets(1, 30081)), name="api", uid="uid-2"))
    provider.ensure(make_spec(tcp(82, fake_targets(1, 30082)), cluster="other"))
    owned = provider.list_owned("test")
    assert [(o.namespace, o.name, o.uid, o.cloud_id) for o in owned] == [
        ("demo", "api", "uid-2", api_.cloud_id),
        ("demo", "web", "uid-1", web.cloud_id),
    ]
    assert provider.delete(owned[0]) is True
    assert [o.name for o in provider.list_owned("test")] == ["web"]
    assert provider.delete(owned[0]) is False


def test_daemon_restart_restores_the_load_balancer(
    provider: LocalProvider, daemon: DaemonHandle, calls: CallCounter
) -> None:
    with tcp_backends(NODES) as backends:
        spec = make_spec(tcp(8080, targets(*backends)))
        before = provider.ensure(spec)
        ip = before.ingress[0].ip or ""
        assert eventually(lambda: ask(ip, 8080) is not None)
        daemon.restart()  # a new process on a new API port: the provider finds it through api.json again
        assert eventually(lambda: ask(ip, 8080) in {b.name for b in backends})
        calls.start()
        assert provider.ensure(spec) == before
        assert calls.mutating() == 0


def test_update_targets_touches_only_target_pools(provider: LocalProvider, calls: CallCounter) -> None:
    provider.ensure(make_spec(tcp(80, fake_targets(10, 30080))))
    # A settings change rides along in the spec; update_targets must leave it to ensure.
    spec = make_spec(tcp(80, fake_targets(12, 30080)), algorithm=Algorithm.RANDOM)
    calls.start()
    provider.update_targets(spec)
    assert calls.delta() == {"GET": 1, "POST": 1, "PATCH": 0, "DELETE": 0}
    assert [c.resource for c in provider.plan(spec).changes] == ["settings"]


def test_update_targets_without_a_load_balancer_is_not_found(provider: LocalProvider) -> None:
    with pytest.raises(NotFoundError, match="ensure it first"):
        provider.update_targets(make_spec(tcp(80, fake_targets(1, 30080))))
