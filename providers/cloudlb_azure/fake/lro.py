"""Long-running operations as ARM presents them: ``Azure-AsyncOperation`` and ``Location`` URLs on a write, and
the two endpoints those URLs lead to.

Where this sits: ``api`` adds ``async_headers`` to every accepted PUT and DELETE and routes the operation URLs to
``operation_status``/``operation_result``. The status flips from ``InProgress`` to ``Succeeded`` when the state's
clock passes the operation's end, the same moment the resource's provisioningState does. The poll hint is sent in
``Retry-After`` when it is whole seconds (the SDK parses that header as an integer), else in milliseconds in
``x-ms-retry-after-ms``, which azure-core also honours, so tests poll every few milliseconds.
"""

from __future__ import annotations

import datetime

from cloudlb_azure.fake.errors import ArmError
from cloudlb_azure.fake.ids import NAMESPACE
from cloudlb_azure.fake.state import ArmState, Operation

__all__ = ["Reply", "async_headers", "operation_result", "operation_status", "poll_hint"]

Reply = tuple[int, object, dict[str, str]]


def poll_hint(interval: float) -> dict[str, str]:
    if interval >= 1 and float(interval).is_integer():
        return {"Retry-After": str(int(interval))}
    return {"x-ms-retry-after-ms": str(max(1, round(interval * 1000)))}


def _operation_url(state: ArmState, base_url: str, location: str, kind: str, op: Operation, api_version: str) -> str:
    return (
        f"{base_url}/subscriptions/{state.subscription_id}/providers/{NAMESPACE}/locations/{location}/{kind}/{op.id}"
        f"?api-version={api_version}"
    )


def async_headers(
    state: ArmState, op: Operation, *, base_url: str, location: str, api_version: str, interval: float, delete: bool
) -> dict[str, str]:
    """What NRP sends with an accepted write: the operation to poll and, for a delete, its result URL."""
    headers = {"Azure-AsyncOperation": _operation_url(state, base_url, location, "operations", op, api_version)}
    if delete:
        headers["Location"] = _operation_url(state, base_url, location, "operationResults", op, api_version)
    headers.update(poll_hint(interval))
    return headers


def _find(state: ArmState, op_id: str) -> Operation:
    op = state.operations.get(op_id)
    if op is None:
        raise ArmError(404, "OperationNotFound", f"Operation {op_id} was not found.")
    return op


def operation_status(state: ArmState, op_id: str, interval: float) -> Reply:
    op = _find(state, op_id)
    status = state.operation_status(op)
    started = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=state.clock() - op.started)
    body: dict[str, object] = {"name": op.id, "status": status, "startTime": started.isoformat()}
    return 200, body, poll_hint(interval) if status == "InProgress" else {}


def operation_result(state: ArmState, op_id: str, interval: float, own_url: str) -> Reply:
    op = _find(state, op_id)
    if state.operation_status(op) == "InProgress":
        return 202, None, {"Location": own_url, **poll_hint(interval)}
    return 204, None, {}
