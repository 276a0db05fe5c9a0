"""Every request the controller sends to the API server, through the official ``kubernetes`` client.

Where this sits: the informers list and watch through ``KubeClient``; the reconciler patches Services and their
status; the event recorder writes Events; leader election reads and writes one Lease. Nothing else in the
controller talks to the API server, so ``PERMISSIONS`` below is the whole of the RBAC it needs, and the manifests
in ``examples/deploy/`` are checked against it.

Everything travels as plain JSON dicts (``_preload_content=False``): the client's model objects cost several times
the memory of the JSON they come from and a controller caching 20,000 EndpointSlices cannot afford them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as _config
from kubernetes.watch import watch as _watch

# The client's own helpers carry no annotations.
k8s_config: Any = _config
iter_resp_lines: Any = _watch.iter_resp_lines

__all__ = ["PERMISSIONS", "RESOURCES", "KubeAPIError", "KubeClient", "Permission", "WatchStream"]

JSON = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
# (connect, read) seconds for ordinary calls; a watch's read timeout is set from its own timeoutSeconds.
REQUEST_TIMEOUT = (5.0, 30.0)


@dataclass(frozen=True, slots=True)
class Permission:
    """One RBAC rule the controller needs: ``verbs`` on ``resource`` in ``api_group`` ("" is the core group)."""

    api_group: str
    resource: str
    verbs: tuple[str, ...]
    namespaced_to_lease: bool = False  # granted by a Role in the lease's namespace, not cluster-wide


# Exactly what the methods below call. tests/controller/test_deploy.py holds examples/deploy/rbac.yaml to this, and
# the scenario tests hold the fake API server's request log to it.
PERMISSIONS: tuple[Permission, ...] = (
    Permission("", "services", ("get", "list", "watch", "patch")),
    Permission("", "services/status", ("patch",)),
    Permission("", "nodes", ("list", "watch")),
    Permission("discovery.k8s.io", "endpointslices", ("list", "watch")),
    Permission("", "events", ("create", "patch")),
    Permission("coordination.k8s.io", "leases", ("get", "create", "update"), namespaced_to_lease=True),
)

RESOURCES = ("services", "endpointslices", "nodes")


class KubeAPIError(Exception):
    """A request failed. ``status`` is the HTTP status, or 0 when no answer came (connection refused, timeout)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status = status
        self.reason = reason
        self.message = message
        super().__init__(f"{status} {reason}: {message}" if status else f"{reason}: {message}")

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def gone(self) -> bool:
        return self.status == 410


def _translate(exc: Exception) -> KubeAPIError:
    if isinstance(exc, k8s.ApiException):
        reason, message = str(exc.reason or ""), ""
        body = exc.body
        try:
            status = json.loads(body) if body else {}
            if isinstance(status, dict):
                reason = str(status.get("reason") or reason)
                message = str(status.get("message") or "")
        except ValueError:
            message = str(body)[:200]
        return KubeAPIError(int(exc.status or 0), reason, message)
    return KubeAPIError(0, type(exc).__name__, str(exc))


_TRANSPORT_ERRORS = (k8s.ApiException, urllib3.exceptions.HTTPError, OSError)


def _data(response: Any) -> JSON:
    try:
        doc = json.loads(response.data)
    finally:
        response.release_conn()
    if not isinstance(doc, dict):
        raise KubeAPIError(0, "BadResponse", f"expected a JSON object, got {type(doc).__name__}")
    return doc


class WatchStream:
    """One open watch: iterate for its events (dicts); ``close()`` from any thread ends the iteration."""

    def __init__(self, response: Any) -> None:
        self._response = response

    def __iter__(self) -> Iterator[JSON]:
        try:
            for line in iter_resp_lines(self._response):
                if line:
                    event = json.loads(line)
                    if isinstance(event, dict):
                        yield event
        except _TRANSPORT_ERRORS as exc:
            raise _translate(exc) from exc
        except ValueError as exc:
            raise KubeAPIError(0, "BadWatchEvent", str(exc)) from exc
        finally:
            self._response.release_conn()

    def close(self) -> None:
        # shutdown() unblocks a read in progress in another thread; close() alone would wait for the next chunk.
        shutdown = getattr(self._response, "shutdown", None)
        try:
            if shutdown is not None:
                shutdown()
            self._response.close()
        except (OSError, urllib3.exceptions.HTTPError):
            pass


class KubeClient:
    """The controller's API calls, over one ``kubernetes.client.ApiClient`` (one connection pool)."""

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client
        self.core = k8s.CoreV1Api(api_client)
        self.discovery = k8s.DiscoveryV1Api(api_client)
        self.coordination = k8s.CoordinationV1Api(api_client)

    @classmethod
    def connect(cls, kubeconfig: str | None = None, *, context: str | None = None, pool_size: int = 16) -> KubeClient:
        """From ``kubeconfig`` (or ``$KUBECONFIG``, ``~/.kube/config``), or the Pod's service account in-cluster.

        In a Pod without a kubeconfig the in-cluster config is used, as every controller does.
        """
        configuration = k8s.Configuration()
        in_cluster = kubeconfig is None and not os.environ.get("KUBECONFIG") and "KUBERNETES_SERVICE_HOST" in os.environ
        if in_cluster:
            k8s_config.load_incluster_config(client_configuration=configuration)
        else:
            k8s_config.load_kube_config(
                config_file=kubeconfig, context=context, client_configuration=configuration, persist_config=False
            )
        # Workers, informers, the event recorder and leader election share the pool; the default of 4 would queue.
        configuration.connection_pool_maxsize = pool_size
        # No hidden retries in urllib3: every caller has its own retry loop with backoff (and logs once).
        configuration.retries = False
        return cls(k8s.ApiClient(configuration))

    def close(self) -> None:
        self.api_client.close()

    # -- list and watch (informers)

    def _lister(self, resource: str) -> Any:
        if resource == "services":
            return self.core.list_service_for_all_namespaces
        if resource == "endpointslices":
            return self.discovery.list_endpoint_slice_for_all_namespaces
        if resource == "nodes":
            return self.core.list_node
        raise ValueError(f"the controller does not watch {resource!r}")

    def list(self, resource: str, *, limit: int, continue_token: str | None = None) -> JSON:
        """One page of ``resource`` in all namespaces: ``{"metadata": {"resourceVersion", "continue"}, "items"}``."""
        try:
            response = self._lister(resource)(
                limit=limit, _continue=continue_token, _preload_content=False, _request_timeout=(5.0, 60.0)
            )
        except _TRANSPORT_ERRORS as exc:
            raise _translate(exc) from exc
        return _data(response)

    def watch(self, resource: str, *, resource_version: str, timeout_seconds: int) -> WatchStream:
        """Watch ``resource`` from ``resource_version``, with bookmarks; the server ends it after the timeout."""
        try:
            response = self._lister(resource)(
                watch=True,
                resource_version=resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=timeout_seconds,
                _preload_content=False,
                _request_timeout=(5.0, float(timeout_seconds) + 30.0),
            )
        except _TRANSPORT_ERRORS as exc:
            raise _translate(exc) from exc
        return WatchStream(response)

    # -- Services (reconciler)

    def get_service(self, namespace: str, name: str) -> JSON:
        return self._call(
            self.core.read_namespaced_service, name, namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
        )

    def patch_service(self, namespace: str, name: str, patch: JSON) -> JSON:
        """A JSON merge patch; carry ``metadata.resourceVersion`` in it to make it conditional (409 if stale)."""
        return self._call(self.core.patch_namespaced_service, name, namespace, patch, **_PATCH)

    def patch_service_status(self, namespace: str, name: str, patch: JSON) -> JSON:
        return self._call(self.core.patch_namespaced_service_status, name, namespace, patch, **_PATCH)

    # -- Events (recorder)

    def create_event(self, namespace: str, event: JSON) -> JSON:
        return self._call(
            self.core.create_namespaced_event,
            namespace,
            event,
            _preload_content=False,
            _request_timeout=REQUEST_TIMEOUT,
        )

    def patch_event(self, namespace: str, name: str, patch: JSON) -> JSON:
        return self._call(self.core.patch_namespaced_event, name, namespace, patch, **_PATCH)

    # -- the Lease (leader election)

    def get_lease(self, namespace: str, name: str) -> JSON | None:
        try:
            return self._call(
                self.coordination.read_namespaced_lease,
                name,
                namespace,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except KubeAPIError as exc:
            if exc.not_found:
                return None
            raise

    def create_lease(self, namespace: str, lease: JSON) -> JSON:
        return self._call(
            self.coordination.create_namespaced_lease,
            namespace,
            lease,
            _preload_content=False,
            _request_timeout=REQUEST_TIMEOUT,
        )

    def update_lease(self, namespace: str, name: str, lease: JSON) -> JSON:
        """A PUT: it carries the lease's resourceVersion, so a concurrent writer makes it fail with 409."""
        return self._call(
            self.coordination.replace_namespaced_lease,
            name,
            namespace,
            lease,
            _preload_content=False,
            _request_timeout=REQUEST_TIMEOUT,
        )

    @staticmethod
    def _call(method: Any, *args: Any, **kwargs: Any) -> JSON:
        try:
            response = method(*args, **kwargs)
        except _TRANSPORT_ERRORS as exc:
            raise _translate(exc) from exc
        return _data(response)


_PATCH: dict[str, Any] = {
    "_content_type": MERGE_PATCH,
    "_preload_content": False,
    "_request_timeout": REQUEST_TIMEOUT,
}
