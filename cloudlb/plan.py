"""Plans and the generic diffs every provider uses.

Where this sits: a provider observes the cloud, then compares desired and actual state with the diffs here
(``set_diff`` for target pools, ``map_diff`` for tags, ``field_drift`` per field group) and records what it would
do as ``Change`` items in a ``Plan``. ``plan()`` returns it without mutating anything; ``ensure()`` applies it, and
makes no call for a field group that has not drifted. ``str(plan)`` reads like a terraform plan; ``to_dict()`` is
the same plan as plain data for JSON or YAML output.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

from cloudlb.model import FrozenDict

__all__ = [
    "Action",
    "Change",
    "DiffItem",
    "DiffOp",
    "MapDiff",
    "Plan",
    "PlanBuilder",
    "SetDiff",
    "batched",
    "drifted",
    "field_drift",
    "map_diff",
    "render_plan",
    "set_diff",
]

T = TypeVar("T", bound=Hashable)
I = TypeVar("I")  # noqa: E741 - the item type of batched()

MAX_LISTED_TARGETS = 10  # target deltas longer than this are cut short in str(plan)


class Action(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"  # the cloud cannot modify a field: create new, then delete old
    DELETE = "delete"

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "replace": "-/+", "delete": "-"}[self.value]


# --- generic diffs ---------------------------------------------------------------------------------------------


class DiffOp(enum.StrEnum):
    ADD = "add"
    CHANGE = "change"
    REMOVE = "remove"


class DiffItem(NamedTuple):
    """One key of a ``MapDiff``: ``old`` is None for ADD, ``new`` is None for REMOVE."""

    op: DiffOp
    key: str
    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class SetDiff(Generic[T]):
    """Desired versus actual members of a set (targets, CIDRs). False when there is nothing to do."""

    add: frozenset[T]
    remove: frozenset[T]
    keep: frozenset[T]

    def __bool__(self) -> bool:
        return bool(self.add or self.remove)

    def apply(self, actual: AbstractSet[T]) -> frozenset[T]:
        return (frozenset(actual) - self.remove) | self.add


def set_diff(desired: AbstractSet[T], actual: AbstractSet[T]) -> SetDiff[T]:
    """Plain set operations: no Python loop, so thousands of targets diff in about a millisecond."""
    want, have = frozenset(desired), frozenset(actual)
    add = want - have
    # ``want - add`` rather than ``want & have``: it compares against the (usually small) delta, which spares one
    # __eq__ call per kept member, the dominant cost for dataclass members such as Target.
    return SetDiff(add=add, remove=have - want, keep=want - add)


@dataclass(frozen=True, slots=True)
class MapDiff:
    """Desired versus actual tags. ``set`` holds keys to add or change, with their new value.

    ``old`` holds the actual value of every key in ``set`` or ``remove`` that existed, so the diff can be shown.
    """

    set: Mapping[str, str]
    remove: frozenset[str]
    old: Mapping[str, str]

    def __bool__(self) -> bool:
        return bool(self.set or self.remove)

    def items(self) -> tuple[DiffItem, ...]:
        out = [
            DiffItem(DiffOp.CHANGE if key in self.old else DiffOp.ADD, key, self.old.get(key), value)
            for key, value in self.set.items()
        ]
        out.extend(DiffItem(DiffOp.REMOVE, key, self.old.get(key), None) for key in self.remove)
        return tuple(sorted(out, key=lambda item: item.key))

    def apply(self, actual: Mapping[str, str]) -> dict[str, str]:
        out = {key: value for key, value in actual.items() if key not in self.remove}
        out.update(self.set)
        return out


def map_diff(
    desired: Mapping[str, str],
    actual: Mapping[str, str],
    *,
    ignore: Callable[[str], bool] | Iterable[str] = (),
) -> MapDiff:
    """Diff two tag maps. An ignored key belongs to someone else (another tool, the cloud itself): it is never set
    nor removed, whatever ``desired`` says about it."""
    if isinstance(ignore, str):
        raise TypeError("ignore takes a predicate or a collection of keys, not a single string")
    if callable(ignore):
        ignored: Callable[[str], bool] = ignore
    else:
        ignored = frozenset(ignore).__contains__
    to_set = {k: v for k, v in desired.items() if not ignored(k) and actual.get(k) != v}
    to_remove = frozenset(k for k in actual if k not in desired and not ignored(k))
    old = {k: actual[k] for k in itertools.chain(to_set, to_remove) if k in actual}
    return MapDiff(set=FrozenDict(to_set), remove=to_remove, old=FrozenDict(old))


def field_drift(desired: Mapping[str, Any], actual: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The fields of one field group that differ, as ``field -> (actual, desired)``.

    Only desired fields are compared: the cloud reports extras (ids, timestamps) that the spec does not own. A desired
    field missing from ``actual`` compares against None, so an unreported value is never mistaken for a match.
    """
    return {k: (actual.get(k), v) for k, v in desired.items() if actual.get(k) != v}


def drifted(desired: Mapping[str, Any], actual: Mapping[str, Any]) -> bool:
    """True when ``field_drift`` would be non-empty; stops at the first difference."""
    return any(actual.get(k) != v for k, v in desired.items())


def batched(items: Iterable[I], size: int) -> Iterator[tuple[I, ...]]:
    """Split ``items`` into tuples of at most ``size``: k changed targets cost ceil(k/size) calls.

    A sequence keeps its order. A set has none, so it is sorted first (by ``repr`` when its items do not compare):
    the same set then always yields the same batches, which keeps logs and recorded calls repeatable.
    """
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    if isinstance(items, AbstractSet):
        try:
            items = sorted(items)
        except TypeError:
            items = sorted(items, key=repr)
    iterator = iter(items)
    while chunk := tuple(itertools.islice(iterator, size)):
        yield chunk


# --- changes and plans -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """One resource-level change: ``resource`` is the kind (``listener``), ``name`` the instance.

    ``fields`` maps each drifted field to ``(before, after)``; for target pools ``added``/``removed`` hold the delta.
    """

    action: Action
    resource: str
    name: str
    fields: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action.value, "resource": self.resource, "name": self.name}
        if self.fields:
            out["fields"] = {k: {"before": _plain(b), "after": _plain(a)} for k, (b, a) in self.fields.items()}
        if self.added:
            out["added"] = list(self.added)
        if self.removed:
            out["removed"] = list(self.removed)
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True, slots=True)
class Plan:
    """What ``ensure`` would do for one spec. Empty means converged: ``ensure`` then makes no mutating call."""

    load_balancer: str
    changes: tuple[Change, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def __iter__(self) -> Iterator[Change]:
        return iter(self.changes)

    def __len__(self) -> int:
        return len(self.changes)

    def summary(self) -> dict[str, int]:
        counts = {a.value: 0 for a in Action}
        for change in self.changes:
            counts[change.action.value] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain dicts, lists, strings and numbers, for ``-o json`` / ``-o yaml``."""
        return {
            "load_balancer": self.load_balancer,
            "empty": self.is_empty,
            "changes": [change.to_dict() for change in self.changes],
            "summary": self.summary(),
        }

    def __str__(self) -> str:
        return render_plan(self)


class PlanBuilder:
    """Collects changes for one load balancer; ``update``/``targets`` record nothing when nothing drifted."""

    def __init__(self, load_balancer: str) -> None:
        self.load_balancer = load_balancer
        self._changes: list[Change] = []

    def add(self, change: Change) -> Change:
        self._changes.append(change)
        return change

    def create(self, resource: str, name: str, *, fields: Mapping[str, Any] | None = None, reason: str = "") -> None:
        """``fields`` are the desired values; they show as ``field: (none) -> value``."""
        drift = {k: (None, v) for k, v in (fields or {}).items()}
        self.add(Change(Action.CREATE, resource, name, fields=drift, reason=reason))

    def update(self, resource: str, name: str, drift: Mapping[str, tuple[Any, Any]], *, reason: str = "") -> bool:
        if not drift:
            return False
        self.add(Change(Action.UPDATE, resource, name, fields=dict(drift), reason=reason))
        return True

    def replace(self, resource: str, name: str, drift: Mapping[str, tuple[Any, Any]], *, reason: str = "") -> None:
        self.add(Change(Action.REPLACE, resource, name, fields=dict(drift), reason=reason))

    def delete(self, resource: str, name: str, *, reason: str = "") -> None:
        self.add(Change(Action.DELETE, resource, name, reason=reason))

    def targets(
        self, resource: str, name: str, diff: SetDiff[Any], *, label: Callable[[Any], str] = str, reason: str = ""
    ) -> bool:
        """Record a target-pool delta; ``label`` renders one target, e.g. ``lambda t: f"{t.ip}:{t.port}"``."""
        if not diff:
            return False
        added = tuple(sorted(label(t) for t in diff.add))
        removed = tuple(sorted(label(t) for t in diff.remove))
        self.add(Change(Action.UPDATE, resource, name, added=added, removed=removed, reason=reason))
        return True

    def build(self) -> Plan:
        return Plan(self.load_balancer, tuple(self._changes))


# --- rendering -------------------------------------------------------------------------------------------------


def render_plan(plan: Plan) -> str:
    """Render a plan as text, terraform-style."""
    if plan.is_empty:
        return f"{plan.load_balancer}: no changes. The load balancer matches the spec."
    lines = [f"Plan for load balancer {plan.load_balancer}:"]
    for change in plan.changes:
        lines.append(f"  {change.action.symbol} {change.resource} {change.name}")
        if change.reason:
            lines.append(f"      # {change.reason}")
        for name, (before, after) in change.fields.items():
            lines.append(f"      {name}: {_show(before)} -> {_show(after)}")
        lines.extend(_target_lines("+", change.added, "to add"))
        lines.extend(_target_lines("-", change.removed, "to remove"))
    counts = plan.summary()
    lines.append(
        f"Plan: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['replace']} to replace, {counts['delete']} to delete."
    )
    return "\n".join(lines)


def _target_lines(symbol: str, targets: tuple[str, ...], verb: str) -> Iterator[str]:
    for target in targets[:MAX_LISTED_TARGETS]:
        yield f"      {symbol} {target}"
    if len(targets) > MAX_LISTED_TARGETS:
        yield f"      ... and {len(targets) - MAX_LISTED_TARGETS} more {verb}"


def _show(value: Any) -> str:
    """One field value as a plan shows it: strings quoted, enums by value, collections inline."""
    if value is None:
        return "(none)"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, AbstractSet):
        return "[" + ", ".join(sorted(_show(v) for v in value)) + "]"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def _plain(value: Any) -> Any:
    """Turn a field value into JSON/YAML-safe data: enums to their value, sets to sorted lists, others to str."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, AbstractSet):
        return sorted((_plain(v) for v in value), key=repr)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)
