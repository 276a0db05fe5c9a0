"""Two Services ensured at the same moment: both read the shared balancer (and security group) at the same ETag,
both write, one gets 412, re-reads and redoes its change on top of the other's. Neither update is lost."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from azure.mgmt.network import NetworkManagementClient

from cloudlb.model import LoadBalancerSpec
from cloudlb_azure.fake import FakeArm
from cloudlb_azure.provider import AzureProvider
from tests.azure.conftest import MakeProvider
from tests.azure.helpers import lb, names, rules_of, service, spec

WEB = spec(service("web", ports=((80, "TCP", 30080),)))
API = spec(service("api", ports=((8080, "TCP", 30808),)))
SEED = spec(service("seed", ports=((9000, "TCP", 30900),)))


def in_lockstep(providers: list[AzureProvider], parties: int = 2) -> None:
    """The first observation of each of ``parties`` threads waits for the others': all then plan from the same
    ETags, so their writes must race. Later observations (a retry after a 412) run freely."""
    barrier = threading.Barrier(parties)
    seen: set[int] = set()
    lock = threading.Lock()
    for provider in {id(p): p for p in providers}.values():
        original = provider.observer.observe

        def observe(*args: Any, original: Any = original, **kwargs: Any) -> Any:
            found = original(*args, **kwargs)
            with lock:
                first = threading.get_ident() not in seen
                seen.add(threading.get_ident())
            if first:
                barrier.wait(timeout=30)
            return found

        provider.observer.observe = observe  # type: ignore[method-assign]


def ensure_together(pairs: list[tuple[AzureProvider, LoadBalancerSpec]]) -> None:
    errors: list[BaseException] = []

    def run(provider: AzureProvider, s: LoadBalancerSpec) -> None:
        try:
            provider.ensure(s)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


def refused(fake: FakeArm, kind: str) -> int:
    return sum(1 for r in fake.requests if r.status == 412 and f"/{kind}/" in r.path)


@pytest.mark.parametrize(
    "existing", [pytest.param(False, id="creating-the-balancer"), pytest.param(True, id="balancer-exists")]
)
@pytest.mark.parametrize("shared", [pytest.param(False, id="two-replicas"), pytest.param(True, id="one-provider")])
def test_concurrent_ensures_lose_no_update(
    make_provider: MakeProvider, client: NetworkManagementClient, fake: FakeArm, existing: bool, shared: bool
) -> None:
    if existing:
        make_provider().ensure(SEED)
    first = make_provider()
    second = first if shared else make_provider()
    in_lockstep([first, second])

    ensure_together([(first, WEB), (second, API)])

    shared_lb = lb(client)
    expected = [SEED, WEB, API] if existing else [WEB, API]
    bases = [first.load_balancer_name(s) for s in expected]
    assert names(shared_lb.frontend_ip_configurations) == sorted(bases)
    assert {str(r.name).rsplit("-", 2)[0] for r in shared_lb.load_balancing_rules or []} == set(bases)
    for s, base in zip(expected, bases, strict=True):
        assert len(rules_of(client, base)) == 1, f"the security rule of {s.name} was lost"
    assert refused(fake, "loadBalancers") >= 1  # the race really happened
    assert refused(fake, "networkSecurityGroups") >= 1
    writes = len(fake.writes())
    for s in expected:
        assert make_provider().plan(s).is_empty
    assert len(fake.writes()) == writes


def test_a_delete_racing_an_ensure_keeps_the_new_service(
    make_provider: MakeProvider, client: NetworkManagementClient
) -> None:
    """The last Service goes while another arrives: the balancer's deletion is conditional on the ETag the
    deleting side read, so it cannot take the newcomer's frontend with it."""
    make_provider().ensure(SEED)
    deleting, ensuring = make_provider(), make_provider()
    in_lockstep([deleting, ensuring])
    errors: list[BaseException] = []

    def delete() -> None:
        try:
            deleting.delete(SEED)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=delete)
    thread.start()
    ensuring.ensure(WEB)
    thread.join(timeout=60)

    assert not errors, errors
    assert names(lb(client).frontend_ip_configurations) == [ensuring.load_balancer_name(WEB)]
    assert make_provider().plan(WEB).is_empty
