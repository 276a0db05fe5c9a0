"""What the balancer does with real traffic on loopback after the provider configured it."""

from __future__ import annotations

import dataclasses
import itertools
import random
import socket
import threading
import time
from collections import Counter

import pytest

from cloudlb.model import Algorithm, HealthCheck, SessionAffinity, TargetMode
from cloudlb_local.client import LocalClient
from cloudlb_local.provider import LocalProvider
from tests.local.provider.backends import (
    TcpBackend,
    UdpBackend,
    ask,
    ask_udp,
    common_port,
    eventually,
    hold,
    targets,
    tcp_backends,
)
from tests.local.provider.helpers import FAST_CHECKS, CallCounter, make_spec, tcp, udp

NODES = ("127.0.0.11", "127.0.0.12", "127.0.0.13")
PODS = ("127.0.0.21", "127.0.0.22", "127.0.0.23")


def warm(ip: str, port: int, names: set[str]) -> None:
    """Wait until every backend has answered once: the first health checks have passed."""
    seen: set[str] = set()

    def all_seen() -> bool:
        answer = ask(ip, port)
        if answer:
            seen.add(answer)
        return seen >= names

    assert eventually(all_seen), f"only {seen} of {names} answered"


def test_round_robin_takes_turns(provider: LocalProvider) -> None:
    with tcp_backends(NODES) as backends:
        ip = provider.ensure(make_spec(tcp(8080, targets(*backends)))).ingress[0].ip or ""
        names = {b.name for b in backends}
        warm(ip, 8080, names)
        answers = [ask(ip, 8080) for _ in range(30)]
        assert Counter(answers) == {name: 10 for name in names}
        # Strict turns: every window of three consecutive answers is each backend once.
        assert all(set(answers[i : i + 3]) == names for i in range(28))


def test_random_spreads_without_turns(provider: LocalProvider) -> None:
    with tcp_backends(NODES) as backends:
        spec = make_spec(tcp(8080, targets(*backends)), algorithm=Algorithm.RANDOM)
        ip = provider.ensure(spec).ingress[0].ip or ""
        warm(ip, 8080, {b.name for b in backends})
        answers = [ask(ip, 8080) for _ in range(90)]
        assert set(answers) == {b.name for b in backends}
        # Turn-taking never repeats a backend twice in a row; 90 random picks do so with near certainty.
        assert any(a == b for a, b in itertools.pairwise(answers))


def test_least_connections_fills_the_emptiest_backend(provider: LocalProvider) -> None:
    with tcp_backends(PODS) as backends:
        spec = make_spec(
            tcp(8080, targets(*backends)), algorithm=Algorithm.LEAST_CONNECTIONS, target_mode=TargetMode.POD
        )
        ip = provider.ensure(spec).ingress[0].ip or ""
        warm(ip, 8080, {b.name for b in backends})
        held = [hold(ip, 8080) for _ in range(3)]
        assert sorted(name for _, name in held) == sorted(b.name for b in backends)
        rng = random.Random(7)
        for _ in range(6):
            # Free one connection: the next one must go to the backend that now has fewest, whatever the turn.
            sock, freed = held.pop(rng.randrange(len(held)))
            sock.close()
            landed: list[str] = []

            def lands_on_freed(freed: str = freed, landed: list[str] = landed) -> bool:
                conn, name = hold(ip, 8080)
                if name == freed:
                    landed.append(name)
                    held.append((conn, name))
                    return True
                conn.close()  # the balancer had not seen the close yet: undo and try again
                return False

            assert eventually(lands_on_freed, timeout=3), f"new connections avoided {freed}"
        for sock, _ in held:
            sock.close()


def test_source_ip_keeps_each_client_on_one_backend(provider: LocalProvider) -> None:
    with tcp_backends(NODES) as backends:
        spec = make_spec(tcp(8080, targets(*backends)), session_affinity=SessionAffinity.CLIENT_IP, affinity_timeout=60)
        ip = provider.ensure(spec).ingress[0].ip or ""
        clients = [f"127.0.0.{i}" for i in range(101, 113)]
        assert eventually(lambda: all(ask(ip, 8080, source=c) for c in clients))
        time.sleep(3 * FAST_CHECKS.interval)  # let every backend pass its first checks before watching affinity
        chosen: dict[str, set[str | None]] = {}
        for client in clients:
            chosen[client] = {ask(ip, 8080, source=client) for _ in range(5)}
        assert all(len(names) == 1 and None not in names for names in chosen.values()), chosen
        assert len(set().union(*chosen.values())) >= 2, "twelve clients all hashed to one backend"


def test_port_change_moves_the_listener_and_keeps_the_address(provider: LocalProvider, api: LocalClient) -> None:
    with tcp_backends(NODES) as backends:
        pool = targets(*backends)
        before = provider.ensure(make_spec(tcp(8080, pool)))
        ip = before.ingress[0].ip or ""
        warm(ip, 8080, {b.name for b in backends})
        after = provider.ensure(make_spec(tcp(8081, pool)))
        assert after.ingress[0].ip == ip
        assert [p.port for p in after.ingress[0].ports] == [8081]
        assert [lst["port"] for lst in api.get_load_balancer(after.cloud_id or "")["listeners"]] == [8081]
        assert ask(ip, 8080) is None
        assert eventually(lambda: ask(ip, 8081) is not None)


def test_scale_to_zero_targets_and_back(provider: LocalProvider, api: LocalClient) -> None:
    with tcp_backends(PODS) as backends:
        pool = targets(*backends)
        status = provider.ensure(make_spec(tcp(8080, pool), target_mode=TargetMode.POD))
        ip = status.ingress[0].ip or ""
        warm(ip, 8080, {b.name for b in backends})
        provider.ensure(make_spec(tcp(8080, frozenset()), target_mode=TargetMode.POD))
        assert api.get_load_balancer(status.cloud_id or "")["listeners"][0]["targets"] == []
        assert ask(ip, 8080) is None
        provider.ensure(make_spec(tcp(8080, pool), target_mode=TargetMode.POD))
        warm(ip, 8080, {b.name for b in backends})


def test_source_ranges_allow_deny_swap_and_clear(provider: LocalProvider, api: LocalClient) -> None:
    a, b = "127.0.0.50", "127.0.0.51"
    with tcp_backends(NODES[:1]) as backends:
        spec = make_spec(tcp(8080, targets(*backends)), source_ranges=(f"{a}/32",))
        status = provider.ensure(spec)
        ip = status.ingress[0].ip or ""
        assert eventually(lambda: ask(ip, 8080, source=a) is not None)
        assert ask(ip, 8080, source=b) is None

        provider.ensure(dataclasses.replace(spec, source_ranges=(f"{b}/32",)))
        assert api.get_load_balancer(status.cloud_id or "")["settings"]["source_ranges"] == [f"{b}/32"]
        assert ask(ip, 8080, source=a) is None
        assert ask(ip, 8080, source=b) is not None

        provider.ensure(dataclasses.replace(spec, source_ranges=()))
        assert api.get_load_balancer(status.cloud_id or "")["settings"]["source_ranges"] == []
        assert ask(ip, 8080, source=a) is not None
        assert ask(ip, 8080, source=b) is not None


def test_udp_fails_over_when_a_backend_stops(provider: LocalProvider) -> None:
    ips = ("127.0.0.31", "127.0.0.32")
    port = common_port(ips, kind=socket.SOCK_DGRAM)
    health_port = common_port(ips)
    dns = [UdpBackend(f"u{ip[-2:]}", ip, port) for ip in ips]
    # UDP has no handshake to probe, so the balancer checks a TCP port each node serves, as kube-proxy's healthz.
    probes = [TcpBackend(f"h{ip[-2:]}", ip, health_port) for ip in ips]
    try:
        checks = HealthCheck(port=health_port, interval=0.3, timeout=0.2, healthy_threshold=1, unhealthy_threshold=1)
        ip = provider.ensure(make_spec(udp(5353, targets(*dns)), health_check=checks)).ingress[0].ip or ""
        seen: set[str | None] = set()

        def both_answered() -> bool:
            seen.add(ask_udp(ip, 5353))
            return {d.name for d in dns} <= seen

        assert eventually(both_answered)

        dns[0].stop()
        probes[0].stop()
        survivor = dns[1].name
        assert eventually(lambda: all(ask_udp(ip, 5353) == survivor for _ in range(10)))
        assert [ask_udp(ip, 5353) for _ in range(10)] == [survivor] * 10
    finally:
        for udp_backend in dns:
            udp_backend.stop()
        for probe in probes:
            probe.stop()


def test_rolling_replacement_of_every_target_drops_no_request(provider: LocalProvider, calls: CallCounter) -> None:
    """Pods replaced one by one under steady load: a removed target drains, new connections go elsewhere."""
    old_ips, new_ips = ("127.0.0.41", "127.0.0.42", "127.0.0.43"), ("127.0.0.44", "127.0.0.45", "127.0.0.46")
    port = common_port(old_ips + new_ips)
    # A delay keeps requests in flight while their backend is removed.
    old = [TcpBackend(f"old{i}", ip, port, delay=0.05) for i, ip in enumerate(old_ips)]
    new = [TcpBackend(f"new{i}", ip, port, delay=0.05) for i, ip in enumerate(new_ips)]
    try:
        live = list(old)
        spec = make_spec(tcp(8080, targets(*live)), target_mode=TargetMode.POD)
        ip = provider.ensure(spec).ingress[0].ip or ""
        warm(ip, 8080, {b.name for b in old})

        answers: list[str | None] = []
        stop = threading.Event()

        def load() -> None:
            while not stop.is_set():
                answers.append(ask(ip, 8080))

        workers = [threading.Thread(target=load) for _ in range(4)]  # bounded: four clients, one request each
        for worker in workers:
            worker.start()
        calls.start()
        try:
            for leaving, joining in zip(old, new, strict=True):
                live = [b for b in live if b is not leaving] + [joining]
                provider.ensure(make_spec(tcp(8080, targets(*live)), target_mode=TargetMode.POD))
                time.sleep(0.3)  # like a pod's preStop: connections the balancer opened just before are accepted
                leaving.close_listener()
                time.sleep(0.3)
        finally:
            stop.set()
            for worker in workers:
                worker.join()
        for backend in old:
            backend.join()

        assert calls.delta()["POST"] == 3  # one targets call per step: add the new pod, remove the old, together
        assert answers.count(None) == 0, f"{answers.count(None)} of {len(answers)} requests failed"
        assert set(answers[-20:]) <= {b.name for b in new}
        assert sum(b.accepted for b in new) > 0
    finally:
        for backend in (*old, *new):
            backend.stop()


@pytest.mark.parametrize("mode", [TargetMode.NODE, TargetMode.POD], ids=str)
def test_health_checks_move_traffic_off_a_stopped_target(provider: LocalProvider, mode: TargetMode) -> None:
    with tcp_backends(NODES if mode is TargetMode.NODE else PODS) as backends:
        ip = provider.ensure(make_spec(tcp(8080, targets(*backends)), target_mode=mode)).ingress[0].ip or ""
        warm(ip, 8080, {b.name for b in backends})
        backends[0].stop()
        survivors = {b.name for b in backends[1:]}
        assert eventually(lambda: all(ask(ip, 8080) in survivors for _ in range(6)))
        assert {ask(ip, 8080) for _ in range(12)} == survivors
