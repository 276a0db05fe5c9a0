"""The request/response types and the listing rules the fake Keystone, Octavia and Neutron share.

Where this sits: ``server.py`` turns each HTTP request into a ``Request`` and each service module answers with a
``Response`` or raises ``Fault``; the services use ``list_response`` for what OpenStack APIs have in common: exact
field filters, the four tag filters, ``fields=`` and ``limit``/``marker`` pages with a ``<key>_links`` next link.
"""

from __future__ import annotations

import datetime
import ipaddress
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

__all__ = [
    "PAGING_PARAMS",
    "TAG_PARAMS",
    "Fault",
    "Request",
    "Response",
    "as_ip",
    "list_response",
    "new_id",
    "now_iso",
    "query_values",
]

Record = dict[str, Any]

TAG_PARAMS = ("tags", "tags-any", "not-tags", "not-tags-any")
PAGING_PARAMS = ("limit", "marker", "page_reverse", "sort", "sort_key", "sort_dir", "fields")


class Fault(Exception):
    """An API error; each service renders ``body`` in its own fault shape before it is raised."""

    def __init__(self, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = dict(body)
        self.headers = dict(headers or {})


@dataclass
class Request:
    method: str
    path: str  # below the service's prefix, e.g. "/v2/lbaas/loadbalancers"
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: Any
    base_url: str  # the URL the client used to reach the fake, without a trailing slash ("http://127.0.0.1:PORT")
    project_id: str = ""  # set once the token is validated
    user_id: str = ""

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def new_id() -> str:
    return str(uuid.uuid4())


def now_iso(*, zulu: bool = False) -> str:
    """Octavia writes timestamps without a zone, Neutron with a trailing Z."""
    stamp = datetime.datetime.now(datetime.UTC).replace(microsecond=0, tzinfo=None).isoformat()
    return stamp + "Z" if zulu else stamp


def as_ip(value: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def query_values(request: Request, name: str) -> list[str]:
    """All values of a comma-separated, possibly repeated, query parameter."""
    return [part for raw in request.query.get(name, []) for part in raw.split(",") if part]


def _value_matches(value: Any, wanted: str) -> bool:
    if isinstance(value, bool):
        return wanted.lower() in ("true", "1") if value else wanted.lower() in ("false", "0")
    if value is None:
        return wanted in ("", "None", "null")
    return str(value) == wanted


def _tags_match(request: Request, tags: Sequence[str]) -> bool:
    have = set(tags)
    all_of, any_of = query_values(request, "tags"), query_values(request, "tags-any")
    not_all, not_any = query_values(request, "not-tags"), query_values(request, "not-tags-any")
    if all_of and not set(all_of) <= have:
        return False
    if any_of and not have & set(any_of):
        return False
    if not_all and set(not_all) <= have:
        return False
    return not (not_any and have & set(not_any))


def list_response(
    request: Request,
    *,
    key: str,
    records: Iterable[Record],
    custom: Mapping[str, Callable[[Record, list[str]], bool]] | None = None,
    link_path: str,
) -> Response:
    """Filter rendered ``records`` by the query and answer ``{key: [...], key_links: [...]}``.

    A repeated parameter matches any of its values (Neutron's rule; Octavia clients send one). ``custom`` holds
    filters that do not compare one field exactly (Neutron's ``fixed_ips``).
    """
    custom = custom or {}
    selected = []
    for record in records:
        if not _tags_match(request, record.get("tags") or []):
            continue
        ok = True
        for name, wanted in request.query.items():
            if name in TAG_PARAMS or name in PAGING_PARAMS:
                continue
            if name in custom:
                ok = custom[name](record, wanted)
            else:
                ok = name in record and any(_value_matches(record[name], w) for w in wanted)
            if not ok:
                break
        if ok:
            selected.append(record)
    if request.arg("page_reverse") in ("true", "True"):
        selected.reverse()
    marker = request.arg("marker")
    if marker is not None:
        ids = [r.get("id") for r in selected]
        selected = selected[ids.index(marker) + 1 :] if marker in ids else []
    links: list[dict[str, str]] = []
    limit_text = request.arg("limit")
    # As Octavia and Neutron do, a full page gets a next link, whether or not more follow.
    if limit_text and limit_text.isdigit() and 0 < int(limit_text) <= len(selected):
        selected = selected[: int(limit_text)]
        params = [(k, v) for k, values in request.query.items() if k != "marker" for v in values]
        params.append(("marker", str(selected[-1]["id"])))
        links.append({"rel": "next", "href": f"{request.base_url}{link_path}?{urlencode(params)}"})
    fields = request.query.get("fields")
    if fields:
        selected = [{k: v for k, v in r.items() if k in fields} for r in selected]
    return Response(200, {key: selected, f"{key}_links": links})
