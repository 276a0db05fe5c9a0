"""The two faces of one Event: ``core/v1`` and ``events.k8s.io/v1``.

Where this sits: ``resources.py`` gives the ``events.k8s.io`` resource these converters, so both API groups read
and write the same stored objects, as on a real cluster. An Event a controller records through one group is then
visible through the other, and a test may count Events with whichever client it likes. The stored form is
``core/v1``; only field names differ.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CORE_FIELD_OF", "from_events_v1", "to_events_v1"]

# events.k8s.io/v1 field -> core/v1 field. Fields with the same name in both (reason, type, action, eventTime,
# series, related, reportingInstance) pass through untouched.
CORE_FIELD_OF = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_EVENTS_FIELD_OF = {core: new for new, core in CORE_FIELD_OF.items()}


def to_events_v1(event: dict[str, Any]) -> dict[str, Any]:
    """A stored (core/v1) Event as events.k8s.io/v1 shows it."""
    out = {_EVENTS_FIELD_OF.get(key, key): value for key, value in event.items()}
    out["apiVersion"] = "events.k8s.io/v1"
    return out


def from_events_v1(event: dict[str, Any]) -> dict[str, Any]:
    """An events.k8s.io/v1 Event in its stored (core/v1) form."""
    out = {CORE_FIELD_OF.get(key, key): value for key, value in event.items()}
    out["apiVersion"] = "v1"
    return out
