"""``Arm``: the one door to Azure Resource Manager. Every call the provider makes goes through it.

Where this sits: the provider's other modules read and write plain ARM JSON (dicts) through ``get``, ``list``,
``put``, ``put_pool``, ``patch_tags`` and ``delete``; only this module touches ``azure-mgmt-network``. It

- builds the ``NetworkManagementClient`` with azure-identity's ``DefaultAzureCredential`` in production, or the
  fake ARM's static credential when ``use_mock_credential`` is set; the SDK's bearer-token policy stays in place;
- turns the SDK's own retries off, so that call counts are exact and one backoff (``cloudlb.retry``) governs;
- waits on client-side token buckets (core ``RateLimiter``) per kind of call, below ARM's (``RateLimitPolicy``);
- maps SDK errors onto cloudlb's (``raise ... from exc``): 429 to ``ThrottledError`` with its Retry-After, 412 to
  ``StaleEtagError``, 5xx and dropped connections to ``TemporaryError``, 404 to ``NotFoundError``, a public IP
  still in use (400 ``PublicIPAddressCannotBeDeleted``, told apart by its error code) to ``InUseError``, the rest
  to ``PermanentError`` with ARM's code and message;
- retries reads in place, and writes only when ARM refused them before acting (429, or a request never sent).
  Any other failed write surfaces as a ``TemporaryError``: the provider then observes again, so a write whose
  answer was lost is found rather than repeated;
- waits for long-running operations by reading the resource until its ``provisioningState`` settles, with core
  ``wait_for`` (first wait: ARM's poll hint, else ``poll_interval``).
"""

from __future__ import annotations

import ipaddress
import logging
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.network import NetworkManagementClient, models

from cloudlb.errors import (
    ConflictError,
    NotFoundError,
    PermanentError,
    ProviderError,
    TemporaryError,
)
from cloudlb.retry import Backoff, RateLimiter, retry_call, wait_for
from cloudlb_azure.options import AzureOptions

__all__ = ["Arm", "InUseError", "Json", "Kind", "StaleEtagError", "ThrottledError", "map_error"]

log = logging.getLogger("cloudlb.azure")

Json = dict[str, Any]
T = TypeVar("T")

_SETTLED = frozenset({"Succeeded", "Failed", "Canceled"})
_BUSY_CODES = frozenset({"AnotherOperationInProgress", "RetryableError", "OperationNotAllowed"})


class ThrottledError(TemporaryError):
    """ARM refused the call for its rate (429): nothing happened, so repeating it is always safe."""


class UnsentError(TemporaryError):
    """The request never reached ARM (connection refused, DNS): nothing happened."""


class StaleEtagError(TemporaryError):
    """412: the resource changed since it was read. Read it again and redo the change."""


class InUseError(TemporaryError):
    """A resource cannot go while another one uses it (a public IP still attached to a frontend)."""


class Kind:
    """The SDK operation groups, and their models, that the provider uses, by ARM collection name."""

    LOAD_BALANCERS = "loadBalancers"
    PUBLIC_IPS = "publicIPAddresses"
    SECURITY_GROUPS = "networkSecurityGroups"


_OPERATIONS = {
    Kind.LOAD_BALANCERS: ("load_balancers", models.LoadBalancer),
    Kind.PUBLIC_IPS: ("public_ip_addresses", models.PublicIPAddress),
    Kind.SECURITY_GROUPS: ("network_security_groups", models.NetworkSecurityGroup),
}


def _hint(headers: Mapping[str, str]) -> float | None:
    """ARM's wait hint in seconds: ``retry-after-ms``/``x-ms-retry-after-ms`` (milliseconds) or ``Retry-After``."""
    for name, scale in (("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001), ("Retry-After", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return float(value) * scale
            except ValueError:
                continue  # an HTTP date: rare from ARM, and the backoff still applies
    return None


def _retry_after(exc: HttpResponseError) -> float | None:
    headers = getattr(exc.response, "headers", None)
    return _hint(headers) if headers is not None else None


def map_error(exc: Exception, what: str) -> ProviderError:
    """An SDK error as cloudlb's, for the caller to ``raise ... from exc``."""
    if isinstance(exc, ServiceRequestError):
        return UnsentError(f"{what}: request not sent: {exc}")
    if isinstance(exc, ServiceResponseError):
        return TemporaryError(f"{what}: no response: {exc}")
    if not isinstance(exc, HttpResponseError):
        return ProviderError(f"{what}: {exc}")
    status = exc.status_code or 0
    code = exc.error.code if exc.error is not None else None
    message = exc.error.message if exc.error is not None else exc.message
    text = f"{what}: {status} {code or ''}: {message}".replace(":  ", ": ")
    if status == 429:
        return ThrottledError(text, retry_after=_retry_after(exc))
    if status == 412:
        return StaleEtagError(text)
    if status == 404:
        return NotFoundError(text)
    if code == "PublicIPAddressCannotBeDeleted":
        return InUseError(text)
    if (status == 409 and code in _BUSY_CODES) or status >= 500:
        return TemporaryError(text, retry_after=_retry_after(exc))
    if status == 409:
        return ConflictError(text)
    return PermanentError(text)


class RateLimitPolicy(SansIOHTTPPolicy[Any, Any]):
    """Take a token from the bucket of the request's kind (reads, deletes, other writes) before it is sent."""

    def __init__(self, buckets: Mapping[str, RateLimiter | None]) -> None:
        self.buckets = buckets

    def on_request(self, request: PipelineRequest[Any]) -> None:
        method = request.http_request.method.upper()
        kind = "read" if method in ("GET", "HEAD") else "delete" if method == "DELETE" else "write"
        bucket = self.buckets.get(kind)
        if bucket is not None:
            bucket.acquire()


def _is_loopback_http(url: str | None) -> bool:
    parts = urllib.parse.urlsplit(url or "")
    if parts.scheme != "http":
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        return False


def _credential(options: AzureOptions) -> Any:
    if options.use_mock_credential:
        from cloudlb_azure.credentials import FakeArmCredential

        return FakeArmCredential()
    from azure.identity import DefaultAzureCredential  # production only: it reads the environment and metadata

    return DefaultAzureCredential()


class Arm:
    """ARM for one subscription. ``sleep`` is injectable so tests of the retry paths need no real waiting."""

    def __init__(
        self, options: AzureOptions, *, credential: Any = None, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.options = options
        self.sleep = sleep
        self.buckets = {
            kind: RateLimiter(rate, burst, sleep=sleep) if rate is not None else None
            for kind, rate, burst in (
                ("read", options.read_rate_limit, options.read_rate_burst),
                ("write", options.write_rate_limit, options.write_rate_burst),
                ("delete", options.delete_rate_limit, options.delete_rate_burst),
            )
        }
        policies: list[Any] = [RateLimitPolicy(self.buckets)]
        if _is_loopback_http(options.base_url):
            from cloudlb_azure.credentials import LoopbackHttpPolicy  # the fake ARM behind a fault proxy only

            policies.append(LoopbackHttpPolicy())
        self.client = NetworkManagementClient(
            credential if credential is not None else _credential(options),
            options.subscription_id,
            base_url=options.base_url,
            connection_verify=options.ca_bundle or True,
            retry_total=0,
            per_call_policies=policies,
            connection_timeout=options.timeout,
            read_timeout=options.timeout,
        )

    # --- reads: retried in place --------------------------------------------------------------------------------

    def _read(self, what: str, fn: Callable[[], T]) -> T:
        def once() -> T:
            try:
                return fn()
            except (HttpResponseError, ServiceRequestError, ServiceResponseError) as exc:
                raise map_error(exc, what) from exc

        return retry_call(once, backoff=self.options.backoff, retry_on=TemporaryError, sleep=self.sleep)

    def get(self, kind: str, group: str, name: str) -> Json | None:
        """The resource as ARM returns it, or None when it does not exist."""
        operations = getattr(self.client, _OPERATIONS[kind][0])
        try:
            found = self._read(f"GET {kind}/{name}", lambda: operations.get(group, name))
        except NotFoundError:
            return None
        return dict(found.as_dict())

    def get_by_id(self, kind: str, resource_id: str) -> Json | None:
        group, name = parse_id(resource_id)
        return self.get(kind, group, name)

    def list(self, kind: str, group: str) -> list[Json]:
        """Every resource of ``kind`` in ``group`` (all pages); none when the group does not exist."""
        operations = getattr(self.client, _OPERATIONS[kind][0])
        try:
            items = self._read(f"LIST {kind} in {group}", lambda: list(operations.list(group)))
        except NotFoundError:
            return []
        return [dict(item.as_dict()) for item in items]

    # --- writes: retried in place only when ARM did nothing -----------------------------------------------------

    def _write(self, what: str, fn: Callable[[], T]) -> T:
        def once() -> T:
            try:
                return fn()
            except (HttpResponseError, ServiceRequestError, ServiceResponseError) as exc:
                raise map_error(exc, what) from exc

        return retry_call(once, backoff=self.options.backoff, retry_on=(ThrottledError, UnsentError), sleep=self.sleep)

    def put(
        self,
        kind: str,
        group: str,
        name: str,
        body: Mapping[str, Any],
        *,
        if_match: str | None = None,
        create_only: bool = False,
    ) -> Json:
        """Create or replace a resource and wait until it settles; returns it as ARM then shows it. ``if_match``:
        only if unchanged since read (412 otherwise); ``create_only``: only if it does not exist yet."""
        operation, model = _OPERATIONS[kind]
        headers = _conditions(if_match, create_only)
        begin = getattr(self.client, operation).begin_create_or_update
        hint = self._write(
            f"PUT {kind}/{name}",
            lambda: begin(group, name, model(dict(body)), headers=headers, polling=False, cls=_poll_hint).result(),
        )
        return self._settle(kind, group, name, hint)

    def put_pool(self, group: str, lb: str, pool: str, body: Mapping[str, Any], *, if_match: str) -> Json:
        """Replace one backend pool of a balancer (a child write: the balancer's ETag guards it) and wait."""
        begin = self.client.load_balancer_backend_address_pools.begin_create_or_update
        headers = _conditions(if_match, False)
        hint: float | None = self._write(
            f"PUT loadBalancers/{lb}/backendAddressPools/{pool}",
            lambda: cast(
                "float | None",
                begin(
                    group,
                    lb,
                    pool,
                    models.BackendAddressPool(dict(body)),
                    headers=headers,
                    polling=False,
                    cls=_poll_hint,
                ).result(),
            ),
        )
        return self._settle(Kind.LOAD_BALANCERS, group, lb, hint)

    def patch_tags(self, kind: str, group: str, name: str, tags: Mapping[str, str]) -> Json:
        """Replace a resource's tags (synchronous in ARM)."""
        operations = getattr(self.client, _OPERATIONS[kind][0])
        done = self._write(f"PATCH {kind}/{name} tags", lambda: operations.update_tags(group, name, {"tags": tags}))
        return dict(done.as_dict())

    def delete(self, kind: str, group: str, name: str, *, if_match: str | None = None) -> None:
        """Delete a resource and wait until it is gone. Deleting what is already gone succeeds."""
        operations = getattr(self.client, _OPERATIONS[kind][0])
        headers = _conditions(if_match, False)
        hint = self._write(
            f"DELETE {kind}/{name}",
            lambda: operations.begin_delete(group, name, headers=headers, polling=False, cls=_poll_hint).result(),
        )

        def gone() -> bool | None:
            found = self.get(kind, group, name)
            return True if found is None else None

        self._wait(gone, f"{kind}/{name} to be deleted", hint)

    # --- long-running operations --------------------------------------------------------------------------------

    def _settle(self, kind: str, group: str, name: str, hint: float | None) -> Json:
        def settled() -> Json | None:
            found = self.get(kind, group, name)
            if found is None:
                raise NotFoundError(f"{kind}/{name} disappeared while it was being written")
            state = found.get("properties", {}).get("provisioningState", "Succeeded")
            return found if state in _SETTLED else None

        return self._wait(settled, f"{kind}/{name} to be provisioned", hint, fail=_failed)

    def _wait(
        self,
        predicate: Callable[[], T | None],
        description: str,
        hint: float | None,
        *,
        fail: Callable[[T], bool] | None = None,
    ) -> T:
        first = hint if hint is not None else self.options.poll_interval
        backoff = Backoff(
            initial=first, factor=1.5, max_delay=max(first, 10.0), jitter=0.2, max_attempts=None, deadline=None
        )
        return wait_for(
            predicate,
            timeout=self.options.poll_timeout,
            description=description,
            backoff=backoff,
            sleep=self.sleep,
            fail=fail,
        )


def _failed(resource: Json) -> bool:
    return bool(resource.get("properties", {}).get("provisioningState") != "Succeeded")


def _poll_hint(pipeline_response: Any, _deserialized: Any, _headers: Any) -> float | None:
    """The ``cls`` hook of an LRO's first answer: the poll hint it carries, in seconds, if any."""
    return _hint(pipeline_response.http_response.headers)


def _conditions(if_match: str | None, create_only: bool) -> dict[str, str]:
    if if_match is not None:
        return {"If-Match": if_match}
    return {"If-None-Match": "*"} if create_only else {}


def parse_id(resource_id: str) -> tuple[str, str]:
    """(resource group, name) of a top-level resource id."""
    parts = resource_id.strip("/").split("/")
    if len(parts) < 8 or parts[2].lower() != "resourcegroups":
        raise PermanentError(f"not an ARM resource id: {resource_id!r}")
    return parts[3], parts[7]
