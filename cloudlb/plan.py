"""Plans and the generic diffs every provider uses.

Where this sits: a provider observes the cloud, then compares desired and actual state with the diffs here and
records what it would do as ``Change`` items in a ``Plan``. ``plan()`` returns it without mutating anything;
``ensure()`` applies it. ``str(plan)`` reads like a terraform plan.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = [
    "Action",
    "Change",
    "Plan",
]

T = TypeVar("T", bound=Hashable)


class Action(str, enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"  # the cloud cannot modify a field: create new, then delete old
    DELETE = "delete"

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "replace": "-/+", "delete": "-"}[self.value]


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

    def __str__(self) -> str:
        return render_plan(self)


def render_plan(plan: Plan) -> str:
    """Render a plan as text, terraform-style. (Placeholder until the full renderer lands.)"""
    if plan.is_empty:
        return f"{plan.load_balancer}: no changes. The load balancer matches the spec."
    lines = [f"{plan.load_balancer}:"]
    for change in plan.changes:
        lines.append(f"  {change.action.symbol} {change.resource} {change.name}")
    return "\n".join(lines)

