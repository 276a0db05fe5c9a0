"""``AwsClients``: the one door to AWS. Every call the provider makes goes through ``AwsClients.call``.

Where this sits: nlb.py, classic.py and security_groups.py never touch a boto3 client directly; they call
``clients.call("elbv2", "CreateLoadBalancer", **params)`` (the API's own operation names). That one wrapper
- waits on the client-side rate limiter (core ``RateLimiter``; Register/DeregisterTargets have their own bucket,
  as ELBv2 meters them separately),
- records the call in ``CallLog`` (a per-operation counter and the ordered sequence, for tests and benchmarks),
- maps botocore errors onto cloudlb's (``raise ... from exc``): throttling and 5xx to ``TemporaryError``, not found
  to ``NotFoundError``, duplicates and in-use to ``ConflictError``, everything else to ``PermanentError``,
- and retries with core ``retry_call`` and the configured ``Backoff``. A throttled call was refused, so it is
  always retried. A 5xx or a dropped connection may have taken effect, so only calls that are safe to repeat are
  retried in place; a create that fails that way surfaces as ``TemporaryError`` and the provider observes again
  (finding by tags what the lost call made) before it decides anything.
botocore's own retries are off, so the counts are exact and one backoff governs.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import botocore.config  # type: ignore[import-untyped]
import botocore.exceptions  # type: ignore[import-untyped]
import botocore.session  # type: ignore[import-untyped]
from botocore import xform_name

from cloudlb.errors import ConfigError, ConflictError, NotFoundError, PermanentError, ProviderError, TemporaryError
from cloudlb.retry import RateLimiter, retry_call
from cloudlb_aws.options import AwsOptions

__all__ = [
    "MUTATING_PREFIXES",
    "NOT_IDEMPOTENT",
    "SERVICES",
    "TARGET_OPERATIONS",
    "AwsClients",
    "Call",
    "CallLog",
    "ThrottledError",
    "is_mutating",
    "map_error",
]

SERVICES = ("elbv2", "elb", "ec2")
MUTATING_PREFIXES = (
    "Create",
    "Modify",
    "Register",
    "Deregister",
    "Delete",
    "Add",
    "Remove",
    "Set",
    "Authorize",
    "Revoke",
    "Allocate",
    "Release",
    "Associate",
    "Disassociate",
    "Apply",
    "Attach",
    "Detach",
    "Configure",
    "Enable",
    "Disable",
)
# ELBv2 meters these on their own, lower, limit.
TARGET_OPERATIONS = frozenset({"RegisterTargets", "DeregisterTargets"})
# A lost response from one of these may hide a resource it made: the caller observes again instead of repeating it.
NOT_IDEMPOTENT = frozenset(
    {"CreateLoadBalancer", "CreateTargetGroup", "CreateListener", "CreateSecurityGroup", "AllocateAddress"}
)
_THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "EC2ThrottledException",
        "PriorRequestNotComplete",
    }
)
_UNAVAILABLE = frozenset({"InternalFailure", "InternalError", "ServiceUnavailable", "Unavailable"})
_CONFLICT = frozenset({"ResourceInUse", "DependencyViolation", "InvalidGroup.InUse", "IncorrectState"})
_PAGE_TOKENS = {"elbv2": ("Marker", "NextMarker"), "elb": ("Marker", "NextMarker"), "ec2": ("NextToken", "NextToken")}


def is_mutating(operation: str) -> bool:
    """Whether an operation (API name, e.g. ``RegisterTargets``) changes the cloud."""
    return operation.startswith(MUTATING_PREFIXES)


class ThrottledError(TemporaryError):
    """The cloud refused a call for its rate: nothing happened, so repeating it is always safe."""


@dataclass(frozen=True, slots=True)
class Call:
    """One attempt at one API call, as the wrapper sent it. ``error`` is the error code when it failed."""

    service: str
    operation: str
    params: Mapping[str, Any]
    mutating: bool
    error: str | None = None


@dataclass
class CallLog:
    """Every call attempt, counted per operation and kept in order (the last ``limit``). Thread-safe."""

    limit: int = 100_000
    counts: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    calls: collections.deque[Call] = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _total: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.calls = collections.deque(maxlen=self.limit)

    def record(self, call: Call) -> None:
        """Add one attempt."""
        with self._lock:
            self.calls.append(call)
            self.counts[(call.service, call.operation)] += 1
            self._total += 1

    def mark(self) -> int:
        """A position in the log, for ``since``."""
        with self._lock:
            return self._total

    def since(self, mark: int = 0) -> list[Call]:
        """The attempts made after ``mark`` (as far as ``limit`` keeps them), oldest first."""
        with self._lock:
            newer = self._total - mark
            return list(self.calls)[-newer:] if newer > 0 else []

    def count(self, operation: str | None = None, *, service: str | None = None, mutating: bool | None = None) -> int:
        """How many attempts match: by operation name, by service, and/or only the mutating ones."""
        with self._lock:
            items = list(self.counts.items())
        return sum(
            n
            for (svc, op), n in items
            if (operation is None or op == operation)
            and (service is None or svc == service)
            and (mutating is None or is_mutating(op) == mutating)
        )

    def operations(self, mark: int = 0, *, service: str | None = None, mutating: bool | None = None) -> list[str]:
        """The operation names called since ``mark``, in order."""
        return [
            c.operation
            for c in self.since(mark)
            if (service is None or c.service == service) and (mutating is None or c.mutating == mutating)
        ]


def map_error(operation: str, exc: Exception) -> ProviderError:
    """The cloudlb error for a botocore error (the caller raises it ``from exc``)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = f"{operation} failed: {code}: {error.get('Message', '')}".rstrip(": ")
        meta = exc.response.get("ResponseMetadata", {})
        status = int(meta.get("HTTPStatusCode") or 0)
        if code in _THROTTLED or status == 429:
            return ThrottledError(message, retry_after=_retry_after(meta.get("HTTPHeaders") or {}))
        if code in _UNAVAILABLE or status >= 500:
            return TemporaryError(message, retry_after=_retry_after(meta.get("HTTPHeaders") or {}))
        if code.endswith("NotFound") or code.endswith("NotFoundException"):
            return NotFoundError(message)
        if code.startswith("Duplicate") or ".Duplicate" in code or code in _CONFLICT or code.endswith(".InUse"):
            return ConflictError(message)
        return PermanentError(message)
    if isinstance(exc, botocore.exceptions.ParamValidationError):
        return PermanentError(f"{operation} failed: {exc}")
    if isinstance(exc, botocore.exceptions.ConnectionError | botocore.exceptions.HTTPClientError):
        return TemporaryError(f"{operation} failed: {exc}")
    if isinstance(exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.NoRegionError):
        return PermanentError(f"{operation} failed: {exc}")
    return ProviderError(f"{operation} failed: {type(exc).__name__}: {exc}")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class AwsClients:
    """boto3 clients for ``elbv2``, ``elb`` and ``ec2`` in one region, behind the one ``call`` wrapper.

    Building it makes no call and no client: each is made on first use. ``sleep`` and ``clock`` drive the rate
    limiters and the backoff, so tests run on a fake clock. ``log`` counts and orders every attempt.
    """

    def __init__(
        self,
        options: AwsOptions,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self.log = CallLog()
        self.sleep = sleep
        self._config = botocore.config.Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=options.timeout,
            read_timeout=options.timeout,
            user_agent_extra="cloudlb",
        )
        self._clients: dict[str, Any] = {}
        self._general = _limiter(options.rate_limit, options.rate_burst, clock, sleep)
        self._targets = _limiter(options.targets_rate_limit, options.targets_rate_burst, clock, sleep)

    def client(self, service: str) -> Any:
        """The boto3 client for ``service``, made on first use (tests register botocore event hooks on it)."""
        with _SESSION_LOCK:
            found = self._clients.get(service)
            if found is None:
                try:
                    found = _session().create_client(
                        service,
                        region_name=self.options.region,
                        endpoint_url=self.options.endpoint_url,
                        aws_access_key_id=self.options.aws_access_key_id,
                        aws_secret_access_key=self.options.aws_secret_access_key,
                        aws_session_token=self.options.aws_session_token,
                        config=self._config,
                    )
                except botocore.exceptions.NoRegionError as exc:
                    raise ConfigError("no AWS region: set the aws option 'region'") from exc
                self._clients[service] = found
            return found

    @property
    def mutating_operations(self) -> frozenset[str]:
        """Every operation of the three services that changes the cloud (by the prefixes of ``is_mutating``)."""
        names = (op for name in SERVICES for op in self.client(name).meta.service_model.operation_names)
        return frozenset(op for op in names if is_mutating(op))

    def call(self, service: str, operation: str, /, **params: Any) -> dict[str, Any]:
        """Make one API call, e.g. ``call("elbv2", "DescribeTags", ResourceArns=[...])``, rate-limited, counted,
        with errors mapped and retried as the module docstring says."""
        retry_on = ThrottledError if operation in NOT_IDEMPOTENT else TemporaryError
        return retry_call(
            self._attempt,
            service,
            operation,
            params,
            backoff=self.options.backoff,
            retry_on=retry_on,
            sleep=self.sleep,
        )

    def pages(self, service: str, operation: str, /, **params: Any) -> Iterator[dict[str, Any]]:
        """Every page of a paginated Describe call, each fetched through ``call``."""
        token_in, token_out = _PAGE_TOKENS[service]
        while True:
            page = self.call(service, operation, **params)
            yield page
            token = page.get(token_out)
            if not token:
                return
            params = {**params, token_in: token}

    def _attempt(self, service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        limiter = self._targets if operation in TARGET_OPERATIONS else self._general
        if limiter is not None:
            limiter.acquire()
        method = getattr(self.client(service), xform_name(operation))
        mutating = is_mutating(operation)
        try:
            answer: dict[str, Any] = method(**params)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            error = map_error(operation, exc)
            code = exc.response.get("Error", {}).get("Code") if hasattr(exc, "response") else type(exc).__name__
            self.log.record(Call(service, operation, params, mutating, str(code)))
            raise error from exc
        self.log.record(Call(service, operation, params, mutating))
        return answer


# One botocore session for every provider in the process: it caches the service models and client classes, which
# take seconds to build (EC2's especially). Each client gets the options' region and credentials; the session only
# supplies boto3's usual defaults (environment, profile) for those left unset.
_SESSION_LOCK = threading.Lock()
_SESSION: botocore.session.Session | None = None


def _session() -> botocore.session.Session:
    global _SESSION
    if _SESSION is None:
        _SESSION = botocore.session.Session()
    return _SESSION


def _limiter(
    rate: float | None, burst: float, clock: Callable[[], float], sleep: Callable[[float], None]
) -> RateLimiter | None:
    return None if rate is None else RateLimiter(rate, burst, clock=clock, sleep=sleep)
