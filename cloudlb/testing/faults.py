"""The fault vocabulary of ``FaultProxy``: what to inject (``Fault``), into which requests (``FaultRule``,
``Match``) and what was injected (``ProxyCounts``).

Where this sits: plain data, no I/O; ``cloudlb.testing.faultproxy`` serves it and re-exports every name here. The
only cloud-specific item is ``AWS_QUERY_THROTTLING``, an error body given as data.
"""

from __future__ import annotations

import enum
import re
import urllib.parse
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Self

__all__ = [
    "AWS_QUERY_THROTTLING",
    "Fault",
    "FaultKind",
    "FaultRule",
    "Match",
    "Predicate",
    "ProxiedRequest",
    "ProxyCounts",
]

AWS_QUERY_THROTTLING = (
    b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    b"<RequestId>cloudlb-fault-proxy</RequestId></ErrorResponse>"
)


class FaultKind(enum.StrEnum):
    TOO_MANY_REQUESTS = "too-many-requests"  # 429 with Retry-After
    THROTTLING = "throttling"  # an error status whose body the client's SDK reads as throttling
    SERVER_ERROR = "server-error"  # 5xx
    LATENCY = "latency"  # a delay, then the request goes on (combines with the others)
    RESET = "reset"  # the connection is reset with no answer


@dataclass(frozen=True, slots=True)
class Fault:
    """What the proxy does instead of (or, for latency, before) forwarding. Build one with the class methods."""

    kind: FaultKind
    status: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    delay: float = 0.0

    @classmethod
    def too_many_requests(cls, retry_after: int = 1, *, body: bytes = b"", content_type: str = "text/plain") -> Self:
        headers = (("Retry-After", str(retry_after)), ("Content-Type", content_type))
        return cls(FaultKind.TOO_MANY_REQUESTS, 429, headers, body)

    @classmethod
    def throttling(
        cls, body: bytes = AWS_QUERY_THROTTLING, *, status: int = 400, content_type: str = "text/xml"
    ) -> Self:
        return cls(FaultKind.THROTTLING, status, (("Content-Type", content_type),), body)

    @classmethod
    def server_error(cls, status: int = 503, *, body: bytes = b"", content_type: str = "text/plain") -> Self:
        if not 500 <= status <= 599:
            raise ValueError(f"a server error is a 5xx status, not {status}")
        return cls(FaultKind.SERVER_ERROR, status, (("Content-Type", content_type),), body)

    @classmethod
    def latency(cls, seconds: float) -> Self:
        if seconds < 0:
            raise ValueError(f"latency must not be negative, not {seconds}")
        return cls(FaultKind.LATENCY, delay=seconds)

    @classmethod
    def reset(cls) -> Self:
        return cls(FaultKind.RESET)


@dataclass(frozen=True, slots=True)
class ProxiedRequest:
    """A request as the proxy received it; ``body`` is the payload with any chunked framing removed."""

    method: str
    path: str  # as sent, with the query string
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    @property
    def action(self) -> str | None:
        """The ``Action`` parameter of a query-style API call, from the query string or a form-encoded body."""
        query = urllib.parse.urlsplit(self.path).query
        found = urllib.parse.parse_qs(query).get("Action")
        if not found and "x-www-form-urlencoded" in (self.header("Content-Type") or ""):
            found = urllib.parse.parse_qs(self.body.decode("utf-8", "replace")).get("Action")
        return found[0] if found else None


Predicate = Callable[[ProxiedRequest], bool]


@dataclass(frozen=True, slots=True)
class Match:
    """A predicate over requests; every given field must match. ``path`` is a regular expression searched in the
    path; ``action`` is a name, a collection of names or a test on the name (a request without one never matches).
    """

    method: str | Collection[str] | None = None
    path: str | None = None
    action: str | Collection[str] | Callable[[str], bool] | None = None

    def __call__(self, request: ProxiedRequest) -> bool:
        if self.method is not None and not _matches_name(request.method, self.method, fold=True):
            return False
        if self.path is not None and re.search(self.path, request.path) is None:
            return False
        if self.action is None:
            return True
        action = request.action
        if action is None:
            return False
        return self.action(action) if callable(self.action) else _matches_name(action, self.action, fold=False)


def _matches_name(value: str, wanted: str | Collection[str], *, fold: bool) -> bool:
    names = [wanted] if isinstance(wanted, str) else list(wanted)
    return any(value.upper() == name.upper() if fold else value == name for name in names)


@dataclass(frozen=True, slots=True)
class FaultRule:
    """Inject ``fault`` into requests ``when`` matches (all requests if None): at random with probability ``rate``,
    and always on the ``nth`` matching requests (1-based, counted per rule)."""

    fault: Fault
    rate: float = 0.0
    nth: Collection[int] = ()
    when: Predicate | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, not {self.rate}")
        positions = frozenset(self.nth)
        if any(not isinstance(n, int) or n < 1 for n in positions):
            raise ValueError(f"nth counts matching requests from 1, not {sorted(positions)}")
        object.__setattr__(self, "nth", positions)


@dataclass(frozen=True, slots=True)
class ProxyCounts:
    """A snapshot: requests received, forwarded upstream, failed upstream (answered 502), and faults per kind."""

    received: int = 0
    forwarded: int = 0
    upstream_errors: int = 0
    injected: Mapping[FaultKind, int] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def faults(self) -> int:
        """Requests that got a fault instead of an answer from upstream (latency alone does not count)."""
        return sum(n for kind, n in self.injected.items() if kind is not FaultKind.LATENCY)
