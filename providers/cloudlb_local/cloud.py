"""The local cloud's behaviour: load balancers as records, persisted, then applied to the data plane.

Where this sits: ``api.py`` turns HTTP requests into calls on ``LocalCloud``; ``LocalCloud`` validates them against
the current record (``schema.py``), picks addresses (``addresses.py``), writes the new record to SQLite
(``state.py``) and only then hands the *full* desired set of listeners to the data plane, whose per-listener bind
errors become each listener's ``status.error``. Writes are serialised by one lock so that the data plane always
sees a set that was committed, in commit order. Reads take no lock: they see the last committed record.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Protocol as TypingProtocol

from cloudlb.model import Protocol
from cloudlb_local.addresses import AddressPool, AddressTaken, AddressUnavailable, PoolExhausted
from cloudlb_local.dataplane import Backend, HealthCheckConfig, ListenerConfig
from cloudlb_local.schema import (
    CreateRequest,
    parse_listener,
    parse_listener_patch,
    parse_patch,
    parse_targets_delta,
)
from cloudlb_local.state import ListenerRecord, LoadBalancerRecord, Settings, Store

__all__ = ["CloudError", "DataplaneLike", "LocalCloud", "listener_configs"]

log = logging.getLogger(__name__)

ListenerKey = tuple[str, int, Protocol]  # the data plane's listener identity: (address, port, protocol)


class CloudError(Exception):
    """A refusal the API answers with ``status`` and ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_found(what: str) -> CloudError:
    return CloudError(404, "NotFound", f"{what} not found")


class DataplaneLike(TypingProtocol):
    """The one data plane call the cloud makes while running: converge on this full set of listeners."""

    async def apply(self, listeners: Iterable[ListenerConfig]) -> Mapping[ListenerKey, str | None]: ...


def _health_check(settings: Settings) -> HealthCheckConfig | None:
    hc = settings.health_check
    if hc is None:
        return None
    return HealthCheckConfig(
        protocol=hc.protocol,
        port=hc.port,
        path=hc.path or "/",
        interval=hc.interval,
        timeout=hc.timeout,
        healthy_threshold=hc.healthy_threshold,
        unhealthy_threshold=hc.unhealthy_threshold,
    )


def listener_configs(lb: LoadBalancerRecord) -> list[ListenerConfig]:
    s = lb.settings
    hc = _health_check(s)
    return [
        ListenerConfig(
            lb_id=lb.id,
            address=lb.address,
            port=lst.port,
            protocol=lst.protocol,
            backends=frozenset(Backend(t.ip, t.port) for t in lst.targets),
            algorithm=s.algorithm,
            health_check=hc,
            source_ranges=s.source_ranges,
            proxy_protocol=s.proxy_protocol,
            affinity_timeout=float(s.affinity_timeout),
        )
        for lst in lb.listeners
    ]


class LocalCloud:
    def __init__(self, *, store: Store, pool: AddressPool, dataplane: DataplaneLike) -> None:
        self.store = store
        self.pool = pool
        self._dataplane = dataplane
        self._lbs: dict[str, LoadBalancerRecord] = {lb.id: lb for lb in store.load_all()}
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._lbs)

    # -- reads ---------------------------------------------------------------------------------------------------

    def list(self, tags: Mapping[str, str] | None = None) -> list[LoadBalancerRecord]:
        wanted = dict(tags or {})
        return [
            lb
            for lb in sorted(self._lbs.values(), key=lambda lb: lb.id)
            if all(lb.tags.get(k) == v for k, v in wanted.items())
        ]

    def get(self, lb_id: str) -> LoadBalancerRecord:
        lb = self._lbs.get(lb_id)
        if lb is None:
            raise not_found(f"load balancer {lb_id}")
        return lb

    # -- writes --------------------------------------------------------------------------------------------------

    async def restore(self) -> None:
        """Bring every stored load balancer back on the data plane, as it was before the restart."""
        async with self._lock:
            for lb in self._lbs.values():
                if lb.address not in self.pool:
                    log.warning(
                        "address %s is outside the pool %s; keeping it", lb.address, self.pool, extra={"lb": lb.id}
                    )
            log.info("restoring %d load balancers", len(self._lbs))
            await self._apply()

    async def create(self, request: CreateRequest) -> LoadBalancerRecord:
        async with self._lock:
            in_use = [lb.address for lb in self._lbs.values()]
            try:
                address = self.pool.allocate(in_use, request.address)
            except AddressTaken as exc:
                raise CloudError(409, "Conflict", str(exc)) from None
            except AddressUnavailable as exc:
                raise CloudError(422, "AddressUnavailable", str(exc)) from None
            except PoolExhausted as exc:
                raise CloudError(409, "Conflict", str(exc)) from None
            lb_id = self._new_id()
            lb = LoadBalancerRecord(
                id=lb_id,
                name=request.name,
                tags=request.tags,
                address=address,
                settings=request.settings,
                listeners=(),
            ).with_listeners(request.listeners)
            log.info("creating load balancer %s on %s", lb.name, address, extra={"lb": lb_id})
            self.store.put(lb)
            self._lbs[lb_id] = lb
            await self._apply()
            log.info("created load balancer %s on %s", lb.name, address, extra={"lb": lb_id})
            return self._lbs[lb_id]

    async def delete(self, lb_id: str) -> None:
        async with self._lock:
            lb = self.get(lb_id)
            log.info("deleting load balancer %s", lb.name, extra={"lb": lb_id})
            self.store.delete(lb_id)
            del self._lbs[lb_id]
            await self._apply()
            log.info("deleted load balancer %s; %s is free", lb.name, lb.address, extra={"lb": lb_id})

    async def patch(self, lb_id: str, body: object) -> LoadBalancerRecord:
        def change(lb: LoadBalancerRecord) -> LoadBalancerRecord:
            settings, tags = parse_patch(body, lb.settings)
            return replace(lb, settings=settings, tags=lb.tags if tags is None else tags)

        return await self._update(lb_id, change, "settings")

    async def add_listener(self, lb_id: str, body: object) -> LoadBalancerRecord:
        listener = parse_listener(body)

        def change(lb: LoadBalancerRecord) -> LoadBalancerRecord:
            if lb.listener(listener.key) is not None:
                raise CloudError(409, "Conflict", f"listener {listener.key} already exists on {lb_id}")
            return lb.with_listeners((*lb.listeners, listener))

        return await self._update(lb_id, change, f"listener {listener.key}")

    async def rename_listener(self, lb_id: str, key: str, body: object) -> LoadBalancerRecord:
        name = parse_listener_patch(body)
        return await self._update_listener(lb_id, key, lambda lst: replace(lst, name=name))

    async def delete_listener(self, lb_id: str, key: str) -> LoadBalancerRecord:
        return await self._update_listener(lb_id, key, lambda lst: None)

    async def change_targets(self, lb_id: str, key: str, body: object) -> LoadBalancerRecord:
        delta = parse_targets_delta(body)
        # Adds before removes, in one data plane step: the new targets take connections as the old ones drain.
        return await self._update_listener(
            lb_id, key, lambda lst: replace(lst, targets=(lst.targets | delta.add) - delta.remove)
        )

    async def _update_listener(
        self, lb_id: str, key: str, change: Callable[[ListenerRecord], ListenerRecord | None]
    ) -> LoadBalancerRecord:
        def change_lb(lb: LoadBalancerRecord) -> LoadBalancerRecord:
            current = lb.listener(key)
            if current is None:
                raise not_found(f"listener {key} of load balancer {lb_id}")
            updated = change(current)
            others = [lst for lst in lb.listeners if lst.key != key]
            return lb.with_listeners(others if updated is None else [*others, updated])

        return await self._update(lb_id, change_lb, f"listener {key}")

    async def _update(
        self, lb_id: str, change: Callable[[LoadBalancerRecord], LoadBalancerRecord], what: str
    ) -> LoadBalancerRecord:
        async with self._lock:
            current = self.get(lb_id)
            updated = change(current)
            if updated == current:
                # Nothing to write: no revision bump, no data plane call. Clients converge by re-sending.
                return current
            updated = replace(updated, revision=current.revision + 1)
            log.info("modifying %s of %s", what, current.name, extra={"lb": lb_id})
            self.store.put(updated)
            self._lbs[lb_id] = updated
            await self._apply()
            log.info("modified %s of %s (revision %d)", what, current.name, updated.revision, extra={"lb": lb_id})
            return self._lbs[lb_id]

    def _new_id(self) -> str:
        while True:
            lb_id = f"lb-{secrets.token_hex(6)}"
            if lb_id not in self._lbs:
                return lb_id

    async def _apply(self) -> None:
        """Give the data plane every listener of every load balancer, and record what it could not serve."""
        configs: dict[ListenerKey, tuple[str, str]] = {}
        wanted: list[ListenerConfig] = []
        for lb in self._lbs.values():
            for config, lst in zip(listener_configs(lb), lb.listeners, strict=True):
                configs[config.key] = (lb.id, lst.key)
                wanted.append(config)
        results = await self._dataplane.apply(wanted)
        errors: dict[str, dict[str, str | None]] = {}
        for key, (lb_id, lst_key) in configs.items():
            errors.setdefault(lb_id, {})[lst_key] = results.get(key)
        for lb_id, by_listener in errors.items():
            self._record_errors(self._lbs[lb_id], by_listener)

    def _record_errors(self, lb: LoadBalancerRecord, errors: Mapping[str, str | None]) -> None:
        if all(lst.error == errors.get(lst.key) for lst in lb.listeners):
            return
        listeners = tuple(replace(lst, error=errors.get(lst.key)) for lst in lb.listeners)
        for lst in listeners:
            if lst.error:
                log.warning("listener not served: %s", lst.error, extra={"lb": lb.id, "listener": lst.key})
        updated = replace(lb, listeners=listeners)
        # Status is observed, not desired: stored so that the file tells the same story, but no revision bump.
        self.store.put(updated)
        self._lbs[lb.id] = updated
