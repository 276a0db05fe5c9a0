"""Label and field selectors, as ``?labelSelector=`` and ``?fieldSelector=`` carry them.

Where this sits: ``registry.py`` filters lists with these predicates and ``watch.py`` uses them to turn an update
that moves an object into or out of a selection into ADDED or DELETED, as the real watch cache does. A selector the
real server would reject (bad syntax, a field label the kind does not index) is a 400 here too, so a controller that
relies on one cannot pass against the fake and fail against a cluster.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from cloudlb.testing.kubeapi.errors import KubeError

__all__ = ["Predicate", "field_selector", "label_selector"]

Predicate = Callable[[dict[str, Any]], bool]

_KEY = r"[^\s=!<>(),]+"
_VALUE = r"[^\s=!<>(),]*"
_NOT_EXISTS = re.compile(rf"!\s*({_KEY})")
_EQUALITY = re.compile(rf"({_KEY})\s*(==|=|!=)\s*({_VALUE})")
_SET = re.compile(rf"({_KEY})\s+(in|notin)\s*\(([^()]*)\)")
_EXISTS = re.compile(_KEY)


def _split(selector: str) -> list[str]:
    """Split on the commas that separate requirements, not those inside ``in (a,b)``."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(selector):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(selector[start:i])
            start = i + 1
    parts.append(selector[start:])
    return [p.strip() for p in parts]


def _requirement(text: str) -> Predicate:
    if m := _NOT_EXISTS.fullmatch(text):
        key = m[1]
        return lambda labels: key not in labels
    if m := _EQUALITY.fullmatch(text):
        key, op, value = m[1], m[2], m[3]
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if m := _SET.fullmatch(text):
        key, op = m[1], m[2]
        values = {v.strip() for v in m[3].split(",")}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if _EXISTS.fullmatch(text):
        return lambda labels: text in labels
    raise KubeError.bad_request(f"unable to parse requirement: {text!r}")


def label_selector(selector: str | None) -> Predicate:
    """A predicate over whole objects; an empty or absent selector matches everything."""
    if not selector or not selector.strip():
        return lambda obj: True
    checks = [_requirement(part) for part in _split(selector)]

    def matches(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(check(labels) for check in checks)

    return matches


def _field_value(obj: Mapping[str, Any], path: tuple[str, ...]) -> str:
    value: Any = obj
    for step in path:
        value = value.get(step) if isinstance(value, Mapping) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        # Go's zero values: a missing bool field (spec.unschedulable) selects as "false".
        return "false" if path == ("spec", "unschedulable") else ""
    return str(value)


def field_selector(selector: str | None, labels: Mapping[str, tuple[str, ...]]) -> Predicate:
    """A predicate for ``field=value`` / ``field!=value`` terms over the field labels a kind indexes."""
    if not selector or not selector.strip():
        return lambda obj: True
    terms: list[tuple[tuple[str, ...], bool, str]] = []
    for part in _split(selector):
        m = re.fullmatch(r"([^\s=!]+)\s*(==|=|!=)\s*(.*)", part)
        if not m:
            raise KubeError.bad_request(f"invalid selector: {selector!r}; can't understand {part!r}")
        if m[1] not in labels:
            raise KubeError.bad_request(f'field label not supported: "{m[1]}"')
        terms.append((labels[m[1]], m[2] != "!=", m[3].strip()))

    def matches(obj: dict[str, Any]) -> bool:
        return all((_field_value(obj, path) == value) == equal for path, equal, value in terms)

    return matches
