"""A small typed client for the local cloud's JSON API (see API.md beside this file).

Where this sits: ``LocalProvider`` plans and applies through this client; it is to the local provider what boto3 is
to the AWS one. It speaks HTTP/1.1 with the stdlib only, finds the daemon through ``DIR/api.json`` on first use
(never at construction, so building a provider cannot fail for a daemon that is not running yet), and turns the
API's error answers into cloudlb's error hierarchy, so the provider never sees an HTTP status code.

Only reads are retried here. A write that failed half-way is retried by the provider, which observes again first
and so never creates a second load balancer for one Service.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cloudlb.errors import (
    CloudLBError,
    ConfigError,
    ConflictError,
    NotFoundError,
    PermanentError,
    ProviderError,
    TemporaryError,
)
from cloudlb.retry import Backoff, retry_call

__all__ = ["DEFAULT_STATE_DIR", "JSON", "LocalClient", "default_state_dir"]

JSON = dict[str, Any]

DEFAULT_STATE_DIR = Path("~/.local/state/cloudlb")
STATE_DIR_ENV = "CLOUDLB_STATE_DIR"

# Reads are retried over a few seconds: long enough to ride out a busy daemon, short enough for a CLI.
READ_BACKOFF = Backoff(initial=0.1, factor=2.0, max_delay=2.0, max_attempts=5, deadline=10.0)


def default_state_dir() -> Path:
    """``$CLOUDLB_STATE_DIR``, else ``~/.local/state/cloudlb`` (the same default as ``cloudlb serve``)."""
    return Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR).expanduser()


class LocalClient:
    """One method per API endpoint. Answers are the API's JSON objects, unchanged.

    ``api_url`` and ``token`` override what ``DIR/api.json`` says. When the URL came from that file and the daemon
    refuses the connection, the file is read once more: a restarted daemon may listen on another port.
    """

    def __init__(
        self,
        state_dir: str | Path | None = None,
        *,
        api_url: str | None = None,
        token: str | None = None,
        timeout: float = 10.0,
        read_backoff: Backoff = READ_BACKOFF,
    ) -> None:
        self.state_dir = Path(state_dir).expanduser() if state_dir is not None else default_state_dir()
        self.timeout = timeout
        self.read_backoff = read_backoff
        self._given_url = api_url
        self._given_token = token
        self._endpoint: tuple[str, int, str] | None = None  # host, port, token once discovered

    # --- endpoints -------------------------------------------------------------------------------------------

    def list_load_balancers(self, tags: Mapping[str, str] | None = None) -> list[JSON]:
        query = [("tag", f"{key}={value}") for key, value in (tags or {}).items()]
        answer = self._read("/v1/loadbalancers", query)
        found: list[JSON] = answer["load_balancers"]
        return found

    def get_load_balancer(self, lb_id: str) -> JSON:
        return self._read(f"/v1/loadbalancers/{_quote(lb_id)}")

    def create_load_balancer(self, body: Mapping[str, Any]) -> JSON:
        return self._write("POST", "/v1/loadbalancers", body)

    def patch_load_balancer(
        self, lb_id: str, *, settings: Mapping[str, Any] | None = None, tags: Mapping[str, str] | None = None
    ) -> JSON:
        body: JSON = {}
        if settings is not None:
            body["settings"] = dict(settings)
        if tags is not None:
            body["tags"] = dict(tags)
        return self._write("PATCH", f"/v1/loadbalancers/{_quote(lb_id)}", body)

    def delete_load_balancer(self, lb_id: str) -> None:
        self._request("DELETE", f"/v1/loadbalancers/{_quote(lb_id)}")

    def create_listener(self, lb_id: str, listener: Mapping[str, Any]) -> JSON:
        return self._write("POST", f"/v1/loadbalancers/{_quote(lb_id)}/listeners", listener)

    def rename_listener(self, lb_id: str, key: str, name: str) -> JSON:
        return self._write("PATCH", _listener_path(lb_id, key), {"name": name})

    def delete_listener(self, lb_id: str, key: str) -> JSON:
        return self._write("DELETE", _listener_path(lb_id, key))

    def change_targets(
        self, lb_id: str, key: str, *, add: Iterable[Mapping[str, Any]] = (), remove: Iterable[Mapping[str, Any]] = ()
    ) -> JSON:
        """One targets call: the daemon applies ``add`` before ``remove``, in one step (at most 1,000 in all)."""
        body = {"add": [dict(t) for t in add], "remove": [dict(t) for t in remove]}
        return self._write("POST", f"{_listener_path(lb_id, key)}/targets", body)

    def info(self) -> JSON:
        return self._read("/v1/info")

    # --- transport -------------------------------------------------------------------------------------------

    def _read(self, path: str, query: list[tuple[str, str]] | None = None) -> JSON:
        if query:
            path = f"{path}?{urllib.parse.urlencode(query)}"
        answer = retry_call(self._request, "GET", path, backoff=self.read_backoff)
        if not isinstance(answer, dict):
            raise ProviderError(f"local cloud answered GET {path} with {type(answer).__name__}, not an object")
        return answer

    def _write(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> JSON:
        answer = self._request(method, path, body)
        if not isinstance(answer, dict):
            raise ProviderError(f"local cloud answered {method} {path} with {type(answer).__name__}, not an object")
        return answer

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        try:
            return self._send(method, path, body)
        except ConnectionRefusedError:
            if self._given_url is None and self._endpoint is not None:
                self._endpoint = None  # the daemon may have restarted on another port: look again, once
                try:
                    return self._send(method, path, body)
                except ConnectionRefusedError:
                    pass
            raise ProviderError(self._not_running()) from None

    def _send(self, method: str, path: str, body: Mapping[str, Any] | None) -> Any:
        host, port, token = self._discover()
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            status, raw = response.status, response.read()
            retry_after = response.getheader("Retry-After")
        except ConnectionRefusedError:
            raise
        except (ConnectionError, http.client.HTTPException, TimeoutError) as exc:
            raise TemporaryError(f"local cloud at {host}:{port}: {method} {path} failed: {exc}") from exc
        finally:
            conn.close()
        if status >= 400:
            raise self._error(method, path, status, raw, retry_after)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ProviderError(f"local cloud answered {method} {path} with invalid JSON: {exc}") from exc

    def _error(self, method: str, path: str, status: int, raw: bytes, retry_after: str | None) -> CloudLBError:
        code, message = _error_body(raw, status)
        where = f"{method} {path.split('?')[0]}"
        if status == 401:
            hint = (
                "the token does not match this daemon's; drop the `token` option to use the one in "
                f"{self.state_dir / 'api.json'}"
                if self._given_token is not None
                else f"is {self.state_dir / 'api.json'} from another daemon? restart `cloudlb serve --state-dir "
                f"{self.state_dir}`"
            )
            # A wrong token is a configuration problem, not a cloud failure: exit code 2, and no retry.
            return ConfigError(f"local cloud refused the API token ({message}): {hint}")
        if status == 404:
            return NotFoundError(f"local cloud: {where}: {message}")
        if status == 409:
            return ConflictError(f"local cloud: {where}: {message}")
        if status == 429 or status >= 500:
            return TemporaryError(
                f"local cloud: {where}: {status} {code}: {message}", retry_after=_seconds(retry_after)
            )
        return PermanentError(f"local cloud refused {where}: {message}")

    def _discover(self) -> tuple[str, int, str]:
        if self._endpoint is None:
            url, token = self._given_url, self._given_token
            if url is None or token is None:
                found = self._read_api_json()
                url = url or str(found.get("url") or "")
                token = token if token is not None else str(found.get("token") or "")
            parsed = urllib.parse.urlsplit(url)
            if parsed.scheme != "http" or not parsed.hostname or parsed.port is None:
                raise ConfigError(f"local cloud API url {url!r} is not of the form http://HOST:PORT")
            self._endpoint = (parsed.hostname, parsed.port, token)
        return self._endpoint

    def _read_api_json(self) -> JSON:
        path = self.state_dir / "api.json"
        try:
            found = json.loads(path.read_text())
        except FileNotFoundError:
            raise ProviderError(self._not_running()) from None
        except (OSError, ValueError) as exc:
            raise ProviderError(f"cannot read {path}: {exc}") from exc
        if not isinstance(found, dict) or not found.get("url"):
            raise ProviderError(
                f"{path} does not name the API url; restart `cloudlb serve --state-dir {self.state_dir}`"
            )
        return found

    def _not_running(self) -> str:
        if self._given_url is not None:
            return f"no local cloud answers at {self._given_url}: start one with `cloudlb serve --state-dir DIR`"
        return (
            f"no local cloud is running for state dir {self.state_dir}: "
            f"start one with `cloudlb serve --state-dir {self.state_dir}`"
        )


def _listener_path(lb_id: str, key: str) -> str:
    return f"/v1/loadbalancers/{_quote(lb_id)}/listeners/{_quote(key)}"


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def _error_body(raw: bytes, status: int) -> tuple[str, str]:
    """``(code, message)`` from the API's error JSON, or a fallback when the body is not that shape."""
    try:
        error = json.loads(raw).get("error", {})
        return str(error.get("code", status)), str(error.get("message", "")) or f"HTTP {status}"
    except (ValueError, AttributeError):
        text = raw.decode(errors="replace").strip().splitlines()
        return str(status), (text[0] if text else f"HTTP {status}")


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
