"""``OpenStackClient``: the one door to Octavia and Neutron. Every call the provider makes goes through it.

Where this sits: below observe.py and steps.py, above openstacksdk. It owns the connection (built on first use, so
building a provider makes no call and reads no file), turns SDK resources into records (records.py) and SDK
errors into cloudlb's: 409 (Octavia's "immutable" while PENDING_*), 429, 5xx and lost connections become
``TemporaryError``; 404 ``NotFoundError``; other refusals ``PermanentError``. Reads are retried on the spot, since
repeating one is harmless; writes never are: the provider observes again and plans what is left, so a write whose
answer was lost is found by its tags rather than sent twice. ``wait_active`` is the wait after every write: the
load balancer must leave PENDING_* before anything else is written, and ERROR fails fast with its name.

openstacksdk has no method for Octavia's batch member update, so ``put_members`` sends it through the SDK's own
load-balancer adapter (same session, token and endpoint).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import openstack
from keystoneauth1 import exceptions as ksa
from openstack import exceptions as sdk

from cloudlb.errors import (
    CloudLBError,
    ConfigError,
    NotFoundError,
    PermanentError,
    ProviderError,
    TemporaryError,
)
from cloudlb.naming import tags_to_strings
from cloudlb.retry import retry_call, wait_for
from cloudlb_openstack.config import OpenStackConfig
from cloudlb_openstack.records import (
    FloatingIPRecord,
    ListenerRecord,
    LoadBalancerRecord,
    Member,
    MemberRecord,
    MonitorRecord,
    PoolRecord,
    floating_ip_record,
    listener_record,
    load_balancer_record,
    member_record,
    monitor_record,
    pool_record,
)

__all__ = ["OpenStackClient"]

log = logging.getLogger("cloudlb.openstack")

T = TypeVar("T")
ERROR = "ERROR"


class OpenStackClient:
    """Typed calls over one openstacksdk connection. ``connection`` may be given (tests, tools); else it is built
    from ``config`` on first use."""

    def __init__(self, config: OpenStackConfig, *, connection: Any = None) -> None:
        self.config = config
        self._connection = connection

    @property
    def conn(self) -> Any:
        if self._connection is None:
            self._connection = self._connect()
        return self._connection

    def _connect(self) -> Any:
        options = self.config.connection_options()
        try:
            if self.config.cloud is not None:
                return openstack.connect(
                    cloud=self.config.cloud, api_timeout=self.config.request_timeout, app_name="cloudlb", **options
                )
            return openstack.connection.Connection(
                api_timeout=self.config.request_timeout, app_name="cloudlb", **options
            )
        except sdk.ConfigException as exc:
            raise ConfigError(f"openstack: {exc}") from exc

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # --- error translation -------------------------------------------------------------------------------------

    def _read(self, what: str, fn: Callable[[], T]) -> T:
        return retry_call(lambda: _translated(what, fn), backoff=self.config.read_backoff, retry_on=TemporaryError)

    def _write(self, what: str, fn: Callable[[], T]) -> T:
        return _translated(what, fn)

    # --- Octavia reads -----------------------------------------------------------------------------------------

    def load_balancers(self, tags: Mapping[str, str]) -> list[LoadBalancerRecord]:
        """Load balancers carrying every one of ``tags`` (Octavia's ``tags`` filter)."""
        wanted = tags_to_strings(tags)
        found = self._read("list load balancers", lambda: list(self.conn.load_balancer.load_balancers(tags=wanted)))
        return [load_balancer_record(lb) for lb in found]

    def load_balancer(self, lb_id: str) -> LoadBalancerRecord | None:
        try:
            found = self._read(f"get load balancer {lb_id}", lambda: self.conn.load_balancer.get_load_balancer(lb_id))
        except NotFoundError:
            return None
        return load_balancer_record(found)

    def listeners(self, lb_id: str) -> list[ListenerRecord]:
        found = self._read("list listeners", lambda: list(self.conn.load_balancer.listeners(load_balancer_id=lb_id)))
        return [listener_record(item) for item in found]

    def pools(self, lb_id: str) -> list[PoolRecord]:
        found = self._read("list pools", lambda: list(self.conn.load_balancer.pools(loadbalancer_id=lb_id)))
        return [pool_record(item) for item in found]

    def monitors(self, tags: Mapping[str, str]) -> list[MonitorRecord]:
        wanted = tags_to_strings(tags)
        found = self._read("list health monitors", lambda: list(self.conn.load_balancer.health_monitors(tags=wanted)))
        return [monitor_record(item) for item in found]

    def members(self, pool_id: str) -> list[MemberRecord]:
        found = self._read(f"list members of pool {pool_id}", lambda: list(self.conn.load_balancer.members(pool_id)))
        return [member_record(item) for item in found]

    # --- Octavia writes ----------------------------------------------------------------------------------------

    def create_load_balancer(self, body: Mapping[str, Any]) -> LoadBalancerRecord:
        made = self._write("create load balancer", lambda: self.conn.load_balancer.create_load_balancer(**body))
        return load_balancer_record(made)

    def update_load_balancer(self, lb_id: str, changes: Mapping[str, Any]) -> None:
        self._write(
            f"update load balancer {lb_id}", lambda: self.conn.load_balancer.update_load_balancer(lb_id, **changes)
        )

    def delete_load_balancer(self, lb_id: str) -> None:
        """Delete with cascade: listeners, pools, members and monitors go with it, in one call."""
        self._write(
            f"delete load balancer {lb_id}", lambda: self.conn.load_balancer.delete_load_balancer(lb_id, cascade=True)
        )

    def create_listener(self, body: Mapping[str, Any]) -> str:
        made = self._write("create listener", lambda: self.conn.load_balancer.create_listener(**body))
        return str(made.id)

    def update_listener(self, listener_id: str, changes: Mapping[str, Any]) -> None:
        self._write(
            f"update listener {listener_id}", lambda: self.conn.load_balancer.update_listener(listener_id, **changes)
        )

    def delete_listener(self, listener_id: str) -> None:
        self._write(f"delete listener {listener_id}", lambda: self.conn.load_balancer.delete_listener(listener_id))

    def create_pool(self, body: Mapping[str, Any]) -> str:
        made = self._write("create pool", lambda: self.conn.load_balancer.create_pool(**body))
        return str(made.id)

    def update_pool(self, pool_id: str, changes: Mapping[str, Any]) -> None:
        self._write(f"update pool {pool_id}", lambda: self.conn.load_balancer.update_pool(pool_id, **changes))

    def delete_pool(self, pool_id: str) -> None:
        """Its members and monitor go with it."""
        self._write(f"delete pool {pool_id}", lambda: self.conn.load_balancer.delete_pool(pool_id))

    def create_monitor(self, body: Mapping[str, Any]) -> str:
        made = self._write("create health monitor", lambda: self.conn.load_balancer.create_health_monitor(**body))
        return str(made.id)

    def update_monitor(self, monitor_id: str, changes: Mapping[str, Any]) -> None:
        self._write(
            f"update health monitor {monitor_id}",
            lambda: self.conn.load_balancer.update_health_monitor(monitor_id, **changes),
        )

    def delete_monitor(self, monitor_id: str) -> None:
        self._write(
            f"delete health monitor {monitor_id}", lambda: self.conn.load_balancer.delete_health_monitor(monitor_id)
        )

    def put_members(self, pool_id: str, members: Iterable[Member]) -> None:
        """Octavia's batch member update: the pool's members become exactly ``members``, in one call."""
        body = {"members": [m.body() for m in sorted(members)]}

        def put() -> None:
            response = self.conn.load_balancer.put(f"/lbaas/pools/{pool_id}/members", json=body)
            sdk.raise_from_response(response)

        self._write(f"update members of pool {pool_id}", put)

    def clear_monitor_port(self, pool_id: str, member_id: str) -> None:
        """The batch update keeps a field it is not given, so unsetting ``monitor_port`` takes a member PUT."""
        self._write(
            f"update member {member_id}",
            lambda: self.conn.load_balancer.update_member(member_id, pool_id, monitor_port=None),
        )

    # --- waiting -----------------------------------------------------------------------------------------------

    def wait_active(self, lb_id: str, label: str) -> LoadBalancerRecord:
        """Poll until the load balancer leaves PENDING_*; ERROR is a ``PermanentError`` naming it."""

        def settled() -> LoadBalancerRecord | None:
            lb = self.load_balancer(lb_id)
            if lb is None:
                raise TemporaryError(f"load balancer {label} disappeared while cloudlb waited for it")
            return None if lb.pending else lb

        try:
            return self._wait(settled, f"load balancer {label}")
        except PermanentError as exc:
            raise PermanentError(
                f"load balancer {label} is in ERROR: Octavia could not apply the change; delete it and apply again"
            ) from exc

    def wait_settled(self, lb_id: str, label: str) -> LoadBalancerRecord | None:
        """Poll until the load balancer leaves PENDING_*, whatever it settles in; None when it is gone (it was being
        deleted). Used before cloudlb acts on one it found busy, e.g. after an earlier run was interrupted."""

        def settled() -> LoadBalancerRecord | bool | None:
            lb = self.load_balancer(lb_id)
            if lb is None:
                return True
            return None if lb.pending else lb

        found = wait_for(
            settled,
            timeout=self.config.wait_timeout,
            description=f"load balancer {label}",
            backoff=self.config.wait_backoff,
        )
        return found if isinstance(found, LoadBalancerRecord) else None

    def wait_deleted(self, lb_id: str, label: str) -> None:
        """Poll until the load balancer is gone."""

        def gone() -> LoadBalancerRecord | bool | None:
            lb = self.load_balancer(lb_id)
            if lb is None:
                return True
            return lb if lb.provisioning_status == ERROR else None

        try:
            self._wait(gone, f"deletion of load balancer {label}")
        except PermanentError as exc:
            raise PermanentError(f"load balancer {label} went to ERROR while being deleted") from exc

    def _wait(self, predicate: Callable[[], T | None], description: str) -> T:
        def failed(value: object) -> bool:
            return isinstance(value, LoadBalancerRecord) and value.provisioning_status == ERROR

        return wait_for(
            predicate,
            timeout=self.config.wait_timeout,
            description=description,
            backoff=self.config.wait_backoff,
            fail=failed,
        )

    # --- Neutron -----------------------------------------------------------------------------------------------

    def floating_ips(self, **filters: Any) -> list[FloatingIPRecord]:
        """Floating IPs matching Neutron filters (``port_id=...``, ``floating_ip_address=...``, ``tags=[...]``)."""
        found = self._read("list floating IPs", lambda: list(self.conn.network.ips(**filters)))
        return [floating_ip_record(item) for item in found]

    def create_floating_ip(
        self, network_id: str, *, port_id: str, address: str | None, tags: Mapping[str, str]
    ) -> FloatingIPRecord:
        """Allocate and associate in one call, tagged at creation, so a lost answer still leaves it findable."""
        body: dict[str, Any] = {"floating_network_id": network_id, "port_id": port_id, "tags": tags_to_strings(tags)}
        if address is not None:
            body["floating_ip_address"] = address
        made = self._write("create floating IP", lambda: self.conn.network.create_ip(**body))
        return floating_ip_record(made)

    def associate_floating_ip(self, fip_id: str, port_id: str | None) -> None:
        """Point the floating IP at ``port_id``; None disassociates it."""
        self._write(f"update floating IP {fip_id}", lambda: self.conn.network.update_ip(fip_id, port_id=port_id))

    def set_floating_ip_tags(self, fip_id: str, tags: Mapping[str, str]) -> None:
        body = {"tags": tags_to_strings(tags)}

        def put() -> None:
            sdk.raise_from_response(self.conn.network.put(f"/floatingips/{fip_id}/tags", json=body))

        self._write(f"tag floating IP {fip_id}", put)

    def delete_floating_ip(self, fip_id: str) -> None:
        self._write(f"delete floating IP {fip_id}", lambda: self.conn.network.delete_ip(fip_id))

    def external_networks(self) -> list[str]:
        found = self._read("list external networks", lambda: list(self.conn.network.networks(is_router_external=True)))
        return sorted(str(n.id) for n in found)


def _translated(what: str, fn: Callable[[], T]) -> T:
    """Run one SDK call, raising cloudlb's errors in place of the SDK's and keystoneauth's."""
    try:
        return fn()
    except CloudLBError:
        raise
    except sdk.HttpException as exc:
        raise _from_status(what, exc.status_code, str(exc.details or exc), _retry_after(exc.response)) from exc
    except ksa.HttpError as exc:
        raise _from_status(what, exc.http_status, str(exc), _retry_after(exc.response)) from exc
    except (ksa.ConnectionError, ksa.DiscoveryFailure) as exc:
        raise TemporaryError(f"{what}: cannot reach OpenStack: {exc}") from exc
    except (ksa.ClientException, sdk.SDKException) as exc:
        raise ProviderError(f"{what}: {exc}") from exc


def _from_status(what: str, status: int | None, detail: str, retry_after: float | None) -> ProviderError:
    message = f"{what}: {detail}"
    if status == 404:
        return NotFoundError(message)
    if status in (409, 429) or (status is not None and status >= 500):
        # Octavia answers 409 while the load balancer is PENDING_*: busy, not wrong.
        return TemporaryError(message, retry_after=retry_after)
    return PermanentError(message)


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
