"""Plan, PlanBuilder, str(plan) and Plan.to_dict()."""

from __future__ import annotations

import json

import pytest

from cloudlb.model import HealthCheckProtocol, Protocol, Target
from cloudlb.plan import Action, Change, Plan, PlanBuilder, set_diff


def target_label(target: Target) -> str:
    return f"{target.ip}:{target.port}"


def sample_plan() -> Plan:
    builder = PlanBuilder("k8s-default-web-1a2b3c4d")
    builder.create("listener", "TCP:80", fields={"protocol": Protocol.TCP, "port": 80})
    builder.create("listener", "UDP:53")
    builder.update(
        "health-check",
        "tcp-80",
        {"interval": (30, 10), "protocol": (HealthCheckProtocol.TCP, HealthCheckProtocol.HTTP)},
    )
    builder.targets(
        "target-pool",
        "tcp-80",
        set_diff({Target("127.0.0.5", 30080)}, {Target("127.0.0.6", 30080)}),
        label=target_label,
    )
    builder.replace("load-balancer", "web", {"scheme": ("external", "internal")}, reason="scheme cannot be modified")
    builder.delete("listener", "TCP:8080")
    return builder.build()


def test_plan_reads_like_terraform() -> None:
    assert str(sample_plan()) == "\n".join(
        [
            "Plan for load balancer k8s-default-web-1a2b3c4d:",
            "  + listener TCP:80",
            "      protocol: (none) -> TCP",
            "      port: (none) -> 80",
            "  + listener UDP:53",
            "  ~ health-check tcp-80",
            "      interval: 30 -> 10",
            "      protocol: TCP -> HTTP",
            "  ~ target-pool tcp-80",
            "      + 127.0.0.5:30080",
            "      - 127.0.0.6:30080",
            "  -/+ load-balancer web",
            "      # scheme cannot be modified",
            '      scheme: "external" -> "internal"',
            "  - listener TCP:8080",
            "Plan: 2 to create, 2 to update, 1 to replace, 1 to delete.",
        ]
    )


def test_empty_plan_says_no_changes() -> None:
    plan = Plan("k8s-default-web-1a2b3c4d")
    assert plan.is_empty
    assert len(plan) == 0
    assert "no changes" in str(plan)
    assert "k8s-default-web-1a2b3c4d" in str(plan)


@pytest.mark.parametrize(
    ("count", "want_tail"),
    [
        pytest.param(10, "      + 10.0.0.10:30080", id="ten-listed-in-full"),
        pytest.param(13, "      ... and 3 more to add", id="thirteen-cut-after-ten"),
    ],
)
def test_long_target_deltas_are_truncated(count: int, want_tail: str) -> None:
    added = tuple(f"10.0.0.{i}:30080" for i in range(1, count + 1))
    plan = Plan("lb", (Change(Action.UPDATE, "target-pool", "tcp-80", added=added),))
    lines = str(plan).splitlines()
    target_lines = [line for line in lines if line.startswith("      ")]
    assert len(target_lines) == min(count, 10) + (count > 10)
    assert target_lines[-1] == want_tail


def test_builder_records_nothing_without_drift() -> None:
    builder = PlanBuilder("lb")
    assert builder.update("health-check", "tcp-80", {}) is False
    assert builder.targets("target-pool", "tcp-80", set_diff({1}, {1})) is False
    assert builder.build().is_empty


def test_builder_target_delta_is_sorted() -> None:
    builder = PlanBuilder("lb")
    builder.targets("target-pool", "p", set_diff({"b", "a", "c"}, {"z", "y"}))
    (change,) = builder.build().changes
    assert (change.added, change.removed) == (("a", "b", "c"), ("y", "z"))


def test_summary_counts_every_action() -> None:
    assert sample_plan().summary() == {"create": 2, "update": 2, "replace": 1, "delete": 1}


def test_to_dict_is_plain_json_data() -> None:
    data = sample_plan().to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["empty"] is False
    assert data["summary"] == {"create": 2, "update": 2, "replace": 1, "delete": 1}
    health_check = data["changes"][2]
    assert health_check == {
        "action": "update",
        "resource": "health-check",
        "name": "tcp-80",
        "fields": {"interval": {"before": 30, "after": 10}, "protocol": {"before": "TCP", "after": "HTTP"}},
    }
    pool = data["changes"][3]
    assert (pool["added"], pool["removed"]) == (["127.0.0.5:30080"], ["127.0.0.6:30080"])


def test_to_dict_turns_collections_into_lists() -> None:
    change = Change(
        Action.UPDATE,
        "security-group",
        "sg",
        fields={"cidrs": (frozenset({"10.0.0.0/8", "0.0.0.0/0"}), ("10.0.0.0/8",)), "tags": ({"a": Protocol.UDP}, {})},
    )
    fields = Plan("lb", (change,)).to_dict()["changes"][0]["fields"]
    assert fields["cidrs"] == {"before": ["0.0.0.0/0", "10.0.0.0/8"], "after": ["10.0.0.0/8"]}
    assert fields["tags"] == {"before": {"a": "UDP"}, "after": {}}


def test_empty_plan_to_dict() -> None:
    assert Plan("lb").to_dict() == {
        "load_balancer": "lb",
        "empty": True,
        "changes": [],
        "summary": {"create": 0, "update": 0, "replace": 0, "delete": 0},
    }
