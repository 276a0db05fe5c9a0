"""Model objects -> plain JSON-able data, for ``-o json|yaml`` and anything else that needs to write them out.

Where this sits: the CLI (and tools built on it) render specs, statuses and owned load balancers with these
functions. The output is built from plain types only (dict, list, str, int, float, bool, None) so that ``json`` and
``yaml.safe_dump`` both accept it: enums become their values, frozensets become sorted lists and tuples become
lists. Keys are the dataclass field names, so the shape follows ``cloudlb.model`` without a second schema.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping
from typing import Any

from cloudlb.model import LoadBalancerSpec, LoadBalancerStatus, OwnedLoadBalancer, Target

__all__ = ["owned_to_dict", "spec_to_dict", "status_to_dict", "to_plain"]


def to_plain(value: Any) -> Any:
    """Convert a model value (dataclass, enum, mapping, set, tuple) into plain JSON-able data."""
    if value is None or isinstance(value, bool | int | float):
        return value
    # Enums first: the model's enums are also ``str`` subclasses, and JSON should carry the value, not the name.
    if isinstance(value, enum.Enum):
        return to_plain(value.value)
    if isinstance(value, str):
        return value
    if isinstance(value, Target):
        return {k: to_plain(v) for k, v in value._asdict().items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return _sorted_plain(value)
    if isinstance(value, list | tuple):
        return [to_plain(item) for item in value]
    raise TypeError(f"cannot serialize {type(value).__name__}: {value!r}")


def _sorted_plain(items: frozenset[Any] | set[Any]) -> list[Any]:
    # Sets have no order; sort so that output is stable across runs. Natural order when the items allow it
    # (targets sort by ip, port), otherwise by their canonical JSON text.
    try:
        ordered = sorted(items)
    except TypeError:
        return sorted((to_plain(item) for item in items), key=lambda plain: json.dumps(plain, sort_keys=True))
    return [to_plain(item) for item in ordered]


def spec_to_dict(spec: LoadBalancerSpec) -> dict[str, Any]:
    """Every field of the spec, as plain data."""
    out: dict[str, Any] = to_plain(spec)
    return out


def status_to_dict(status: LoadBalancerStatus) -> dict[str, Any]:
    """The status as plain data: ``ingress`` (ip, hostname, ports with their errors), ``cloud_name``, ``cloud_id``."""
    out: dict[str, Any] = to_plain(status)
    return out


def owned_to_dict(owned: OwnedLoadBalancer) -> dict[str, Any]:
    """An owned load balancer as plain data, with ``service`` (``namespace/name``) added for readability."""
    out: dict[str, Any] = to_plain(owned)
    out["service"] = owned.ref.service
    return out
