"""Request bodies of the local cloud's API -> validated records.

Where this sits: ``api.py`` hands each decoded JSON body to one of the ``parse_*`` functions here and turns an
``InvalidSpecError`` into a 400 whose message starts with the field path (``listeners[0].port: 70000 is not a port
(1..65535)``). Nothing reaches the store or the data plane without passing through this module, and unknown fields
are refused rather than ignored, so a client typo is never silently dropped.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from cloudlb.errors import InvalidSpecError
from cloudlb.fields import child, index, opt_int, opt_str, port_number, show
from cloudlb.model import Algorithm, FrozenDict, HealthCheck, HealthCheckProtocol, Protocol, ProxyProtocol
from cloudlb_local.state import Endpoint, ListenerRecord, Settings

__all__ = [
    "MAX_TARGETS_PER_CALL",
    "CreateRequest",
    "TargetsDelta",
    "parse_create",
    "parse_listener",
    "parse_listener_patch",
    "parse_patch",
    "parse_targets_delta",
]

E = TypeVar("E", Algorithm, ProxyProtocol, Protocol, HealthCheckProtocol)

MAX_TARGETS_PER_CALL = 1000
MAX_NAME = 255
PROTOCOLS = (Protocol.TCP, Protocol.UDP)
HEALTH_CHECK_PROTOCOLS = (HealthCheckProtocol.TCP, HealthCheckProtocol.HTTP)


@dataclass(frozen=True, slots=True)
class CreateRequest:
    name: str
    tags: FrozenDict
    address: str | None
    settings: Settings
    listeners: tuple[ListenerRecord, ...]


@dataclass(frozen=True, slots=True)
class TargetsDelta:
    add: frozenset[Endpoint]
    remove: frozenset[Endpoint]


def _object(value: object, path: str, allowed: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidSpecError(path or "body", f"must be a JSON object, not {show(value)}")
    for key in value:
        if key not in allowed:
            raise InvalidSpecError(child(path, str(key)), f"unknown field (known: {', '.join(allowed)})")
    return value


def _list(parent: Mapping[str, Any], key: str, path: str) -> Sequence[Any]:
    value = parent.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidSpecError(child(path, key), f"must be a list, not {show(value)}")
    return value


def _enum_value(parent: Mapping[str, Any], key: str, path: str, choices: Sequence[E], default: E) -> E:
    raw = parent.get(key)
    if raw is None and key not in parent:
        return default
    for choice in choices:
        if raw == choice.value:
            return choice
    known = ", ".join(c.value for c in choices)
    raise InvalidSpecError(child(path, key), f"{show(raw)} is not one of {known}")


def _name(parent: Mapping[str, Any], key: str, path: str, *, required: bool) -> str:
    value = opt_str(parent, key, path)
    if value is None or (required and not value):
        if required or key in parent:
            raise InvalidSpecError(child(path, key), "required, a non-empty string")
        return ""
    if len(value) > MAX_NAME:
        raise InvalidSpecError(child(path, key), f"longer than {MAX_NAME} characters")
    return value


def _tags(parent: Mapping[str, Any], path: str) -> FrozenDict:
    value = parent.get("tags")
    where = child(path, "tags")
    if value is None:
        return FrozenDict()
    if not isinstance(value, Mapping):
        raise InvalidSpecError(where, f"must be a JSON object of strings, not {show(value)}")
    for key, item in value.items():
        if not key or not isinstance(item, str):
            raise InvalidSpecError(child(where, str(key)), f"must be a string, not {show(item)}")
    return FrozenDict(value)


def _seconds(parent: Mapping[str, Any], key: str, path: str, default: float) -> float:
    value = parent.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise InvalidSpecError(child(path, key), f"{show(value)} is not a positive number of seconds")
    return float(value)


def _health_check(value: object, path: str) -> HealthCheck | None:
    if value is None:
        return None
    data = _object(value, path, _HC_FIELDS)
    base = HealthCheck()
    protocol = _enum_value(data, "protocol", path, HEALTH_CHECK_PROTOCOLS, base.protocol)
    hc_path = opt_str(data, "path", path)
    if hc_path is not None and not hc_path.startswith("/"):
        raise InvalidSpecError(child(path, "path"), f"{show(hc_path)} must start with /")
    healthy = opt_int(data, "healthy_threshold", path, low=1, high=100)
    unhealthy = opt_int(data, "unhealthy_threshold", path, low=1, high=100)
    return HealthCheck(
        protocol=protocol,
        port=port_number(data, "port", path),
        path=hc_path,
        interval=_seconds(data, "interval", path, base.interval),
        timeout=_seconds(data, "timeout", path, base.timeout),
        healthy_threshold=base.healthy_threshold if healthy is None else healthy,
        unhealthy_threshold=base.unhealthy_threshold if unhealthy is None else unhealthy,
    )


_HC_FIELDS = ("protocol", "port", "path", "interval", "timeout", "healthy_threshold", "unhealthy_threshold")
_SETTINGS_FIELDS = ("algorithm", "health_check", "source_ranges", "proxy_protocol", "affinity_timeout")


def _source_ranges(parent: Mapping[str, Any], path: str) -> tuple[str, ...]:
    where = child(path, "source_ranges")
    out: list[str] = []
    for i, item in enumerate(_list(parent, "source_ranges", path)):
        try:
            # strict=False: "10.0.0.1/8" means the network around it, as Kubernetes reads loadBalancerSourceRanges.
            net = ipaddress.ip_network(item, strict=False) if isinstance(item, str) else None
        except ValueError:
            net = None
        if net is None:
            raise InvalidSpecError(index(where, i), f"{show(item)} is not a CIDR")
        if str(net) not in out:
            out.append(str(net))
    return tuple(out)


def _affinity_timeout(parent: Mapping[str, Any], path: str, default: int) -> int:
    value = parent.get("affinity_timeout")
    if value is None:
        return default
    integral = isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()
    if not integral or not 1 <= value <= 86400:
        raise InvalidSpecError(child(path, "affinity_timeout"), f"{show(value)} is not a whole number 1..86400")
    return int(value)


def _settings(value: object, path: str, base: Settings) -> Settings:
    """Settings given as a partial object: absent keys keep ``base``'s values."""
    data = _object(value, path, _SETTINGS_FIELDS)
    return Settings(
        algorithm=_enum_value(data, "algorithm", path, tuple(Algorithm), base.algorithm),
        health_check=_health_check(data["health_check"], child(path, "health_check"))
        if "health_check" in data
        else base.health_check,
        source_ranges=_source_ranges(data, path) if "source_ranges" in data else base.source_ranges,
        proxy_protocol=_enum_value(data, "proxy_protocol", path, tuple(ProxyProtocol), base.proxy_protocol),
        affinity_timeout=_affinity_timeout(data, path, base.affinity_timeout),
    )


def _targets(items: Sequence[Any], path: str) -> frozenset[Endpoint]:
    out: set[Endpoint] = set()
    for i, item in enumerate(items):
        where = index(path, i)
        data = _object(item, where, ("ip", "port"))
        raw_ip = data.get("ip")
        try:
            ip = str(ipaddress.ip_address(raw_ip)) if isinstance(raw_ip, str) else None
        except ValueError:
            ip = None
        if ip is None:
            raise InvalidSpecError(child(where, "ip"), f"{show(raw_ip)} is not an IP address")
        port = port_number(data, "port", where)
        if port is None:
            raise InvalidSpecError(child(where, "port"), "required, a port (1..65535)")
        out.add(Endpoint(ip, port))
    return frozenset(out)


def parse_listener(value: object, path: str = "") -> ListenerRecord:
    data = _object(value, path, ("name", "protocol", "port", "targets"))
    if "protocol" not in data:
        raise InvalidSpecError(child(path, "protocol"), "required, one of TCP, UDP")
    protocol = _enum_value(data, "protocol", path, PROTOCOLS, Protocol.TCP)
    port = port_number(data, "port", path)
    if port is None:
        raise InvalidSpecError(child(path, "port"), "required, a port (1..65535)")
    targets = _targets(_list(data, "targets", path), child(path, "targets"))
    return ListenerRecord(name=_name(data, "name", path, required=False), protocol=protocol, port=port, targets=targets)


def parse_create(value: object) -> CreateRequest:
    data = _object(value, "", ("name", "tags", "address", "settings", "listeners"))
    address = opt_str(data, "address", "")
    if address is not None:
        try:
            address = str(ipaddress.ip_address(address))
        except ValueError:
            raise InvalidSpecError("address", f"{show(address)} is not an IP address") from None
    listeners: list[ListenerRecord] = []
    seen: set[str] = set()
    for i, item in enumerate(_list(data, "listeners", "")):
        listener = parse_listener(item, index("listeners", i))
        if listener.key in seen:
            raise InvalidSpecError(index("listeners", i), f"duplicate listener {listener.key}")
        seen.add(listener.key)
        listeners.append(listener)
    return CreateRequest(
        name=_name(data, "name", "", required=True),
        tags=_tags(data, ""),
        address=address,
        settings=_settings(data.get("settings") or {}, "settings", Settings()),
        listeners=tuple(listeners),
    )


def parse_patch(value: object, current: Settings) -> tuple[Settings, FrozenDict | None]:
    """``{"settings"?, "tags"?}``: settings merge key by key into ``current``; tags, when given, replace the map."""
    data = _object(value, "", ("settings", "tags"))
    settings = _settings(data["settings"], "settings", current) if data.get("settings") is not None else current
    tags = _tags(data, "") if "tags" in data else None
    return settings, tags


def parse_listener_patch(value: object) -> str:
    data = _object(value, "", ("name",))
    if "name" not in data:
        raise InvalidSpecError("name", "required, a string")
    return _name(data, "name", "", required=False)


def parse_targets_delta(value: object) -> TargetsDelta:
    data = _object(value, "", ("add", "remove"))
    add_items, remove_items = _list(data, "add", ""), _list(data, "remove", "")
    total = len(add_items) + len(remove_items)
    if total > MAX_TARGETS_PER_CALL:
        raise InvalidSpecError("add+remove", f"{total} targets; at most {MAX_TARGETS_PER_CALL:,} in all per call")
    return TargetsDelta(add=_targets(add_items, "add"), remove=_targets(remove_items, "remove"))
