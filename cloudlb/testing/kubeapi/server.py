"""``FakeKubeAPI``: a Kubernetes API server on loopback for tests of controllers, cloudlb's and users' own.

Where this sits: the public face of ``cloudlb.testing.kubeapi``. It owns the store, the registry and the HTTP
server thread; writes a kubeconfig the official client (or kubectl) loads; and gives tests direct helpers that
share the server's semantics (``create`` assigns a uid and a resourceVersion, ``delete`` honours finalizers)
without going through HTTP, so seeding state costs no requests in ``requests``.

    with FakeKubeAPI() as api:
        kubernetes.config.load_kube_config(config_file=api.kubeconfig(tmp_path))
        ...
        assert api.count("patch", r"/api/v1/namespaces/default/services/web/status") == 1

It speaks plain HTTP with a static bearer token, so it must only listen on loopback in shared environments.
"""

from __future__ import annotations

import copy
import json
import os
import re
import secrets
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from cloudlb.testing.kubeapi.errors import KubeError
from cloudlb.testing.kubeapi.faults import Fault, Faults, RequestLog, RequestRecord
from cloudlb.testing.kubeapi.handler import KubeHTTPServer, ServerContext
from cloudlb.testing.kubeapi.patch import JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH
from cloudlb.testing.kubeapi.registry import Registry
from cloudlb.testing.kubeapi.resources import find_kind
from cloudlb.testing.kubeapi.store import Store

__all__ = ["FakeKubeAPI"]

_PATCH_TYPES = {"merge": MERGE_PATCH, "strategic": STRATEGIC_MERGE_PATCH, "json": JSON_PATCH}


class FakeKubeAPI:
    """A fake API server serving Services, Nodes, Events, EndpointSlices and Leases over real HTTP.

    ``history`` is how many changes the server remembers for watches (older resourceVersions get 410 Expired);
    ``bookmark_interval`` is how often a watch with ``allowWatchBookmarks`` gets a BOOKMARK; ``max_watch_seconds``
    caps a watch that gave no ``timeoutSeconds``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
        history: int = 10_000,
        bookmark_interval: float = 5.0,
        max_watch_seconds: float = 1800.0,
    ) -> None:
        self.host, self.port = host, port
        self.token = token or secrets.token_urlsafe(24)
        self.store = Store(history)
        self.registry = Registry(self.store)
        self._faults = Faults()
        self._log = RequestLog()
        self._context = ServerContext(
            self.registry, self._faults, self._log, self.token, bookmark_interval, max_watch_seconds
        )
        self._httpd: KubeHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the fake API server is not running; call start() first")
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeKubeAPI:
        if self._httpd is not None:
            return self
        self.store.closed = False  # a server restarted after stop() serves watches again
        self._httpd = KubeHTTPServer((self.host, self.port), self._context)
        self.port = self._httpd.server_address[1]
        self._context.address = f"{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-kube-api-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self.store.close()  # ends every watch stream
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FakeKubeAPI:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def kubeconfig(self, path: str | os.PathLike[str], *, namespace: str = "default", context: str = "fake") -> str:
        """Write a kubeconfig for this server at ``path`` (or ``path/kubeconfig`` for a directory); its path.

        The file holds the bearer token, so it is created readable by its owner only. JSON is valid YAML, and both
        the official client and kubectl read it.
        """
        target = Path(path)
        if target.is_dir():
            target = target / "kubeconfig"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {"token": self.token}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}],
            "current-context": context,
            "preferences": {},
        }
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(config, handle, indent=2)
        return str(target)

    # -- direct helpers: the server's own semantics, no HTTP, not logged

    @property
    def resource_version(self) -> str:
        """The current global resourceVersion (the last write's)."""
        return str(self.store.revision)

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create ``obj`` as a POST would (its kind and apiVersion pick the resource); the stored object."""
        rt = find_kind(obj["kind"], obj.get("apiVersion"))
        namespace = ((obj.get("metadata") or {}).get("namespace") or "default") if rt.namespaced else None
        return copy.deepcopy(self.registry.create(rt, namespace, obj))

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The object, or None when there is none. ``kind`` is "Service", "services", "svc", ..."""
        rt = find_kind(kind)
        try:
            return copy.deepcopy(self.registry.get(rt, namespace, name))
        except KubeError as exc:
            if exc.code == 404:
                return None
            raise

    def replace(self, obj: dict[str, Any], *, subresource: str | None = None) -> dict[str, Any]:
        """Update ``obj`` as a PUT would: 409 Conflict when its resourceVersion is stale."""
        rt = find_kind(obj["kind"], obj.get("apiVersion"))
        meta = obj["metadata"]
        result = self.registry.update(rt, meta.get("namespace"), meta["name"], obj, subresource=subresource)
        return copy.deepcopy(result)

    def patch(
        self,
        kind: str,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        patch_type: str = "merge",
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Patch as a PATCH would; ``patch_type`` is "merge", "strategic" or "json"."""
        rt = find_kind(kind)
        body = json.dumps(patch).encode()
        result = self.registry.patch(rt, namespace, name, _PATCH_TYPES[patch_type], body, subresource=subresource)
        return copy.deepcopy(result)

    def delete(self, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
        """Delete as a DELETE would: an object with finalizers only gets its deletionTimestamp."""
        return copy.deepcopy(self.registry.delete(find_kind(kind), namespace, name, None))

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every object of ``kind`` (in ``namespace`` if given), ordered by namespace and name."""
        rt = find_kind(kind)
        listed = self.registry.list(rt, namespace, {})
        return [{"kind": rt.kind, "apiVersion": rt.api_version, **copy.deepcopy(item)} for item in listed["items"]]

    def compact(self) -> None:
        """Forget the change history: any watch or list continuation from an older resourceVersion gets 410."""
        self.store.compact()

    # -- the request log and faults

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request served so far, as (verb, path, status), oldest first (a copy)."""
        return self._log.snapshot()

    def clear_requests(self) -> None:
        self._log.clear()

    def count(self, verb: str | None = None, path: str | None = None) -> int:
        """How many requests had this Kubernetes verb and a path matching the regular expression ``path``."""
        return sum(
            1
            for record in self._log.snapshot()
            if (verb is None or record.verb == verb) and (path is None or re.fullmatch(path, record.path))
        )

    def fail(
        self,
        status: int,
        *,
        verb: str | None = None,
        path: str | None = None,
        times: int = 1,
        message: str | None = None,
        retry_after: int | None = None,
    ) -> Fault:
        """Answer the next ``times`` requests matching ``verb`` and ``path`` (a regex) with a ``status`` Status.

        A 410 on a watch arrives the way the real server sends it: an ERROR event in a 200 stream.
        """
        return self._faults.add(Fault(status, verb, path, times, message, retry_after))

    def clear_faults(self) -> None:
        self._faults.clear()
