"""The local cloud's HTTP API (see API.md): an aiohttp application over ``LocalCloud``.

Where this sits: ``daemon.py`` builds this application and serves it on loopback; the local provider's client
(``client.py``) is its caller. This module only speaks HTTP: it checks the bearer token, counts every ``/v1``
call (``GET /v1/info`` and ``cloudlb_api_requests_total``, which is how tests count the local cloud's API calls),
decodes bodies and turns refusals into ``{"error": {"code", "message"}}`` answers. What a call means is
``cloud.py``'s business.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from cloudlb.errors import InvalidSpecError
from cloudlb_local.cloud import CloudError, LocalCloud
from cloudlb_local.dataplane import METRICS_CONTENT_TYPE, render_metrics
from cloudlb_local.schema import parse_create
from cloudlb_local.state import LoadBalancerRecord

__all__ = ["create_app"]

log = logging.getLogger(__name__)

COUNTED_METHODS = ("GET", "POST", "PATCH", "DELETE")
MUTATING = frozenset({"POST", "PATCH", "DELETE", "PUT"})
MAX_BODY = 16 * 1024 * 1024  # a load balancer created with many thousands of targets still fits

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CLOUD: web.AppKey[LocalCloud] = web.AppKey("cloud", LocalCloud)
CALLS: web.AppKey[dict[str, int]] = web.AppKey("calls", dict[str, int])

_CODES = {400: "InvalidRequest", 401: "Unauthorized", 404: "NotFound", 405: "MethodNotAllowed", 413: "InvalidRequest"}


def _version() -> str:
    try:
        return metadata.version("cloudlb")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _make_middleware(token: str, requests_total: Counter) -> Any:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if request.path == "/v1" or request.path.startswith("/v1/"):
                given = request.headers.get("Authorization", "").encode()
                if not hmac.compare_digest(given, expected):
                    log.warning("refused %s %s: bad or missing token", request.method, request.path)
                    return error_response(401, "Unauthorized", "missing or wrong bearer token")
                method = request.method
                if method in COUNTED_METHODS:
                    request.app[CALLS][method] += 1
                requests_total.labels(method=method, mutating=str(method in MUTATING).lower()).inc()
            return await handler(request)
        except CloudError as exc:
            return error_response(exc.status, exc.code, exc.message)
        except InvalidSpecError as exc:
            return error_response(400, "InvalidRequest", str(exc))
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return error_response(exc.status, _CODES.get(exc.status, f"HTTP{exc.status}"), exc.reason)
        except Exception:
            log.exception("internal error serving %s %s", request.method, request.path)
            return error_response(500, "InternalError", "internal error; see the daemon's log")

    return middleware


async def _body(request: web.Request) -> object:
    raw = await request.read()
    if not raw.strip():
        raise InvalidSpecError("body", "required, a JSON object")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidSpecError("body", f"not valid JSON ({exc})") from None


def _answer(lb: LoadBalancerRecord, status: int = 200) -> web.Response:
    return web.json_response(lb.to_json(), status=status)


def _tag_filter(request: web.Request) -> dict[str, str]:
    wanted: dict[str, str] = {}
    for item in request.query.getall("tag", []):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidSpecError("tag", f"{item!r} is not KEY=VALUE")
        wanted[key] = value
    return wanted


async def list_lbs(request: web.Request) -> web.Response:
    lbs = request.app[CLOUD].list(_tag_filter(request))
    return web.json_response({"load_balancers": [lb.to_json() for lb in lbs]})


async def create_lb(request: web.Request) -> web.Response:
    lb = await request.app[CLOUD].create(parse_create(await _body(request)))
    return _answer(lb, 201)


async def get_lb(request: web.Request) -> web.Response:
    return _answer(request.app[CLOUD].get(request.match_info["lb_id"]))


async def patch_lb(request: web.Request) -> web.Response:
    body = await _body(request)
    return _answer(await request.app[CLOUD].patch(request.match_info["lb_id"], body))


async def delete_lb(request: web.Request) -> web.Response:
    await request.app[CLOUD].delete(request.match_info["lb_id"])
    return web.Response(status=204)


async def add_listener(request: web.Request) -> web.Response:
    body = await _body(request)
    return _answer(await request.app[CLOUD].add_listener(request.match_info["lb_id"], body), 201)


async def patch_listener(request: web.Request) -> web.Response:
    body = await _body(request)
    info = request.match_info
    return _answer(await request.app[CLOUD].rename_listener(info["lb_id"], info["key"], body))


async def delete_listener(request: web.Request) -> web.Response:
    info = request.match_info
    return _answer(await request.app[CLOUD].delete_listener(info["lb_id"], info["key"]))


async def change_targets(request: web.Request) -> web.Response:
    body = await _body(request)
    info = request.match_info
    return _answer(await request.app[CLOUD].change_targets(info["lb_id"], info["key"], body))


async def info(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD]
    return web.json_response(
        {
            "version": _version(),
            "address_pool": str(cloud.pool),
            "load_balancers": len(cloud),
            "calls": request.app[CALLS].copy(),
        }
    )


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def create_app(*, cloud: LocalCloud, token: str, registry: CollectorRegistry) -> web.Application:
    """The API over ``cloud``. ``registry`` is the data plane's, so ``/metrics`` serves both in one answer."""
    requests_total = Counter(
        "cloudlb_api_requests",
        "Requests served by the local cloud's /v1 API.",
        ["method", "mutating"],
        registry=registry,
    )
    for method in COUNTED_METHODS:
        requests_total.labels(method=method, mutating=str(method in MUTATING).lower())

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=render_metrics(registry), headers={"Content-Type": METRICS_CONTENT_TYPE})

    app = web.Application(middlewares=[_make_middleware(token, requests_total)], client_max_size=MAX_BODY)
    app[CLOUD] = cloud
    app[CALLS] = dict.fromkeys(COUNTED_METHODS, 0)
    lb = "/v1/loadbalancers/{lb_id}"
    listener = lb + "/listeners/{key}"
    app.router.add_get("/v1/loadbalancers", list_lbs, allow_head=False)
    app.router.add_post("/v1/loadbalancers", create_lb)
    app.router.add_get(lb, get_lb, allow_head=False)
    app.router.add_patch(lb, patch_lb)
    app.router.add_delete(lb, delete_lb)
    app.router.add_post(lb + "/listeners", add_listener)
    app.router.add_patch(listener, patch_listener)
    app.router.add_delete(listener, delete_listener)
    app.router.add_post(listener + "/targets", change_targets)
    app.router.add_get("/v1/info", info, allow_head=False)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app
