"""Refusals and failures: foreign load balancers, unsupported specs, bad tokens, no daemon, ports in use."""

from __future__ import annotations

import ipaddress
import json
import socket
from pathlib import Path

import pytest

from cloudlb.errors import ConfigError, ConflictError, PermanentError, ProviderError, UnsupportedFeatureError
from cloudlb.model import HealthCheck, HealthCheckProtocol, IPFamily, Listener, LoadBalancerSpec, Protocol, Target
from cloudlb.naming import CLUSTER_TAG, SERVICE_TAG, UID_TAG
from cloudlb_local.client import LocalClient
from cloudlb_local.provider import LocalProvider
from cloudlb_local.testing import DaemonHandle
from tests.local.provider.backends import ask, eventually, targets, tcp_backends
from tests.local.provider.helpers import CallCounter, FlakyApi, make_spec, tcp

TARGETS = frozenset({Target("127.0.0.11", 30080)})


def test_a_foreign_look_alike_gets_no_mutating_call(
    provider: LocalProvider, api: LocalClient, calls: CallCounter
) -> None:
    """Same name, same Service, another cluster's tags: never changed, never deleted, never listed as ours."""
    spec = make_spec(tcp(80, TARGETS))
    foreign = api.create_load_balancer(
        {
            "name": provider.load_balancer_name(spec),
            "tags": {CLUSTER_TAG: "other", SERVICE_TAG: "demo/web", UID_TAG: "uid-1"},
            "settings": {"algorithm": "random"},
            "listeners": [{"name": "http", "protocol": "TCP", "port": 80, "targets": []}],
        }
    )

    calls.start()
    assert provider.list_owned("test") == []
    assert provider.get(spec) is None
    assert provider.delete(spec) is False
    assert calls.mutating() == 0

    calls.start()
    mine = provider.ensure(spec)
    assert calls.delta() == {"GET": 1, "POST": 1, "PATCH": 0, "DELETE": 0}  # its own create, nothing else
    assert mine.cloud_id != foreign["id"]
    assert provider.delete(spec) is True
    assert api.get_load_balancer(foreign["id"]) == foreign  # same revision, settings, listeners and tags


def test_delete_of_an_owned_record_checks_the_tags_too(provider: LocalProvider, api: LocalClient) -> None:
    owned = provider.ensure(make_spec(tcp(80, TARGETS)))
    record = provider.list_owned("test")[0]
    assert record.cloud_id == owned.cloud_id
    # Someone retags the load balancer for another cluster: the id still matches, the tags no longer do.
    api.patch_load_balancer(record.cloud_id, tags={CLUSTER_TAG: "other", SERVICE_TAG: "demo/web"})
    assert provider.delete(record) is False
    assert api.get_load_balancer(record.cloud_id)["id"] == record.cloud_id


@pytest.mark.parametrize(
    ("spec", "feature"),
    [
        pytest.param(make_spec(Listener("sig", Protocol.SCTP, 3868, targets=TARGETS)), "sctp", id="sctp"),
        pytest.param(make_spec(tcp(80, TARGETS), ip_families=(IPFamily.IPV6,)), "ipv6", id="ipv6"),
        pytest.param(
            make_spec(tcp(80, TARGETS), health_check=HealthCheck(HealthCheckProtocol.HTTPS, path="/")),
            "https-health-check",
            id="https-check",
        ),
    ],
)
def test_unsupported_specs_fail_before_any_call(
    provider: LocalProvider, calls: CallCounter, spec: LoadBalancerSpec, feature: str
) -> None:
    calls.start()
    for step in (provider.plan, provider.ensure, provider.update_targets):
        with pytest.raises(UnsupportedFeatureError, match=feature):
            step(spec)
    assert calls.delta() == {"GET": 0, "POST": 0, "PATCH": 0, "DELETE": 0}


def test_a_bad_token_is_refused_with_a_hint(daemon: DaemonHandle) -> None:
    provider = LocalProvider(daemon.state_dir, token="not-the-token")
    with pytest.raises(ConfigError, match="refused the API token") as caught:
        provider.get(make_spec())
    assert "token" in str(caught.value) and "\n" not in str(caught.value)


def test_no_daemon_is_one_line_naming_cloudlb_serve(tmp_path: Path) -> None:
    provider = LocalProvider(tmp_path / "nowhere")  # building it makes no call and cannot fail
    expected = (
        f"no local cloud is running for state dir {tmp_path / 'nowhere'}: "
        f"start one with `cloudlb serve --state-dir {tmp_path / 'nowhere'}`"
    )
    for step in (provider.get, provider.ensure, provider.delete):
        with pytest.raises(ProviderError) as caught:
            step(make_spec(tcp(80, TARGETS)))
        assert str(caught.value) == expected


def test_a_daemon_that_went_away_is_the_same_one_line(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    with socket.socket() as probe:  # a port nothing listens on: the daemon that wrote api.json is gone
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (state_dir / "api.json").write_text(json.dumps({"url": f"http://127.0.0.1:{port}", "token": "t", "pid": 1}))
    with pytest.raises(ProviderError, match=r"no local cloud is running .* `cloudlb serve --state-dir"):
        LocalProvider(state_dir).list_owned("test")


def test_a_port_in_use_is_reported_in_the_status_not_raised(provider: LocalProvider, daemon: DaemonHandle) -> None:
    address = str(next(ipaddress.ip_network(daemon.address_pool).hosts()) + 4)
    with tcp_backends(("127.0.0.11",)) as backends, socket.create_server((address, 8090)):
        spec = make_spec(
            tcp(8090, targets(*backends)), tcp(8091, targets(*backends), name="alt"), load_balancer_ip=address
        )
        status = provider.ensure(spec)
        assert status.ingress[0].ip == address
        errors = {p.port: p.error for p in status.ingress[0].ports}
        assert errors[8091] is None
        assert errors[8090] is not None and "in use" in errors[8090]
        assert [p.port for p in status.errors] == [8090]
        assert eventually(lambda: ask(address, 8091) == backends[0].name)  # the rest of the balancer serves
        assert provider.get(spec) == status


def test_an_address_outside_the_pool_or_taken_is_refused_at_ensure(
    provider: LocalProvider, daemon: DaemonHandle
) -> None:
    with pytest.raises(PermanentError, match=r"outside|pool"):
        provider.ensure(make_spec(tcp(80, TARGETS), load_balancer_ip="127.0.0.99"))
    taken = provider.ensure(make_spec(tcp(80, TARGETS), name="first")).ingress[0].ip
    with pytest.raises(ConflictError):
        provider.ensure(make_spec(tcp(80, TARGETS), name="second", load_balancer_ip=taken))


def test_a_lost_answer_is_retried_by_observing_again(daemon: DaemonHandle, api: LocalClient) -> None:
    """The create happened but its answer was lost: the retry finds the balancer by its tags and creates no twin."""
    flaky = FlakyApi(daemon.url)
    try:
        provider = LocalProvider(daemon.state_dir, api_url=flaky.url, token=daemon.token)
        spec = make_spec(tcp(80, TARGETS))
        flaky.lose = 1
        status = provider.ensure(spec)
        assert flaky.lost == 1
        found = api.list_load_balancers({SERVICE_TAG: "demo/web"})
        assert [lb["id"] for lb in found] == [status.cloud_id]

        flaky.lose = 1  # the same for a targets call: applied once, answer lost, nothing left to do on the retry
        changed = make_spec(tcp(80, TARGETS | {Target("127.0.0.12", 30080)}))
        provider.ensure(changed)
        assert flaky.lost == 2
        assert provider.plan(changed).is_empty
    finally:
        flaky.close()
