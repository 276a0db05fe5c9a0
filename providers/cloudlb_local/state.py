"""The local cloud's records and their SQLite store (``DIR/state.db``).

Where this sits: the daemon (``daemon.py``) opens one ``Store`` at start and loads every load balancer from it; the
API (``cloud.py``) persists each write here *before* it is applied to the data plane, so a daemon killed at any
point restarts with every load balancer on the same address and ports. One row holds one load balancer; settings,
tags and listeners (with their targets and last known status) are JSON columns, because they are always read and
written together and never queried by field.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from cloudlb.model import Algorithm, FrozenDict, HealthCheck, HealthCheckProtocol, Protocol, ProxyProtocol

__all__ = ["Endpoint", "ListenerRecord", "LoadBalancerRecord", "Settings", "Store", "listener_key"]

SCHEMA_VERSION = 1
DEFAULT_HEALTH_CHECK = HealthCheck()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS load_balancers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    tags TEXT NOT NULL,
    address TEXT NOT NULL UNIQUE,
    settings TEXT NOT NULL,
    listeners TEXT NOT NULL,
    revision INTEGER NOT NULL
)
"""


class Endpoint(NamedTuple):
    """A target as the local cloud knows it: an address and a port."""

    ip: str
    port: int

    def sort_key(self) -> tuple[int, int, int]:
        """By address as a number, then port: 127.0.0.3 before 127.0.0.22, IPv4 before IPv6."""
        ip = ipaddress.ip_address(self.ip)
        return (ip.version, int(ip), self.port)


def listener_key(protocol: Protocol, port: int) -> str:
    """A listener's identity in paths and status: ``TCP-80``."""
    return f"{protocol.value}-{port}"


@dataclass(frozen=True, slots=True)
class Settings:
    """Per-load-balancer behaviour, applied to every listener of it."""

    algorithm: Algorithm = Algorithm.ROUND_ROBIN
    health_check: HealthCheck | None = DEFAULT_HEALTH_CHECK
    source_ranges: tuple[str, ...] = ()
    proxy_protocol: ProxyProtocol = ProxyProtocol.NONE
    affinity_timeout: int = 10800

    def to_json(self) -> dict[str, Any]:
        hc = self.health_check
        return {
            "algorithm": self.algorithm.value,
            "health_check": None
            if hc is None
            else {
                "protocol": hc.protocol.value,
                "port": hc.port,
                "path": hc.path,
                "interval": hc.interval,
                "timeout": hc.timeout,
                "healthy_threshold": hc.healthy_threshold,
                "unhealthy_threshold": hc.unhealthy_threshold,
            },
            "source_ranges": list(self.source_ranges),
            "proxy_protocol": self.proxy_protocol.value,
            "affinity_timeout": self.affinity_timeout,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Settings:
        """Read back what ``to_json`` wrote (trusted: it came from our own store or from validated input)."""
        hc = data.get("health_check")
        return cls(
            algorithm=Algorithm(data["algorithm"]),
            health_check=None
            if hc is None
            else HealthCheck(
                protocol=HealthCheckProtocol(hc["protocol"]),
                port=hc["port"],
                path=hc["path"],
                interval=float(hc["interval"]),
                timeout=float(hc["timeout"]),
                healthy_threshold=int(hc["healthy_threshold"]),
                unhealthy_threshold=int(hc["unhealthy_threshold"]),
            ),
            source_ranges=tuple(data["source_ranges"]),
            proxy_protocol=ProxyProtocol(data["proxy_protocol"]),
            affinity_timeout=int(data["affinity_timeout"]),
        )


@dataclass(frozen=True, slots=True)
class ListenerRecord:
    """One port of a load balancer and its targets. ``error`` is the data plane's last word on binding it."""

    name: str
    protocol: Protocol
    port: int
    targets: frozenset[Endpoint] = frozenset()
    error: str | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return listener_key(self.protocol, self.port)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "protocol": self.protocol.value,
            "port": self.port,
            "targets": [{"ip": t.ip, "port": t.port} for t in sorted(self.targets, key=Endpoint.sort_key)],
            "status": {"error": self.error},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ListenerRecord:
        status = data.get("status") or {}
        return cls(
            name=data["name"],
            protocol=Protocol(data["protocol"]),
            port=int(data["port"]),
            targets=frozenset(Endpoint(t["ip"], int(t["port"])) for t in data["targets"]),
            error=status.get("error"),
        )


@dataclass(frozen=True, slots=True)
class LoadBalancerRecord:
    """One load balancer. Equality ignores listener status, so "did this write change anything" is ``==``."""

    id: str
    name: str
    tags: FrozenDict
    address: str
    settings: Settings
    listeners: tuple[ListenerRecord, ...]
    revision: int = 1

    def listener(self, key: str) -> ListenerRecord | None:
        return next((lst for lst in self.listeners if lst.key == key), None)

    def with_listeners(self, listeners: Iterable[ListenerRecord]) -> LoadBalancerRecord:
        """Listeners are kept sorted by (protocol, port) so that stored JSON and answers are stable."""
        ordered = tuple(sorted(listeners, key=lambda lst: (lst.protocol.value, lst.port)))
        return replace(self, listeners=ordered)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "tags": dict(self.tags),
            "address": self.address,
            "settings": self.settings.to_json(),
            "listeners": [lst.to_json() for lst in self.listeners],
            "revision": self.revision,
        }


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class Store:
    """Load balancers in SQLite. Every method commits before it returns: the caller may apply the change next.

    WAL keeps readers (``sqlite3 state.db`` while the daemon runs, or tests) from blocking the writer. The daemon
    is the only writer (``daemon.py`` holds a lock file), so no write conflict handling is needed here.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        # Created 0600 before SQLite opens it: SQLite gives its -wal and -shm files the database file's mode.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a write acknowledged to a client survives power loss, not just a process crash.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    def load_all(self) -> list[LoadBalancerRecord]:
        rows = self._db.execute(
            "SELECT id, name, tags, address, settings, listeners, revision FROM load_balancers ORDER BY id"
        ).fetchall()
        return [self._from_row(row) for row in rows]

    def get(self, lb_id: str) -> LoadBalancerRecord | None:
        row = self._db.execute(
            "SELECT id, name, tags, address, settings, listeners, revision FROM load_balancers WHERE id = ?",
            (lb_id,),
        ).fetchone()
        return None if row is None else self._from_row(row)

    def put(self, lb: LoadBalancerRecord) -> None:
        """Insert or replace the whole row."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR REPLACE INTO load_balancers (id, name, tags, address, settings, listeners, revision)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    lb.id,
                    lb.name,
                    _dumps(dict(lb.tags)),
                    lb.address,
                    _dumps(lb.settings.to_json()),
                    _dumps([lst.to_json() for lst in lb.listeners]),
                    lb.revision,
                ),
            )

    def delete(self, lb_id: str) -> bool:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            cursor = self._db.execute("DELETE FROM load_balancers WHERE id = ?", (lb_id,))
        return cursor.rowcount > 0

    @staticmethod
    def _from_row(row: tuple[Any, ...]) -> LoadBalancerRecord:
        lb_id, name, tags, address, settings, listeners, revision = row
        return LoadBalancerRecord(
            id=lb_id,
            name=name,
            tags=FrozenDict(json.loads(tags)),
            address=address,
            settings=Settings.from_json(json.loads(settings)),
            listeners=tuple(ListenerRecord.from_json(item) for item in json.loads(listeners)),
            revision=int(revision),
        )
