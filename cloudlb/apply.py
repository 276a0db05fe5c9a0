"""The provider-neutral apply machinery: steps, the plan they show, running them, and sorting what was observed.

Where this sits: a provider observes the cloud and sorts what it found with ``classify`` (by the ownership tags of
``naming.py``, never by name). It then builds ``Step``s, each pairing the ``Change``s a plan shows with the call
that makes them. ``plan()`` returns ``Work.plan`` without running anything; ``ensure()`` runs the steps in order
with ``run_steps``, which logs a "creating ..." line before each change and a "created ... <id>" line after it.
A step never runs when nothing drifted, because the provider never builds one: a converged spec yields no steps.
Nothing here calls a cloud.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from cloudlb.model import ServiceRef
from cloudlb.naming import UID_TAG, Ownership, ownership
from cloudlb.plan import Action, Change, Plan

__all__ = ["Classified", "Step", "Work", "classify", "run_steps"]

C = TypeVar("C")  # what a step's run receives: usually the provider's client
R = TypeVar("R")  # what a step's run answers: the resource it touched, or None
T = TypeVar("T")  # an observed resource

_DOING = {Action.CREATE: "creating", Action.UPDATE: "updating", Action.REPLACE: "replacing", Action.DELETE: "deleting"}
_DONE = {Action.CREATE: "created", Action.UPDATE: "updated", Action.REPLACE: "replaced", Action.DELETE: "deleted"}


# The generic classes are frozen without slots: typing sets ``__orig_class__`` on an instance built through an alias
# (``Step[Client, str](...)``), which a frozen slotted dataclass turns into a TypeError instead of an AttributeError.
@dataclass(frozen=True)
class Step(Generic[C, R]):
    """What the plan shows (``changes``) and the call(s) that make it.

    ``run`` receives the provider's client (or whatever context the provider passes to ``run_steps``) and answers
    the resource it created or touched, or None. ``targets_only`` marks steps that only change target pools, the
    ones ``update_targets`` runs. A step with no changes is a hidden part of another step's change.
    """

    changes: tuple[Change, ...]
    run: Callable[[C], R | None]
    targets_only: bool = False


@dataclass(frozen=True)
class Work(Generic[C, R]):
    """Everything ``ensure`` would do for one load balancer: ``current`` is the observed one that is kept, if any."""

    name: str
    current: R | None
    steps: tuple[Step[C, R], ...]

    @property
    def plan(self) -> Plan:
        """The steps' changes, in the order they would run."""
        return Plan(self.name, tuple(change for step in self.steps for change in step.changes))

    @property
    def target_steps(self) -> tuple[Step[C, R], ...]:
        """Only the steps that change target pools."""
        return tuple(step for step in self.steps if step.targets_only)


def run_steps(
    work: Work[C, R],
    context: C,
    *,
    log: logging.Logger,
    steps: Sequence[Step[C, R]] | None = None,
    ident: Callable[[R], str] = str,
) -> R | None:
    """Run ``steps`` (default: all of ``work``'s) in order and answer the last resource any step answered.

    Each change logs a pair of lines, before and after its call; the second names the cloud id (``ident`` of what
    the step answered, or of the current resource when it answered nothing). An exception stops the run where it
    is: the next ``ensure`` observes again and plans only what is left.
    """
    current = work.current
    for step in work.steps if steps is None else steps:
        for change in step.changes:
            log.info("%s %s %s of %s", _DOING[change.action], change.resource, change.name, work.name)
        answer = step.run(context)
        if answer is not None:
            current = answer
        shown = answer if answer is not None else current
        cloud_id = ident(shown) if shown is not None else "-"
        for change in step.changes:
            log.info("%s %s %s of %s: %s", _DONE[change.action], change.resource, change.name, work.name, cloud_id)
    return current


@dataclass(frozen=True)
class Classified(Generic[T]):
    """Observed resources that carry a Service's tags. ``mine`` is best first: keep ``mine[0]``, the rest are
    duplicates. ``stale`` were left by an earlier Service of the same name (another uid): delete them."""

    mine: tuple[T, ...]
    stale: tuple[T, ...]

    @property
    def kept(self) -> T | None:
        """The resource to keep and converge, or None when there is none yet."""
        return self.mine[0] if self.mine else None

    @property
    def duplicates(self) -> tuple[T, ...]:
        """Resources of this Service beyond the kept one."""
        return self.mine[1:]


def classify(
    found: Iterable[T],
    ref: ServiceRef,
    *,
    tags: Callable[[T], Mapping[str, str]],
    key: Callable[[T], Any],
    prefer: Callable[[T], bool] | None = None,
) -> Classified[T]:
    """Sort ``found`` into mine and stale for ``ref``; FOREIGN resources are dropped, never to be touched.

    Mine come best first, in an order that every run repeats: those ``prefer`` accepts (e.g. the one whose name
    matches the spec's unmodifiable fields), then an exact uid match, then by ``key`` (the cloud id).
    """
    mine: list[T] = []
    stale: list[T] = []
    for item in found:
        kind = ownership(tags(item), ref)
        if kind is Ownership.MINE:
            mine.append(item)
        elif kind is Ownership.STALE:
            stale.append(item)
    mine.sort(key=lambda item: (prefer is not None and not prefer(item), tags(item).get(UID_TAG) != ref.uid, key(item)))
    stale.sort(key=key)
    return Classified(tuple(mine), tuple(stale))
