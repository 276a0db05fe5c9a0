"""Address allocation: lowest free, requested, taken (409), outside the pool (422), freed on delete and reused."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from cloudlb_local.addresses import AddressPool, AddressTaken, AddressUnavailable, PoolExhausted
from cloudlb_local.testing import running_daemon
from tests.local.daemon.helpers import Api, db_rows, lb_body, unique_pool


def _host(pool: str, n: int) -> str:
    return str(ipaddress.ip_network(pool).network_address + n)


@pytest.mark.parametrize(
    ("cidr", "in_use", "expected"),
    [
        pytest.param("127.0.100.0/24", [], "127.0.100.1", id="skips-network-address"),
        pytest.param("127.0.100.0/24", ["127.0.100.1", "127.0.100.3"], "127.0.100.2", id="lowest-gap"),
        pytest.param("127.0.100.0/30", ["127.0.100.1"], "127.0.100.2", id="last-before-broadcast"),
        pytest.param("127.0.100.7/32", [], "127.0.100.7", id="single-address"),
        pytest.param("fd00::/126", [], "fd00::1", id="ipv6"),
    ],
)
def test_pool_hands_out_the_lowest_free_host(cidr: str, in_use: list[str], expected: str) -> None:
    assert AddressPool(cidr).allocate(in_use) == expected


def test_pool_refuses_network_broadcast_outside_and_taken_addresses() -> None:
    pool = AddressPool("127.0.100.0/30")

    with pytest.raises(AddressUnavailable):
        pool.allocate([], "127.0.100.0")
    with pytest.raises(AddressUnavailable):
        pool.allocate([], "127.0.100.3")
    with pytest.raises(AddressUnavailable):
        pool.allocate([], "127.0.101.1")
    with pytest.raises(AddressTaken):
        pool.allocate(["127.0.100.2"], "127.0.100.2")
    with pytest.raises(PoolExhausted):
        pool.allocate(["127.0.100.1", "127.0.100.2"])


def test_pool_refuses_a_bad_cidr() -> None:
    with pytest.raises(ValueError, match="not a CIDR"):
        AddressPool("127.0.100.1/24")


def test_addresses_are_allocated_lowest_first_and_reused_after_delete(api: Api) -> None:
    pool = api.daemon.address_pool

    first, second, third = (api.create(lb_body(name)) for name in ("a", "b", "c"))
    assert [lb["address"] for lb in (first, second, third)] == [_host(pool, 1), _host(pool, 2), _host(pool, 3)]

    api.ok("DELETE", f"/v1/loadbalancers/{second['id']}", expect=204)
    assert {row["address"] for row in db_rows(api.daemon.state_dir).values()} == {_host(pool, 1), _host(pool, 3)}
    again = api.create(lb_body("d"))

    assert again["address"] == _host(pool, 2)


def test_a_requested_address_is_honoured_when_free(api: Api) -> None:
    wanted = _host(api.daemon.address_pool, 9)

    lb = api.create(lb_body("web", address=wanted))

    assert lb["address"] == wanted
    assert db_rows(api.daemon.state_dir)[lb["id"]]["address"] == wanted
    assert api.create(lb_body("next"))["address"] == _host(api.daemon.address_pool, 1)


def test_a_requested_address_in_use_is_409(api: Api) -> None:
    taken = api.create(lb_body("first"))["address"]

    answer = api.call("POST", "/v1/loadbalancers", lb_body("second", address=taken))

    assert answer.status == 409
    assert answer.error["code"] == "Conflict"
    assert taken in answer.error["message"]
    assert len(db_rows(api.daemon.state_dir)) == 1


@pytest.mark.parametrize(
    "offset", [pytest.param(0, id="network-address"), pytest.param(15, id="broadcast"), pytest.param(16, id="outside")]
)
def test_a_requested_address_outside_the_pool_is_422(api: Api, offset: int) -> None:
    outside = _host(api.daemon.address_pool, offset)  # the pool is a /28

    answer = api.call("POST", "/v1/loadbalancers", lb_body("web", address=outside))

    assert answer.status == 422
    assert answer.error["code"] == "AddressUnavailable"
    assert db_rows(api.daemon.state_dir) == {}


def test_a_full_pool_is_a_conflict(tmp_path: Path) -> None:
    pool = unique_pool(prefix=30)  # two usable addresses
    with running_daemon(tmp_path / "state", address_pool=pool) as daemon:
        api = Api(daemon)
        api.create(lb_body("a"))
        api.create(lb_body("b"))

        answer = api.call("POST", "/v1/loadbalancers", lb_body("c"))

        assert answer.status == 409
        assert "no free address" in answer.error["message"]
