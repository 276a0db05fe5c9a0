"""A recorder in front of the fake OpenStack's request handler: what the provider called, and injected crashes.

The conformance harness and the provider's own tests count calls here rather than in ``fake.requests`` because they
need more than the fake logs: the member lists of batch updates (to replay a pool's states), a pause while a test
plants resources of its own, and a failure of the n-th write, before or after it takes effect (a crash, or a lost
answer). Keystone's token requests are not writes to the cloud and are never counted as mutating.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cloudlb_openstack.fake import FakeOpenStack
from cloudlb_openstack.fake.common import Response

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SERVICES = ("/load-balancer/", "/networking/")
_BATCH = re.compile(r"/lbaas/pools/([^/]+)/members$")


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # without the query string
    status: int
    members: frozenset[tuple[str, int]] | None = None  # the body of a batch member update

    @property
    def mutating(self) -> bool:
        return self.method in MUTATING and self.path.startswith(SERVICES)


class Recorder:
    """Wraps ``fake.handle`` (the one entry every HTTP request goes through) for the fake's lifetime."""

    def __init__(self, fake: FakeOpenStack) -> None:
        self.fake = fake
        self._inner = fake.handle
        self._lock = threading.Lock()
        self.calls: list[Call] = []
        self._paused = False
        self._fail_at: tuple[int, bool] | None = None
        self._since_fault = 0
        fake.handle = self._handle  # type: ignore[method-assign]

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Calls made inside are neither counted nor faulted (a test planting resources of its own)."""
        with self._lock:
            self._paused = True
        try:
            yield
        finally:
            with self._lock:
                self._paused = False

    def fail_at(self, n: int, *, after: bool = False) -> None:
        """The n-th write from now fails once with a 400: before it reaches the fake, or ``after`` its effect."""
        with self._lock:
            self._fail_at, self._since_fault = (n, after), 0

    def clear_fault(self) -> None:
        with self._lock:
            self._fail_at = None

    def mutating(self) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.mutating]

    def count(self, method: str | None = None, path: str | None = None, status: int | None = None) -> int:
        with self._lock:
            calls = list(self.calls)
        return sum(
            1
            for c in calls
            if (method is None or c.method == method)
            and (path is None or re.search(path, c.path))
            and (status is None or c.status == status)
        )

    def _handle(self, method: str, raw_path: str, headers: Mapping[str, str], raw_body: bytes) -> Response:
        path = raw_path.split("?", 1)[0]
        write = method in MUTATING and path.startswith(SERVICES)
        with self._lock:
            paused = self._paused
            fault = None
            if write and not paused and self._fail_at is not None:
                self._since_fault += 1
                at, after = self._fail_at
                if self._since_fault == at:
                    self._fail_at, fault = None, after
        if fault is False:
            return _injected(method, path)
        response = self._inner(method, raw_path, headers, raw_body)
        if not paused:
            members = None
            if method == "PUT" and _BATCH.search(path) and response.status < 400:
                body: Any = json.loads(raw_body)
                members = frozenset((m["address"], int(m["protocol_port"])) for m in body["members"])
            with self._lock:
                self.calls.append(Call(method, path, response.status, members))
        return _injected(method, path) if fault is True else response


def _injected(method: str, path: str) -> Response:
    body = {"faultcode": "Client", "faultstring": f"injected failure of {method} {path}", "debuginfo": None}
    return Response(400, body)
