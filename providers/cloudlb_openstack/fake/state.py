"""Everything the fake cloud knows, behind one lock: identities, Octavia and Neutron records, quotas, and the
provisioning state machine.

Where this sits: ``server.py`` holds one ``State`` and takes ``state.lock`` around every request; the service
modules read and write the record dicts here, which hold the real APIs' field names (plus a few internal keys
starting with ``_`` that are never rendered). Tests may read and change it directly, e.g. ``fake.state.set_quota``
or ``fake.state.force_error(lb_id)``.

The state machine is lazy: a write puts the load balancer (and what it touched) into PENDING_* and records a
deadline ``provisioning_delay`` seconds ahead; ``settle()``, run before every request and by ``FakeOpenStack.state``,
completes every operation whose deadline has passed. So polling sees PENDING_* and then ACTIVE, with no timer
thread, and a test that reads the state directly sees what a client would.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloudlb_openstack.fake.common import new_id

__all__ = ["OCTAVIA_QUOTA_KEYS", "Pending", "Project", "State", "Token", "User"]

Record = dict[str, Any]

PENDING_CREATE, PENDING_UPDATE, PENDING_DELETE = "PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE"
ACTIVE, ERROR = "ACTIVE", "ERROR"

# Octavia's quota names, in its API's spelling; -1 is unlimited, as in Octavia's defaults.
OCTAVIA_QUOTA_KEYS = ("load_balancer", "listener", "pool", "member", "health_monitor")
# Octavia resource collection -> quota name
QUOTA_OF = {
    "loadbalancers": "load_balancer",
    "listeners": "listener",
    "pools": "pool",
    "members": "member",
    "healthmonitors": "health_monitor",
    "floatingips": "floatingip",
}
DEFAULT_QUOTAS = {**dict.fromkeys(OCTAVIA_QUOTA_KEYS, -1), "floatingip": 50}

# What a write touched: (collection, id, action); action is "create", "update" or "delete".
Touch = tuple[str, str, str]


@dataclass
class Project:
    id: str
    name: str
    domain_id: str = "default"


@dataclass
class User:
    id: str
    name: str
    password: str
    project_ids: set[str]
    domain_id: str = "default"


@dataclass
class Token:
    id: str
    user_id: str
    project_id: str | None
    methods: list[str]
    issued_at: float
    expires_at: float


@dataclass
class Pending:
    lb_id: str
    deadline: float
    touched: list[Touch] = field(default_factory=list)


class State:
    """The fake cloud's data. Every public method expects ``lock`` held, except ``settle`` and the test hooks,
    which take it themselves (it is re-entrant)."""

    def __init__(
        self,
        *,
        provisioning_delay: float,
        project: str,
        user: str,
        password: str,
        quotas: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lock = threading.RLock()
        self.provisioning_delay = provisioning_delay
        self.clock = clock
        self.domain = {"id": "default", "name": "Default"}
        self.projects: dict[str, Project] = {}
        self.users: dict[str, User] = {}
        self.tokens: dict[str, Token] = {}
        self.token_lifetime = 3600.0
        unknown = set(quotas or {}) - set(DEFAULT_QUOTAS)
        if unknown:
            raise ValueError(f"unknown quota names {sorted(unknown)}; known: {sorted(DEFAULT_QUOTAS)}")
        self.default_quotas = {**DEFAULT_QUOTAS, **(quotas or {})}
        self.quotas: dict[str, dict[str, int]] = {}
        self.loadbalancers: dict[str, Record] = {}
        self.listeners: dict[str, Record] = {}
        self.pools: dict[str, Record] = {}
        self.members: dict[str, Record] = {}
        self.healthmonitors: dict[str, Record] = {}
        self.networks: dict[str, Record] = {}
        self.subnets: dict[str, Record] = {}
        self.ports: dict[str, Record] = {}
        self.floatingips: dict[str, Record] = {}
        self.allocated: dict[str, set[str]] = {}  # subnet id -> addresses in use
        self.flavors: dict[str, Record] = {}
        self.availability_zones: dict[str, Record] = {}
        self.pending: dict[str, Pending] = {}
        self.fail_next: set[str] = set()
        self.router_id = new_id()
        self.admin_project = self.add_project("admin")
        self.project = self.add_project(project)
        self.user = self.add_user(user, password, projects=[self.project.id])

    # identities -----------------------------------------------------------------------------------------------

    def add_project(self, name: str) -> Project:
        with self.lock:
            project = Project(id=new_id().replace("-", ""), name=name)
            self.projects[project.id] = project
            return project

    def add_user(self, name: str, password: str, *, projects: list[str]) -> User:
        with self.lock:
            user = User(id=new_id().replace("-", ""), name=name, password=password, project_ids=set(projects))
            self.users[user.id] = user
            return user

    def project_named(self, name: str) -> Project | None:
        return next((p for p in self.projects.values() if p.name == name), None)

    def revoke_tokens(self) -> None:
        """Test hook: every issued token stops working (clients re-authenticate on the 401)."""
        with self.lock:
            self.tokens.clear()

    # quotas ---------------------------------------------------------------------------------------------------

    def set_quota(self, project_id: str | None = None, **limits: int) -> None:
        """Test hook: ``set_quota(load_balancer=1)`` for the user's project, or another project by id."""
        with self.lock:
            unknown = set(limits) - set(DEFAULT_QUOTAS)
            if unknown:
                raise ValueError(f"unknown quota names {sorted(unknown)}; known: {sorted(DEFAULT_QUOTAS)}")
            self.quotas.setdefault(project_id or self.project.id, {}).update(limits)

    def quota(self, project_id: str) -> dict[str, int]:
        return {**self.default_quotas, **self.quotas.get(project_id, {})}

    def over_quota(self, project_id: str, collection: str, adding: int = 1) -> bool:
        limit = self.quota(project_id)[QUOTA_OF[collection]]
        if limit < 0:
            return False
        used = sum(1 for r in self.collection(collection).values() if r.get("project_id") == project_id)
        return used + adding > limit

    def collection(self, name: str) -> dict[str, Record]:
        table: dict[str, Record] = getattr(self, name)
        return table

    # addresses ------------------------------------------------------------------------------------------------

    def allocate_ip(self, subnet: Record, wanted: str | None = None) -> str | None:
        """The lowest free address in the subnet's allocation pools, or ``wanted`` if it is free; None if not."""
        used = self.allocated.setdefault(subnet["id"], set())
        if wanted is not None:
            if wanted in used:
                return None
            used.add(wanted)
            return wanted
        for pool in subnet["allocation_pools"]:
            start, end = int(ipaddress.ip_address(pool["start"])), int(ipaddress.ip_address(pool["end"]))
            version = ipaddress.ip_address(pool["start"]).version
            for number in range(start, end + 1):
                candidate = str(ipaddress.IPv4Address(number) if version == 4 else ipaddress.IPv6Address(number))
                if candidate not in used:
                    used.add(candidate)
                    return candidate
        return None

    def release_ip(self, subnet_id: str, address: str) -> None:
        self.allocated.get(subnet_id, set()).discard(address)

    # the provisioning state machine ---------------------------------------------------------------------------

    def begin(self, lb_id: str, lb_status: str, touched: Sequence[Touch], parents: Sequence[Touch] = ()) -> None:
        """Start an operation: the LB goes to ``lb_status``, each touched record to PENDING_<action>, and each
        parent (a listener or pool the write passes through) to PENDING_UPDATE, as Octavia locks them."""
        self.loadbalancers[lb_id]["provisioning_status"] = lb_status
        for collection, record_id, action in [*touched, *parents]:
            self.collection(collection)[record_id]["provisioning_status"] = "PENDING_" + action.upper()
        self.pending[lb_id] = Pending(lb_id, self.clock() + self.provisioning_delay, [*touched, *parents])

    def settle(self) -> None:
        """Complete every operation whose delay has passed."""
        with self.lock:
            now = self.clock()
            for lb_id in [k for k, p in self.pending.items() if p.deadline <= now]:
                self._complete(self.pending.pop(lb_id))

    def complete_all(self) -> None:
        """Test hook: complete every pending operation now, whatever its deadline (for deterministic tests that run
        with a long ``provisioning_delay``)."""
        with self.lock:
            for lb_id in list(self.pending):
                self._complete(self.pending.pop(lb_id))

    def _complete(self, op: Pending) -> None:
        failed = op.lb_id in self.fail_next
        self.fail_next.discard(op.lb_id)
        lb = self.loadbalancers.get(op.lb_id)
        if lb is None:
            return
        if lb["provisioning_status"] == PENDING_DELETE and not failed:
            self.remove_loadbalancer(op.lb_id)
            return
        for collection, record_id, action in op.touched:
            record = self.collection(collection).get(record_id)
            if record is None:
                continue
            if action == "delete" and not failed:
                self.remove(collection, record_id)
            else:
                record["provisioning_status"] = ERROR if failed else ACTIVE
        lb["provisioning_status"] = ERROR if failed else ACTIVE
        lb["operating_status"] = "ONLINE" if lb.get("admin_state_up", True) else "OFFLINE"
        # What the health manager would report next: members are ONLINE once their pool has a monitor.
        for collection, record in self.children(op.lb_id):
            if record["provisioning_status"] == ACTIVE:
                record["operating_status"] = self._operating_status(collection, record)

    def _operating_status(self, collection: str, record: Record) -> str:
        if not record.get("admin_state_up", True):
            return "OFFLINE"
        if collection == "members":
            return "ONLINE" if self.pools[record["_pool"]].get("_hm") else "NO_MONITOR"
        return "ONLINE"

    def force_error(self, lb_id: str) -> None:
        """Test hook: the LB (and whatever its current operation touched) goes to ERROR now."""
        with self.lock:
            self.fail_next.add(lb_id)
            self._complete(self.pending.pop(lb_id, Pending(lb_id, 0.0)))

    def fail_next_operation(self, lb_id: str) -> None:
        """Test hook: the LB's current or next operation ends in ERROR instead of ACTIVE."""
        with self.lock:
            self.fail_next.add(lb_id)

    # removal --------------------------------------------------------------------------------------------------

    def remove(self, collection: str, record_id: str) -> None:
        """Drop a record and what cannot exist without it."""
        record = self.collection(collection).pop(record_id, None)
        if record is None:
            return
        if collection == "listeners":
            return
        if collection == "pools":
            for listener in self.listeners.values():
                if listener.get("default_pool_id") == record_id:
                    listener["default_pool_id"] = None
            for member_id in [m["id"] for m in self.members.values() if m["_pool"] == record_id]:
                self.members.pop(member_id)
            if record.get("_hm"):
                self.healthmonitors.pop(record["_hm"], None)
        elif collection == "healthmonitors":
            pool = self.pools.get(record["_pool"])
            if pool is not None:
                pool["_hm"] = None

    def remove_loadbalancer(self, lb_id: str) -> None:
        for pool_id in [p["id"] for p in self.pools.values() if p["_lb"] == lb_id]:
            self.remove("pools", pool_id)
        for listener_id in [item["id"] for item in self.listeners.values() if item["_lb"] == lb_id]:
            self.remove("listeners", listener_id)
        lb = self.loadbalancers.pop(lb_id)
        if lb.get("_owns_vip_port"):
            self.delete_port(lb["vip_port_id"])

    def delete_port(self, port_id: str) -> None:
        """Neutron's port delete: free the addresses and disassociate any floating IP pointing at the port."""
        port = self.ports.pop(port_id, None)
        if port is None:
            return
        for fixed in port["fixed_ips"]:
            self.release_ip(fixed["subnet_id"], fixed["ip_address"])
        for fip in self.floatingips.values():
            if fip["port_id"] == port_id:
                fip.update(port_id=None, fixed_ip_address=None, router_id=None, status="DOWN", port_details=None)

    def children(self, lb_id: str) -> Iterator[tuple[str, Record]]:
        for name in ("listeners", "pools"):
            for record in self.collection(name).values():
                if record["_lb"] == lb_id:
                    yield name, record
        for name in ("members", "healthmonitors"):
            for record in self.collection(name).values():
                if self.pools[record["_pool"]]["_lb"] == lb_id:
                    yield name, record
