"""One ARM request, and the checks every request meets before routing: bearer authentication, api-version, the
JSON body, and HTTP preconditions on ETags.

Where this sits: ``server`` builds a ``Request`` from HTTP; ``api`` runs these checks and routes it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cloudlb_azure.fake.common import Json
from cloudlb_azure.fake.errors import ArmError, bad_request

__all__ = [
    "Request",
    "api_version",
    "authenticate",
    "json_body",
    "location_name",
    "precondition_failed",
    "preconditions",
]

_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    header: Callable[[str], str | None]  # case-insensitive lookup
    body: bytes
    base_url: str  # scheme://host:port as the client addressed us, or "" when unknown (behind a proxy)


def authenticate(req: Request, token: str | None) -> None:
    value = req.header("Authorization") or ""
    scheme, _, given = value.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
    if token is not None and given.strip() != token:
        raise ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.")


def api_version(req: Request) -> str:
    version = next((v for k, v in req.query.items() if k.lower() == "api-version"), None)
    if not version:
        raise bad_request(
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    if not _API_VERSION.match(version):
        raise bad_request("InvalidApiVersionParameter", f"The api-version '{version}' is invalid.")
    return version


def precondition_failed(what: str) -> ArmError:
    return ArmError(
        412, "PreconditionFailed", f"The condition specified using HTTP conditional header(s) is not met for {what}."
    )


def _etags(value: str) -> set[str]:
    return {part.strip() for part in value.split(",") if part.strip()}


def preconditions(req: Request, etag: str | None, what: str) -> None:
    """``If-Match`` and ``If-None-Match`` against ``etag`` (None: the resource does not exist)."""
    if_match, if_none_match = req.header("If-Match"), req.header("If-None-Match")
    if if_match is not None:
        wanted = _etags(if_match)
        if etag is None or ("*" not in wanted and etag not in wanted):
            raise precondition_failed(what)
    if if_none_match is not None and etag is not None:
        unwanted = _etags(if_none_match)
        if "*" in unwanted or etag in unwanted:
            raise precondition_failed(what)


def json_body(req: Request) -> Json:
    try:
        parsed = json.loads(req.body or b"{}")
    except ValueError:
        raise bad_request(
            "InvalidRequestContent", "The request content was invalid and could not be deserialized."
        ) from None
    if not isinstance(parsed, dict):
        raise bad_request("InvalidRequestContent", "The request content must be a JSON object.")
    return parsed


def location_name(value: str) -> str:
    """ARM answers with the normalized region name: "East US" is "eastus"."""
    return value.replace(" ", "").lower()
