"""Field readers shared by the fake's resource validators; each failure is ARM's 400 naming the property path.

Where this sits: ``loadbalancers``, ``publicips``, ``nsgs`` and ``vnets`` read request bodies only through these,
so a wrong type or value anywhere answers like ARM does (``InvalidRequestFormat`` with the path) instead of a
Python exception. ARM accepts enum values in any case and answers with its own spelling; so do these.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from cloudlb_azure.fake.errors import ArmError, bad_request
from cloudlb_azure.fake.ids import check_name

__all__ = [
    "boolean",
    "children",
    "enum",
    "integer",
    "ip_address",
    "lookup",
    "mapping",
    "network",
    "optional_string",
    "ref_id",
    "string_list",
    "tags",
]

Json = dict[str, Any]


def _format(where: str, problem: str) -> ArmError:
    return bad_request("InvalidRequestFormat", f"Cannot parse the request: {where} {problem}.")


def mapping(value: object, where: str) -> Json:
    """A JSON object, or {} for null/absent."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _format(where, "must be a JSON object")
    return value


def enum(value: object, allowed: Sequence[str], where: str, default: str | None = None) -> str:
    if value is None:
        if default is None:
            raise _format(where, f"is required (one of {', '.join(allowed)})")
        return default
    if isinstance(value, str):
        for choice in allowed:
            if choice.lower() == value.lower():
                return choice
    raise _format(where, f"has the invalid value {value!r} (one of {', '.join(allowed)})")


def integer(value: object, where: str, low: int, high: int, default: int | None = None) -> int:
    if value is None:
        if default is None:
            raise _format(where, "is required")
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise _format(where, "must be an integer")
    if not low <= value <= high:
        raise bad_request("InvalidParameterValue", f"{where} is {value}; it must be between {low} and {high}.")
    return value


def boolean(value: object, where: str, default: bool = False) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _format(where, "must be true or false")
    return value


def optional_string(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _format(where, "must be a string")
    return value


def string_list(value: object, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _format(where, "must be a list of strings")
    return list(value)


def ref_id(value: object, where: str) -> str | None:
    """The ``id`` of a ``{"id": ...}`` sub-resource reference, or None when absent."""
    if value is None:
        return None
    found = mapping(value, where).get("id")
    if found is None:
        return None
    if not isinstance(found, str) or not found:
        raise _format(f"{where}.id", "must be a resource ID")
    return found


def ip_address(value: object, where: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        raise bad_request("InvalidIPAddress", f"{where}: {value!r} is not a valid IP address.") from None


def network(value: object, where: str, code: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A CIDR in canonical form (no host bits), as ARM requires of address prefixes."""
    try:
        return ipaddress.ip_network(str(value), strict=True)
    except ValueError:
        raise bad_request(code, f"{where}: {value!r} is not a valid address prefix.") from None


def children(value: object, where: str, what: str) -> list[Json]:
    """A child collection: a list of ``{"name", "properties"}`` with valid names unique regardless of case."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _format(where, "must be a list")
    seen: dict[str, str] = {}
    out: list[Json] = []
    for i, raw in enumerate(value):
        item = mapping(raw, f"{where}[{i}]")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise _format(f"{where}[{i}].name", "is required")
        check_name(name, what)
        if name.lower() in seen:
            raise bad_request(
                "DuplicateResourceName", f"{where} has two entries named {seen[name.lower()]!r} and {name!r}."
            )
        seen[name.lower()] = name
        entry: Json = {"name": name, "properties": dict(mapping(item.get("properties"), f"{where}[{i}].properties"))}
        if item.get("zones") is not None:
            entry["zones"] = string_list(item.get("zones"), f"{where}[{i}].zones")
        out.append(entry)
    return out


_TAG_FORBIDDEN = set("<>%&\\?/")


def tags(value: object) -> dict[str, str]:
    """Resource tags with ARM's limits: 50 per resource, names up to 512 characters, values up to 256."""
    found = mapping(value, "tags")
    if len(found) > 50:
        raise bad_request("InvalidTag", f"A resource can have at most 50 tags; the request has {len(found)}.")
    for key, val in found.items():
        if not isinstance(val, str):
            raise _format(f"tags[{key!r}]", "must be a string")
        if _TAG_FORBIDDEN & set(key):
            raise bad_request("InvalidTagNameCharacters", f"The tag name {key!r} has characters that are not allowed.")
        if not key or len(key) > 512 or len(val) > 256:
            raise bad_request("InvalidTag", f"The tag {key!r} is too long (names up to 512, values up to 256).")
    return dict(found)


def lookup(items: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    """The entry of a child collection called ``name``, regardless of case."""
    return next((item for item in items if str(item["name"]).lower() == name.lower()), None)
