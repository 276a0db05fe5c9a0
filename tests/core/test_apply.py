"""cloudlb.apply: observed resources sorted into mine and stale by tags, best first; steps planned and run in order,
each change logged before and after its call."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from cloudlb.apply import Step, Work, classify, run_steps
from cloudlb.model import ServiceRef
from cloudlb.naming import CLUSTER_TAG, SERVICE_TAG, UID_TAG
from cloudlb.plan import Action, Change

REF = ServiceRef("prod", "shop", "web", "uid-2")


def resource(rid: str, **tags: str) -> dict[str, Any]:
    return {"id": rid, "name": tags.pop("name", rid), "tags": tags}


def owned(rid: str, uid: str, **extra: str) -> dict[str, Any]:
    return resource(rid, **{CLUSTER_TAG: "prod", SERVICE_TAG: "shop/web", UID_TAG: uid}, **extra)


def test_classify_keeps_mine_and_stale_and_drops_everything_else() -> None:
    found = [
        owned("a", "uid-2"),
        owned("b", "uid-1"),  # an earlier Service of the same name
        owned("c", ""),  # from a file: no uid contradicts ours
        resource("d", **{CLUSTER_TAG: "other", SERVICE_TAG: "shop/web", UID_TAG: "uid-2"}),
        resource("e", **{CLUSTER_TAG: "prod", SERVICE_TAG: "shop/api"}),
        resource("f"),
    ]

    sorted_ = classify(found, REF, tags=lambda r: r["tags"], key=lambda r: r["id"])

    assert [r["id"] for r in sorted_.mine] == ["a", "c"]
    assert [r["id"] for r in sorted_.stale] == ["b"]


@pytest.mark.parametrize(
    ("prefer", "expected"),
    [
        pytest.param(None, ["y", "x", "z"], id="exact-uid-then-id"),
        pytest.param("z", ["z", "y", "x"], id="preferred-first"),
    ],
)
def test_mine_come_best_first_in_a_repeatable_order(prefer: str | None, expected: list[str]) -> None:
    found = [owned("z", ""), owned("x", ""), owned("y", "uid-2")]

    sorted_ = classify(
        reversed(found),
        REF,
        tags=lambda r: r["tags"],
        key=lambda r: r["id"],
        prefer=(lambda r: r["id"] == prefer) if prefer else None,
    )

    assert [r["id"] for r in sorted_.mine] == expected
    assert sorted_.kept is sorted_.mine[0]
    assert list(sorted_.duplicates) == list(sorted_.mine[1:])


def test_nothing_found_keeps_nothing() -> None:
    sorted_ = classify([], REF, tags=lambda r: r, key=lambda r: r)

    assert sorted_.kept is None and sorted_.duplicates == ()


def change(action: Action, name: str) -> Change:
    return Change(action, "listener", name)


def test_run_steps_runs_in_order_logs_each_change_twice_and_answers_the_last_resource(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    def make(answer: str | None, label: str) -> Step[list[str], str]:
        def run(ctx: list[str]) -> str | None:
            ctx.append(label)
            return answer

        return Step((change(Action.CREATE, label),), run)

    work = Work("lb-1", "old", (make("id-1", "first"), make(None, "second"), make("id-3", "third")))
    log = logging.getLogger("test.apply")

    with caplog.at_level(logging.INFO, logger="test.apply"):
        answer = run_steps(work, calls, log=log)

    assert calls == ["first", "second", "third"]
    assert answer == "id-3"
    assert [r.getMessage() for r in caplog.records] == [
        "creating listener first of lb-1",
        "created listener first of lb-1: id-1",
        "creating listener second of lb-1",
        "created listener second of lb-1: id-1",  # answered nothing: the current resource is named
        "creating listener third of lb-1",
        "created listener third of lb-1: id-3",
    ]


def test_a_failing_step_stops_the_run_after_its_starting_line(caplog: pytest.LogCaptureFixture) -> None:
    def boom(_: object) -> str:
        raise RuntimeError("cloud said no")

    never: list[str] = []
    work = Work("lb", None, (Step((change(Action.DELETE, "a"),), boom), Step((), lambda _: never.append("x"))))

    with caplog.at_level(logging.INFO), pytest.raises(RuntimeError):
        run_steps(work, None, log=logging.getLogger("test.apply"))

    assert never == []
    assert [r.getMessage() for r in caplog.records] == ["deleting listener a of lb"]


def test_work_plans_every_change_and_picks_the_target_steps() -> None:
    pool = Step((change(Action.UPDATE, "pool"),), lambda _: None, targets_only=True)
    other = Step((change(Action.CREATE, "l1"), change(Action.CREATE, "l2")), lambda _: None)
    work: Work[None, str] = Work("lb", None, (other, pool))

    assert [c.name for c in work.plan] == ["l1", "l2", "pool"]
    assert work.target_steps == (pool,)
    assert work.plan.load_balancer == "lb"
