"""Typed, path-aware readers for untrusted manifest dicts.

Where this sits: ``kube.py``, ``targets.py`` and ``annotations.py`` read Services, EndpointSlices and Nodes that
came from YAML, JSON or the API server. Every reader here either returns a value of the promised type or raises
``InvalidSpecError`` naming the field path, so the builders never meet a ``TypeError`` on malformed input.
"""

from __future__ import annotations

import json
import math
import re
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from cloudlb.errors import InvalidSpecError

__all__ = [
    "ADDRESS_FAMILIES",
    "EMPTY_MAP",
    "child",
    "index",
    "opt_bool",
    "opt_int",
    "opt_list",
    "opt_map",
    "opt_str",
    "parse_seconds",
    "port_number",
    "req_str",
    "show",
    "valid_ip",
]

EMPTY_MAP: Mapping[str, Any] = {}

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def child(path: str, key: str) -> str:
    """``spec`` + ``ports`` -> ``spec.ports``; keys that are not identifiers are quoted: ``annotations["a/b"]``."""
    if _IDENT.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def _show(value: object) -> str:
    """A short rendering of a bad value for an error message."""
    if not (isinstance(value, (str, bool, int, float)) or value is None):
        return _type_name(value)
    try:
        text = json.dumps(value)
    except ValueError:  # an int too long to print (sys.int_info.str_digits_check_threshold)
        return _type_name(value)
    return text if len(text) <= 60 else text[:57] + "..."


def opt_map(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    """A nested mapping; missing or null reads as empty, as the API server treats it."""
    value = parent.get(key)
    if value is None:
        return EMPTY_MAP
    if type(value) is not dict and not isinstance(value, Mapping):  # the exact check first: ABC checks are slow
        raise InvalidSpecError(child(path, key), f"must be a mapping, not {_type_name(value)}")
    return value


def opt_list(parent: Mapping[str, Any], key: str, path: str) -> Sequence[Any]:
    value = parent.get(key)
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise InvalidSpecError(child(path, key), f"must be a list, not {_type_name(value)}")
    return value


def opt_str(parent: Mapping[str, Any], key: str, path: str) -> str | None:
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidSpecError(child(path, key), f"must be a string, not {_type_name(value)} ({_show(value)})")
    return value


def req_str(parent: Mapping[str, Any], key: str, path: str) -> str:
    value = opt_str(parent, key, path)
    if not value:
        raise InvalidSpecError(child(path, key), "required")
    return value


def opt_bool(parent: Mapping[str, Any], key: str, path: str) -> bool | None:
    value = parent.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise InvalidSpecError(child(path, key), f"must be true or false, not {_show(value)}")


def opt_int(parent: Mapping[str, Any], key: str, path: str, *, low: int, high: int, what: str = "") -> int | None:
    """An integer field within ``[low, high]``; booleans and floats are refused, as the API server refuses them."""
    value = parent.get(key)
    if value is None:
        return None
    where = child(path, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSpecError(where, f"must be an integer, not {_type_name(value)} ({_show(value)})")
    if not low <= value <= high:
        if what:
            raise InvalidSpecError(where, f"{_show(value)} is not {what}")
        raise InvalidSpecError(where, f"{_show(value)} is out of range {low}..{high}")
    return value


def port_number(parent: Mapping[str, Any], key: str, path: str) -> int | None:
    return opt_int(parent, key, path, low=1, high=65535, what="a port (1..65535)")


def parse_seconds(text: str, path: str) -> float:
    """Positive seconds: ``10``, ``2.5`` or ``10s``."""
    raw = text.strip()
    number = raw[:-1] if raw.endswith("s") else raw
    try:
        value = float(number)
    except ValueError:
        raise InvalidSpecError(path, f"{_show(text)} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise InvalidSpecError(path, f"{_show(text)} must be a positive number of seconds")
    return value


ADDRESS_FAMILIES = {"IPv4": socket.AF_INET, "IPv6": socket.AF_INET6}


def valid_ip(value: object, family: str) -> str | None:
    """The canonical text of ``value`` if it is an address of ``family`` (``IPv4``/``IPv6``), else None.

    ``inet_pton`` is used rather than ``ipaddress`` because it is ~20x faster, and pools of thousands of targets
    are validated on every sync. It refuses leading zeros in IPv4, so an accepted IPv4 string is already canonical.
    """
    if not isinstance(value, str):
        return None
    af = ADDRESS_FAMILIES[family]
    try:
        packed = socket.inet_pton(af, value)
    except (OSError, ValueError):
        return None
    return value if af == socket.AF_INET else socket.inet_ntop(af, packed)


def show(value: object) -> str:
    """Public alias of the short value rendering, for messages built elsewhere."""
    return _show(value)
