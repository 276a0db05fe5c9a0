"""ARM's error shape for the fake: ``{"error": {"code": ..., "message": ...}}`` with an HTTP status.

Where this sits: validators and handlers raise ``ArmError``; the HTTP layer turns it into the response body that
``azure-core`` parses into ``HttpResponseError.error.code``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ArmError", "bad_request", "invalid_reference", "not_found"]


class ArmError(Exception):
    """One ARM error response: status, ``error.code`` and ``error.message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": []}}


def bad_request(code: str, message: str) -> ArmError:
    return ArmError(400, code, message)


def not_found(arm_type: str, name: str, group: str) -> ArmError:
    return ArmError(
        404, "ResourceNotFound", f"The Resource '{arm_type}/{name}' under resource group '{group}' was not found."
    )


def invalid_reference(referenced: str, referrer: str) -> ArmError:
    return bad_request(
        "InvalidResourceReference", f"Resource {referenced} referenced by resource {referrer} was not found."
    )
