"""Kubernetes ``Status`` failures for the fake API server.

Where this sits: every layer of ``cloudlb.testing.kubeapi`` (registry, patch, selectors, watch) raises
``KubeError``; the HTTP layer turns it into the ``{"kind": "Status", ...}`` body and HTTP code the real API server
sends, which is what the official client's ``ApiException`` (``.status``, ``.reason``, ``.body``) is built from.
Messages follow the real server's wording, because controllers and tests sometimes match on them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["REASONS", "KubeError"]

# The reason the real API server gives for each code, used when a caller (a fault hook) names only a code.
REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class KubeError(Exception):
    """A refusal, carried as the fields of a ``meta/v1`` Status."""

    def __init__(self, code: int, reason: str, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body

    # The constructors below mirror k8s.io/apimachinery/pkg/api/errors, so each failure reads as the real one.

    @classmethod
    def not_found(cls, plural: str, name: str, group: str = "") -> KubeError:
        what = f"{plural}.{group}" if group else plural
        return cls(404, "NotFound", f'{what} "{name}" not found', details=_details(plural, name, group))

    @classmethod
    def already_exists(cls, plural: str, name: str, group: str = "") -> KubeError:
        what = f"{plural}.{group}" if group else plural
        return cls(409, "AlreadyExists", f'{what} "{name}" already exists', details=_details(plural, name, group))

    @classmethod
    def conflict(cls, plural: str, name: str, why: str, group: str = "") -> KubeError:
        what = f"{plural}.{group}" if group else plural
        return cls(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {what} "{name}": {why}',
            details=_details(plural, name, group),
        )

    @classmethod
    def stale(cls, plural: str, name: str, group: str = "") -> KubeError:
        why = "the object has been modified; please apply your changes to the latest version and try again"
        return cls.conflict(plural, name, why, group)

    @classmethod
    def invalid(cls, kind: str, name: str, causes: list[str], group: str = "") -> KubeError:
        message = f'{kind} "{name}" is invalid: ' + ", ".join(causes)
        details = {"name": name, "group": group, "kind": kind, "causes": [{"message": c} for c in causes]}
        return cls(422, "Invalid", message, details=details)

    @classmethod
    def bad_request(cls, message: str) -> KubeError:
        return cls(400, "BadRequest", message)

    @classmethod
    def expired(cls, message: str) -> KubeError:
        return cls(410, "Expired", message)

    @classmethod
    def method_not_allowed(cls) -> KubeError:
        return cls(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    @classmethod
    def no_route(cls) -> KubeError:
        return cls(404, "NotFound", "the server could not find the requested resource")

    @classmethod
    def injected(cls, code: int, message: str | None = None) -> KubeError:
        reason = REASONS.get(code, "Unknown")
        return cls(code, reason, message or f"injected fault: {reason}")


def _details(plural: str, name: str, group: str) -> dict[str, Any]:
    return {"name": name, "group": group, "kind": plural} if group else {"name": name, "kind": plural}
