"""Helpers the fake OpenStack's tests share (the fixtures are in conftest.py)."""

from __future__ import annotations

from typing import Any

import openstack
from openstack.connection import Connection

from cloudlb_openstack.fake import FakeOpenStack

HOUR = 3600.0  # a provisioning delay no test outlives: PENDING_* lasts until settle()


def connect(fake: FakeOpenStack, **overrides: Any) -> Connection:
    return openstack.connection.Connection(**{**fake.connection_options(), **overrides})


def settle(cloud: FakeOpenStack) -> None:
    """Finish whatever the fake has pending, as if the provisioning delay had passed."""
    cloud.state.complete_all()


def active_lb(cloud: FakeOpenStack, conn: Connection, **attrs: Any) -> Any:
    """A load balancer on the private subnet, already ACTIVE."""
    lb = conn.load_balancer.create_load_balancer(vip_subnet_id=cloud.subnet_id, **attrs)
    settle(cloud)
    return conn.load_balancer.get_load_balancer(lb.id)


def wait_for_lb(conn: Connection, lb_id: str, *, wait: int = 30) -> Any:
    """The SDK's own wait for ACTIVE (ERROR raises ResourceFailure), polling fast: the fake's delays are short."""
    return conn.load_balancer.wait_for_load_balancer(lb_id, interval=0.02, wait=wait)  # type: ignore[arg-type]


def tcp_stack(cloud: FakeOpenStack, conn: Connection, *, port: int = 80) -> tuple[Any, Any, Any]:
    """An ACTIVE load balancer with a TCP listener on ``port`` and its ROUND_ROBIN pool: (lb, listener, pool)."""
    lb = active_lb(cloud, conn, name="stack")
    listener = conn.load_balancer.create_listener(load_balancer_id=lb.id, protocol="TCP", protocol_port=port)
    settle(cloud)
    pool = conn.load_balancer.create_pool(listener_id=listener.id, protocol="TCP", lb_algorithm="ROUND_ROBIN")
    settle(cloud)
    return lb, listener, pool
