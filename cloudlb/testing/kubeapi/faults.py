"""Fault hooks and the request log of the fake API server.

Where this sits: ``server.py`` asks ``Faults.take`` before serving each request and appends every answer to the
``RequestLog``; tests arm faults and read the log through ``FakeKubeAPI``. Requests are named by their Kubernetes
verb (get, list, watch, create, update, patch, delete, deletecollection), not the HTTP method, because a list and
a watch are both GETs and tests count them apart.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["Fault", "Faults", "RequestLog", "RequestRecord"]


class RequestRecord(NamedTuple):
    verb: str
    path: str  # without the query string
    status: int


@dataclass
class Fault:
    """Answer the next ``times`` requests matching ``verb`` and ``path`` (a regular expression) with ``status``."""

    status: int
    verb: str | None = None
    path: str | None = None
    times: int = 1
    message: str | None = None
    retry_after: int | None = None

    def matches(self, verb: str, path: str) -> bool:
        return (self.verb is None or self.verb == verb) and (
            self.path is None or re.fullmatch(self.path, path) is not None
        )


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        if fault.times < 1:
            raise ValueError("a fault must fire at least once")
        if fault.path is not None:
            re.compile(fault.path)  # a bad pattern fails here, in the test, not later in a server thread
        with self._lock:
            self._armed.append(fault)
        return fault

    def take(self, verb: str, path: str) -> Fault | None:
        """The first armed fault matching this request, which spends one of its ``times``."""
        with self._lock:
            for fault in self._armed:
                if fault.matches(verb, path):
                    fault.times -= 1
                    if fault.times == 0:
                        self._armed.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._armed)


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
