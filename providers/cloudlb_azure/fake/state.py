"""The fake ARM's state: resource groups, stored resources, ETags, long-running operations and address pools.

Where this sits: the HTTP layer hands every request to ``cloudlb_azure.fake.api`` under ``ArmState.lock``; the
validators read other resources through ``find``; tests inspect the state directly (``fake.state.document(...)``
returns exactly what a GET would). Time is injected so provisioning is a pure function of the clock: a write sets
``ready_at`` and a resource reads ``Updating`` until then, ``Succeeded`` after; a delete sets ``gone_at`` and the
resource reads ``Deleting`` until it is swept away. No background thread is involved.
"""

from __future__ import annotations

import ipaddress
import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cloudlb_azure.fake.ids import ResourceRef

__all__ = ["ArmState", "Limits", "Operation", "ResourceGroup", "StoredResource"]

# Public addresses are data only: they are never contacted, so any range will do; these look like Azure's.
_PUBLIC_V4 = ipaddress.IPv4Network("20.40.0.0/14")
_PUBLIC_V6 = ipaddress.IPv6Network("2603:1030:20e::/48")


@dataclass(frozen=True)
class Limits:
    """Azure's published per-resource limits for Standard Load Balancer and NSGs; tests may lower them."""

    frontend_ip_configurations_per_lb: int = 600
    load_balancing_rules_per_lb: int = 1500
    backend_addresses_per_pool: int = 5000
    security_rules_per_nsg: int = 1000


@dataclass
class ResourceGroup:
    name: str
    location: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class StoredResource:
    """One top-level resource as the fake keeps it: the validated request, plus what the service decided.

    ``properties`` holds child collections as lists of ``{"name", "properties"}``; IDs, ETags, provisioning states
    and back-references are added when rendered, so they can never go stale.
    """

    ref: ResourceRef
    location: str
    tags: dict[str, str]
    sku: dict[str, Any] | None
    properties: dict[str, Any]
    etag: str
    ready_at: float
    resource_guid: str = field(default_factory=lambda: str(uuid.uuid4()))
    zones: list[str] | None = None
    gone_at: float | None = None


@dataclass
class Operation:
    """An ``Azure-AsyncOperation``: InProgress until ``done_at``, then ``status``."""

    id: str
    done_at: float
    status: str = "Succeeded"
    started: float = 0.0


class ArmState:
    """Everything the fake ARM knows. Callers hold ``lock`` across a whole request."""

    def __init__(
        self,
        subscription_id: str,
        *,
        lro_delay: float = 0.05,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.subscription_id = subscription_id
        self.lro_delay = lro_delay
        self.limits = limits or Limits()
        self.clock = clock
        self.lock = threading.RLock()
        self.groups: dict[str, ResourceGroup] = {}
        self._resources: dict[tuple[str, str, str], StoredResource] = {}
        self.operations: dict[str, Operation] = {}
        self._v4 = itertools.islice(_PUBLIC_V4.hosts(), 4, None)
        self._v6 = itertools.islice(_PUBLIC_V6.hosts(), 4, None)

    # --- groups -----------------------------------------------------------------------------------------------

    def create_group(self, name: str, location: str = "eastus", tags: dict[str, str] | None = None) -> ResourceGroup:
        with self.lock:
            group = self.groups.get(name.lower())
            if group is None:
                group = self.groups[name.lower()] = ResourceGroup(name, location, dict(tags or {}))
            elif tags is not None:
                group.tags = dict(tags)
            return group

    def group(self, name: str) -> ResourceGroup | None:
        return self.groups.get(name.lower())

    # --- resources --------------------------------------------------------------------------------------------

    def find(self, ref: ResourceRef, *, include_deleting: bool = True) -> StoredResource | None:
        """The top-level resource ``ref`` names (its parent, for a child ref), in this subscription."""
        with self.lock:
            self._sweep()
            if ref.subscription.lower() != self.subscription_id.lower():
                return None
            found = self._resources.get(ref.key)
            if found is not None and found.gone_at is not None and not include_deleting:
                return None
            return found

    def all(self, kind: str, group: str | None = None, *, include_deleting: bool = True) -> list[StoredResource]:
        """Resources of ``kind``, in creation order, optionally in one group."""
        with self.lock:
            self._sweep()
            return [
                res
                for (k, g, _), res in self._resources.items()
                if k == kind and (group is None or g == group.lower()) and (include_deleting or res.gone_at is None)
            ]

    def put(self, res: StoredResource) -> None:
        with self.lock:
            self._resources[res.ref.key] = res

    def remove(self, ref: ResourceRef) -> None:
        with self.lock:
            self._resources.pop(ref.key, None)

    def clear(self) -> None:
        """Forget every resource and group (ETags and addresses stay unique across a clear)."""
        with self.lock:
            self._resources.clear()
            self.groups.clear()
            self.operations.clear()

    def _sweep(self) -> None:
        now = self.clock()
        for key, res in list(self._resources.items()):
            if res.gone_at is not None and res.gone_at <= now:
                del self._resources[key]

    # --- provisioning and operations --------------------------------------------------------------------------

    def new_etag(self) -> str:
        return f'W/"{uuid.uuid4()}"'

    def provisioning_state(self, res: StoredResource) -> str:
        if res.gone_at is not None:
            return "Deleting"
        return "Updating" if self.clock() < res.ready_at else "Succeeded"

    def start_operation(self) -> Operation:
        """A new async operation that completes ``lro_delay`` from now, when the resource it tracks does."""
        now = self.clock()
        op = Operation(id=str(uuid.uuid4()), done_at=now + self.lro_delay, started=now)
        with self.lock:
            self.operations[op.id] = op
        return op

    def operation_status(self, op: Operation) -> str:
        return op.status if self.clock() >= op.done_at else "InProgress"

    # --- addresses --------------------------------------------------------------------------------------------

    def allocate_public_ip(self, version: str) -> str:
        with self.lock:
            return str(next(self._v6 if version == "IPv6" else self._v4))

    # --- inspection -------------------------------------------------------------------------------------------

    def document(self, kind: str, group: str, name: str) -> dict[str, Any] | None:
        """The JSON a GET of this resource returns now, or None; for tests that read state without HTTP."""
        from cloudlb_azure.fake.kinds import render  # the kinds import this module

        with self.lock:
            res = self.find(ResourceRef(self.subscription_id, group, kind, name))
            return None if res is None else render(self, res)
