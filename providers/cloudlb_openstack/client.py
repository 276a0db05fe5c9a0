"""``OpenStackClient``: the one door to Octavia and Neutron. Every call the provider makes goes through it.

Where this sits: below observe.py and steps.py, above openstacksdk. It owns the connection (built on first use, so
building a provider makes no call and reads no file) and sends each request through the SDK's service adapters
(``conn.load_balancer``, ``conn.network``): openstacksdk's session, token, catalog and version discovery, with the
APIs' own JSON bodies. It does not build SDK resource objects: measured here, one costs about 10 ms of CPU, so a
pool of 1,000 members would take 10 s to read. Answers become records (records.py); openstacksdk's and
keystoneauth's errors become cloudlb's: 409 (Octavia's "immutable" while PENDING_*), 429, 5xx and lost connections
``TemporaryError``; 404 ``NotFoundError``; other refusals ``PermanentError``.

Reads are retried on the spot, since repeating one is harmless; writes never are: the provider observes again and
plans what is left, so a write whose answer was lost is found by its tags rather than sent twice. ``wait_active`` is
the wait after every write: the load balancer must leave PENDING_* before anything else is written, and ERROR fails
fast with its name. Octavia's batch member update, which openstacksdk has no method for, is one more PUT here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import openstack
from keystoneauth1 import exceptions as ksa
from openstack import exceptions as sdk

from cloudlb.errors import CloudLBError, ConfigError, NotFoundError, PermanentError, ProviderError, TemporaryError
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
JSON = dict[str, Any]
ERROR = "ERROR"


class OpenStackClient:
    """Typed calls over one openstacksdk connection, built from ``config`` on first use."""

    def __init__(self, config: OpenStackConfig) -> None:
        self.config = config
        self._connection: Any = None

    @property
    def conn(self) -> Any:
        if self._connection is None:
            self._connection = self._connect()
        return self._connection

    def _connect(self) -> Any:
        options = self.config.connection_options()
        common: dict[str, Any] = {"api_timeout": self.config.request_timeout, "app_name": "cloudlb"}
        try:
            if self.config.cloud is not None:
                return openstack.connect(cloud=self.config.cloud, **common, **options)
            return openstack.connection.Connection(**common, **options)
        except sdk.ConfigException as exc:
            raise ConfigError(f"openstack: {exc}") from exc

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # --- requests ----------------------------------------------------------------------------------------------

    def _send(
        self, service: str, method: str, path: str, *, body: JSON | None = None, params: JSON | None = None
    ) -> Any:
        """One request through the SDK's adapter for ``service``; the decoded answer, or None when it has none."""
        adapter = getattr(self.conn, service)
        response = adapter.request(path, method, json=body, params=params)
        sdk.raise_from_response(response)
        return response.json() if response.content else None

    def _read(self, what: str, service: str, path: str, params: JSON | None = None) -> Any:
        return retry_call(
            lambda: _translated(what, lambda: self._send(service, "GET", path, params=params)),
            backoff=self.config.read_backoff,
            retry_on=TemporaryError,
        )

    def _list(self, what: str, service: str, path: str, key: str, params: JSON | None = None) -> list[JSON]:
        """Every page of a collection: ``<key>_links`` names the next one, as an absolute URL."""
        out: list[JSON] = []
        url, query = path, params
        while True:
            page = self._read(what, service, url, query)
            out += page[key]
            url = next((link["href"] for link in page.get(f"{key}_links") or () if link.get("rel") == "next"), "")
            if not url:
                return out
            query = None

    def _write(
        self, what: str, service: str, method: str, path: str, body: JSON | None = None, params: JSON | None = None
    ) -> Any:
        return _translated(what, lambda: self._send(service, method, path, body=body, params=params))

    # --- Octavia reads -----------------------------------------------------------------------------------------

    def load_balancers(self, tags: Mapping[str, str]) -> list[LoadBalancerRecord]:
        """Load balancers carrying every one of ``tags`` (Octavia's ``tags`` filter)."""
        params = {"tags": ",".join(tags_to_strings(tags))}
        found = self._list("list load balancers", LB, "/lbaas/loadbalancers", "loadbalancers", params)
        return [load_balancer_record(lb) for lb in found]

    def load_balancer(self, lb_id: str) -> LoadBalancerRecord | None:
        try:
            found = self._read(f"get load balancer {lb_id}", LB, f"/lbaas/loadbalancers/{lb_id}")
        except NotFoundError:
            return None
        return load_balancer_record(found["loadbalancer"])

    def listeners(self, lb_id: str) -> list[ListenerRecord]:
        found = self._list("list listeners", LB, "/lbaas/listeners", "listeners", {"loadbalancer_id": lb_id})
        return [listener_record(item) for item in found]

    def pools(self, lb_id: str) -> list[PoolRecord]:
        found = self._list("list pools", LB, "/lbaas/pools", "pools", {"loadbalancer_id": lb_id})
        return [pool_record(item) for item in found]

    def monitors(self, tags: Mapping[str, str]) -> list[MonitorRecord]:
        params = {"tags": ",".join(tags_to_strings(tags))}
        found = self._list("list health monitors", LB, "/lbaas/healthmonitors", "healthmonitors", params)
        return [monitor_record(item) for item in found]

    def members(self, pool_id: str) -> list[MemberRecord]:
        found = self._list(f"list members of pool {pool_id}", LB, f"/lbaas/pools/{pool_id}/members", "members")
        return [member_record(item) for item in found]

    # --- Octavia writes ----------------------------------------------------------------------------------------

    def create_load_balancer(self, body: JSON) -> LoadBalancerRecord:
        made = self._write("create load balancer", LB, "POST", "/lbaas/loadbalancers", {"loadbalancer": body})
        return load_balancer_record(made["loadbalancer"])

    def update_load_balancer(self, lb_id: str, changes: JSON) -> None:
        path = f"/lbaas/loadbalancers/{lb_id}"
        self._write(f"update load balancer {lb_id}", LB, "PUT", path, {"loadbalancer": changes})

    def delete_load_balancer(self, lb_id: str) -> None:
        """Delete with cascade: listeners, pools, members and monitors go with it, in one call."""
        path = f"/lbaas/loadbalancers/{lb_id}"
        self._write(f"delete load balancer {lb_id}", LB, "DELETE", path, params={"cascade": "true"})

    def create_listener(self, body: JSON) -> str:
        made = self._write("create listener", LB, "POST", "/lbaas/listeners", {"listener": body})
        return str(made["listener"]["id"])

    def update_listener(self, listener_id: str, changes: JSON) -> None:
        path = f"/lbaas/listeners/{listener_id}"
        self._write(f"update listener {listener_id}", LB, "PUT", path, {"listener": changes})

    def delete_listener(self, listener_id: str) -> None:
        self._write(f"delete listener {listener_id}", LB, "DELETE", f"/lbaas/listeners/{listener_id}")

    def create_pool(self, body: JSON) -> str:
        made = self._write("create pool", LB, "POST", "/lbaas/pools", {"pool": body})
        return str(made["pool"]["id"])

    def update_pool(self, pool_id: str, changes: JSON) -> None:
        self._write(f"update pool {pool_id}", LB, "PUT", f"/lbaas/pools/{pool_id}", {"pool": changes})

    def delete_pool(self, pool_id: str) -> None:
        """Its members and monitor go with it."""
        self._write(f"delete pool {pool_id}", LB, "DELETE", f"/lbaas/pools/{pool_id}")

    def create_monitor(self, body: JSON) -> str:
        made = self._write("create health monitor", LB, "POST", "/lbaas/healthmonitors", {"healthmonitor": body})
        return str(made["healthmonitor"]["id"])

    def update_monitor(self, monitor_id: str, changes: JSON) -> None:
        path = f"/lbaas/healthmonitors/{monitor_id}"
        self._write(f"update health monitor {monitor_id}", LB, "PUT", path, {"healthmonitor": changes})

    def delete_monitor(self, monitor_id: str) -> None:
        path = f"/lbaas/healthmonitors/{monitor_id}"
        self._write(f"delete health monitor {monitor_id}", LB, "DELETE", path)

    def put_members(self, pool_id: str, members: Iterable[Member]) -> None:
        """Octavia's batch member update: the pool's members become exactly ``members``, in one call."""
        body = {"members": [m.body() for m in sorted(members)]}
        self._write(f"update members of pool {pool_id}", LB, "PUT", f"/lbaas/pools/{pool_id}/members", body)

    def clear_monitor_port(self, pool_id: str, member_id: str) -> None:
        """The batch update keeps a field it is not given, so unsetting ``monitor_port`` takes a member PUT."""
        path = f"/lbaas/pools/{pool_id}/members/{member_id}"
        self._write(f"update member {member_id}", LB, "PUT", path, {"member": {"monitor_port": None}})

    # --- waiting -----------------------------------------------------------------------------------------------

    def wait_active(self, lb_id: str, label: str) -> LoadBalancerRecord:
        """Poll until the load balancer leaves PENDING_* after a write; ERROR is a ``PermanentError`` naming it."""

        def settled() -> LoadBalancerRecord | None:
            lb = self.load_balancer(lb_id)
            if lb is None:
                raise TemporaryError(f"load balancer {label} disappeared while cloudlb waited for it")
            return None if lb.pending else lb

        try:
            return self._wait(_after_write(settled), f"load balancer {label}", fail=True)
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

        found = self._wait(settled, f"load balancer {label}", fail=False)
        return found if isinstance(found, LoadBalancerRecord) else None

    def wait_deleted(self, lb_id: str, label: str) -> None:
        """Poll until the load balancer is gone."""

        def gone() -> LoadBalancerRecord | bool | None:
            lb = self.load_balancer(lb_id)
            if lb is None:
                return True
            return lb if lb.provisioning_status == ERROR else None

        try:
            self._wait(_after_write(gone), f"deletion of load balancer {label}", fail=True)
        except PermanentError as exc:
            raise PermanentError(f"load balancer {label} went to ERROR while being deleted") from exc

    def _wait(self, predicate: Callable[[], T | None], description: str, *, fail: bool) -> T:
        def failed(value: object) -> bool:
            return fail and isinstance(value, LoadBalancerRecord) and value.provisioning_status == ERROR

        return wait_for(
            predicate,
            timeout=self.config.wait_timeout,
            description=description,
            backoff=self.config.wait_backoff,
            fail=failed,
        )

    # --- Neutron -----------------------------------------------------------------------------------------------

    def floating_ips(self, *, tags: Mapping[str, str] | None = None, **filters: str) -> list[FloatingIPRecord]:
        """Floating IPs carrying every one of ``tags`` and matching Neutron ``filters`` (``port_id=``,
        ``floating_ip_address=``)."""
        params: JSON = dict(filters)
        if tags is not None:
            params["tags"] = ",".join(tags_to_strings(tags))
        found = self._list("list floating IPs", NET, "/floatingips", "floatingips", params)
        return [floating_ip_record(item) for item in found]

    def create_floating_ip(
        self, network_id: str, *, port_id: str, address: str | None, tags: Mapping[str, str]
    ) -> FloatingIPRecord:
        """Allocate and attach in one call, tagged at creation, so a lost answer still leaves it findable."""
        body: JSON = {"floating_network_id": network_id, "port_id": port_id, "tags": tags_to_strings(tags)}
        if address is not None:
            body["floating_ip_address"] = address
        made = self._write("create floating IP", NET, "POST", "/floatingips", {"floatingip": body})
        return floating_ip_record(made["floatingip"])

    def associate_floating_ip(self, fip_id: str, port_id: str | None) -> None:
        """Point the floating IP at ``port_id``; None detaches it."""
        body = {"floatingip": {"port_id": port_id}}
        self._write(f"update floating IP {fip_id}", NET, "PUT", f"/floatingips/{fip_id}", body)

    def set_floating_ip_tags(self, fip_id: str, tags: Mapping[str, str]) -> None:
        body = {"tags": tags_to_strings(tags)}
        self._write(f"tag floating IP {fip_id}", NET, "PUT", f"/floatingips/{fip_id}/tags", body)

    def delete_floating_ip(self, fip_id: str) -> None:
        self._write(f"delete floating IP {fip_id}", NET, "DELETE", f"/floatingips/{fip_id}")

    def external_networks(self) -> list[str]:
        found = self._list("list external networks", NET, "/networks", "networks", {"router:external": "true"})
        return sorted(str(n["id"]) for n in found)


LB, NET = "load_balancer", "network"  # the connection's attribute for each service's adapter


def _after_write(predicate: Callable[[], T | None]) -> Callable[[], T | None]:
    """``predicate``, except that the first check is a wait: right after a write Octavia is always PENDING_*, so
    asking at once would cost a call and tell nothing."""
    asked = False

    def check() -> T | None:
        nonlocal asked
        if not asked:
            asked = True
            return None
        return predicate()

    return check


def _translated(what: str, fn: Callable[[], T]) -> T:
    """Run one request, raising cloudlb's errors in place of openstacksdk's and keystoneauth's."""
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
    except ValueError as exc:  # an answer that is not JSON: a proxy's error page, a cut-off body
        raise TemporaryError(f"{what}: unreadable answer: {exc}") from exc


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
