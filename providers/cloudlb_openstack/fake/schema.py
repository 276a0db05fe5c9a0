"""Body validation for the fake Octavia: which attributes each request accepts, their types, ranges and enums,
and Octavia's (WSME's) 400 messages for an unknown attribute, a wrong type, a value out of range or a missing one.

Where this sits: ``octavia.py`` calls ``parse(argument, body, FIELDS)`` on each POST and PUT body before anything
else, then checks the rules that span fields or need the stored state itself. The tables carry the real APIs'
field names and limits.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cloudlb_openstack.fake.common import Fault

__all__ = [
    "HM_POST",
    "HM_PUT",
    "LB_POST",
    "LB_PUT",
    "LISTENER_POST",
    "LISTENER_PUT",
    "MEMBER_POST",
    "MEMBER_PUT",
    "POOL_POST",
    "POOL_PUT",
    "Field",
    "octavia_fault",
    "parse",
]

MAX_TIMEOUT = 24 * 60 * 60 * 1000
LISTENER_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "TERMINATED_HTTPS", "UDP", "SCTP", "PROMETHEUS")
POOL_PROTOCOLS = ("HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP", "UDP", "SCTP")
LB_ALGORITHMS = ("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT")
SP_TYPES = ("SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE")
HM_TYPES = ("HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO", "UDP-CONNECT", "SCTP")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "PATCH", "CONNECT")
CLIENT_AUTH = ("NONE", "OPTIONAL", "MANDATORY")
EXPECTED_CODES = re.compile(r"^(\d{3}(\s*,\s*\d{3})*)$|^(\d{3}-\d{3})$")


def octavia_fault(status: int, message: str) -> Fault:
    """Octavia's fault body (pecan/WSME): ``faultcode`` is Client for 4xx."""
    return Fault(
        status, {"faultcode": "Client" if status < 500 else "Server", "faultstring": message, "debuginfo": None}
    )


def _invalid(name: str, value: Any, why: str) -> Fault:
    return octavia_fault(400, f"Invalid input for field/attribute {name}. Value: '{value}'. {why}")


@dataclass(frozen=True, slots=True)
class Field:
    """One attribute: ``kind`` is str, bool, int, enum, uuid, ip, cidrs, strs, strdict, dict or list."""

    kind: str
    mandatory: bool = False
    default: Any = None
    choices: tuple[Any, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    sub: Mapping[str, Field] | None = None


def _check(name: str, spec: Field, value: Any) -> Any:
    kind = spec.kind
    if kind == "str":
        if not isinstance(value, str):
            raise _invalid(name, value, "Value should be string")
        if spec.max_length is not None and len(value) > spec.max_length:
            raise _invalid(name, value, f"Value should have a maximum character requirement of {spec.max_length}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise _invalid(name, value, "Wrong type. Expected '<class 'bool'>'")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise _invalid(name, value, "Wrong type. Expected '<class 'int'>'")
        try:
            number = int(value)
        except ValueError:
            raise _invalid(name, value, "Wrong type. Expected '<class 'int'>'") from None
        if spec.minimum is not None and number < spec.minimum:
            raise _invalid(name, value, f"Value should be greater or equal to {spec.minimum}")
        if spec.maximum is not None and number > spec.maximum:
            raise _invalid(name, value, f"Value should be lower or equal to {spec.maximum}")
        return number
    if kind == "enum":
        if value not in spec.choices:
            raise _invalid(name, value, "Value should be one of: " + ", ".join(str(c) for c in spec.choices))
        return value
    if kind == "uuid":
        try:
            return str(uuid.UUID(str(value)))
        except ValueError:
            raise _invalid(name, value, "Invalid UUID value") from None
    if kind == "ip":
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise _invalid(name, value, "Value should be IPv4 or IPv6 format") from None
    if kind == "cidrs":
        if not isinstance(value, list):
            raise _invalid(name, value, "Value should be a list")
        out = []
        for item in value:
            try:
                out.append(str(ipaddress.ip_network(item, strict=False)))
            except (ValueError, TypeError):
                raise _invalid(name, item, "Value should be IPv4 or IPv6 CIDR format") from None
        return sorted(set(out), key=out.index)
    if kind == "strs":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _invalid(name, value, "Value should be a list of strings")
        if spec.max_length is not None and any(len(v) > spec.max_length for v in value):
            raise _invalid(name, value, f"Value should have a maximum character requirement of {spec.max_length}")
        return list(value)
    if kind == "strdict":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise _invalid(name, value, "Value should be a dict of strings")
        return dict(value)
    if kind == "dict":
        if not isinstance(value, dict):
            raise _invalid(name, value, "Value should be an object")
        return parse(name, value, spec.sub or {})
    if kind == "list":
        if not isinstance(value, list):
            raise _invalid(name, value, "Value should be a list")
        return list(value)
    raise AssertionError(f"unknown field kind {kind}")


def parse(argument: str, body: Any, fields: Mapping[str, Field], *, defaults: bool = True) -> dict[str, Any]:
    """Validate ``body`` against ``fields``: the accepted attributes only, each of its type. With ``defaults``
    (POST) missing attributes get their defaults and mandatory ones must be present; a PUT passes False."""
    if not isinstance(body, dict):
        raise _invalid(argument, body, "Value should be an object")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise _invalid(argument, body, f"Unknown attribute for argument {argument}: {', '.join(unknown)}")
    out: dict[str, Any] = {}
    for name, spec in fields.items():
        if name in body and body[name] is not None:
            out[name] = _check(name, spec, body[name])
        elif name in body:
            if spec.mandatory:
                raise _invalid(name, None, "Mandatory field missing.")
            out[name] = None
        elif defaults:
            if spec.mandatory:
                raise _invalid(name, None, "Mandatory field missing.")
            out[name] = spec.default
    return out


_TEXT = Field("str", max_length=255)
_TAGS = Field("strs", max_length=255, default=[])
_TIMEOUT = Field("int", minimum=0, maximum=MAX_TIMEOUT)
_REF = Field("str", max_length=255)

LB_PUT = {
    "name": _TEXT,
    "description": _TEXT,
    "admin_state_up": Field("bool"),
    "vip_qos_policy_id": Field("uuid"),
    "vip_sg_ids": Field("list"),
    "tags": Field("strs", max_length=255),
}
LB_POST = {
    **LB_PUT,
    "admin_state_up": Field("bool", default=True),
    "tags": _TAGS,
    "vip_address": Field("ip"),
    "vip_port_id": Field("uuid"),
    "vip_subnet_id": Field("uuid"),
    "vip_network_id": Field("uuid"),
    "project_id": Field("str", max_length=36),
    "listeners": Field("list", default=[]),
    "pools": Field("list", default=[]),
    "provider": Field("str", max_length=64),
    "flavor_id": Field("uuid"),
    "availability_zone": _TEXT,
    "additional_vips": Field("list", default=[]),
    "vip_sg_ids": Field("list", default=[]),
}

LISTENER_PUT = {
    "name": _TEXT,
    "description": _TEXT,
    "admin_state_up": Field("bool"),
    "connection_limit": Field("int", minimum=-1),
    "default_tls_container_ref": _REF,
    "sni_container_refs": Field("strs", max_length=255),
    "default_pool_id": Field("uuid"),
    "insert_headers": Field("strdict"),
    "timeout_client_data": _TIMEOUT,
    "timeout_member_connect": _TIMEOUT,
    "timeout_member_data": _TIMEOUT,
    "timeout_tcp_inspect": _TIMEOUT,
    "tags": Field("strs", max_length=255),
    "client_ca_tls_container_ref": _REF,
    "client_authentication": Field("enum", choices=CLIENT_AUTH),
    "client_crl_container_ref": _REF,
    "allowed_cidrs": Field("cidrs"),
    "tls_ciphers": Field("str", max_length=2048),
    "tls_versions": Field("strs", max_length=32),
    "alpn_protocols": Field("strs"),
    "hsts_max_age": Field("int", minimum=0),
    "hsts_include_subdomains": Field("bool"),
    "hsts_preload": Field("bool"),
}
LISTENER_POST = {
    **LISTENER_PUT,
    "admin_state_up": Field("bool", default=True),
    "connection_limit": Field("int", minimum=-1, default=-1),
    "sni_container_refs": Field("strs", max_length=255, default=[]),
    "insert_headers": Field("strdict", default={}),
    "tags": _TAGS,
    "client_authentication": Field("enum", choices=CLIENT_AUTH, default="NONE"),
    "protocol": Field("enum", mandatory=True, choices=LISTENER_PROTOCOLS),
    "protocol_port": Field("int", mandatory=True, minimum=1, maximum=65535),
    "loadbalancer_id": Field("uuid", mandatory=True),
    "project_id": Field("str", max_length=36),
    "default_pool": Field("dict", sub={}),
    "l7policies": Field("list", default=[]),
    "timeout_client_data": Field("int", minimum=0, maximum=MAX_TIMEOUT, default=50000),
    "timeout_member_connect": Field("int", minimum=0, maximum=MAX_TIMEOUT, default=5000),
    "timeout_member_data": Field("int", minimum=0, maximum=MAX_TIMEOUT, default=50000),
    "timeout_tcp_inspect": Field("int", minimum=0, maximum=MAX_TIMEOUT, default=0),
}

_SP_FIELDS = {
    "type": Field("enum", mandatory=True, choices=SP_TYPES),
    "cookie_name": Field("str", max_length=255),
    "persistence_timeout": Field("int"),
    "persistence_granularity": Field("ip"),
}
POOL_PUT = {
    "name": _TEXT,
    "description": _TEXT,
    "admin_state_up": Field("bool"),
    "lb_algorithm": Field("enum", choices=LB_ALGORITHMS),
    "session_persistence": Field("dict", sub={**_SP_FIELDS, "type": Field("enum", choices=SP_TYPES)}),
    "tags": Field("strs", max_length=255),
    "tls_container_ref": _REF,
    "ca_tls_container_ref": _REF,
    "crl_container_ref": _REF,
    "tls_enabled": Field("bool"),
    "tls_ciphers": Field("str", max_length=2048),
    "tls_versions": Field("strs", max_length=32),
    "alpn_protocols": Field("strs"),
}
POOL_POST = {
    **POOL_PUT,
    "admin_state_up": Field("bool", default=True),
    "tags": _TAGS,
    "tls_enabled": Field("bool", default=False),
    "listener_id": Field("uuid"),
    "loadbalancer_id": Field("uuid"),
    "protocol": Field("enum", mandatory=True, choices=POOL_PROTOCOLS),
    "lb_algorithm": Field("enum", mandatory=True, choices=LB_ALGORITHMS),
    "session_persistence": Field("dict", sub=_SP_FIELDS),
    "project_id": Field("str", max_length=36),
    "healthmonitor": Field("dict", sub={}),
    "members": Field("list", default=[]),
}

MEMBER_PUT = {
    "name": _TEXT,
    "weight": Field("int", minimum=0, maximum=256),
    "admin_state_up": Field("bool"),
    "monitor_address": Field("ip"),
    "monitor_port": Field("int", minimum=1, maximum=65535),
    "backup": Field("bool"),
    "tags": Field("strs", max_length=255),
}
MEMBER_POST = {
    **MEMBER_PUT,
    "weight": Field("int", minimum=0, maximum=256, default=1),
    "admin_state_up": Field("bool", default=True),
    "backup": Field("bool", default=False),
    "tags": _TAGS,
    "address": Field("ip", mandatory=True),
    "protocol_port": Field("int", mandatory=True, minimum=1, maximum=65535),
    "subnet_id": Field("uuid"),
    "project_id": Field("str", max_length=36),
}

HM_PUT = {
    "name": _TEXT,
    "delay": Field("int", minimum=0, maximum=2**31 - 1),
    "timeout": Field("int", minimum=0, maximum=MAX_TIMEOUT),
    "max_retries": Field("int", minimum=1, maximum=10),
    "max_retries_down": Field("int", minimum=1, maximum=10),
    "http_method": Field("enum", choices=HTTP_METHODS),
    "url_path": Field("str", max_length=255),
    "expected_codes": Field("str", max_length=64),
    "admin_state_up": Field("bool"),
    "tags": Field("strs", max_length=255),
    "http_version": Field("enum", choices=(1.0, 1.1)),
    "domain_name": Field("str", max_length=255),
}
HM_POST = {
    **HM_PUT,
    "pool_id": Field("uuid", mandatory=True),
    "type": Field("enum", mandatory=True, choices=HM_TYPES),
    "delay": Field("int", mandatory=True, minimum=0, maximum=2**31 - 1),
    "timeout": Field("int", mandatory=True, minimum=0, maximum=MAX_TIMEOUT),
    "max_retries": Field("int", mandatory=True, minimum=1, maximum=10),
    "max_retries_down": Field("int", minimum=1, maximum=10, default=3),
    "admin_state_up": Field("bool", default=True),
    "tags": _TAGS,
    "project_id": Field("str", max_length=36),
}
