"""The cloudlb error hierarchy.

Errors are grouped by what the caller should do with them, not by where they came from:

- ``InvalidSpecError`` / ``ConfigError`` / ``UnsupportedFeatureError``: the input is wrong; fix it, do not retry.
  These are raised before any cloud call.
- ``TemporaryError``: safe to retry, after ``retry_after`` seconds when the cloud said so.
- ``PermanentError``, ``NotFoundError``, ``ConflictError``: the cloud refused; retrying unchanged will not help.

Each class carries the CLI exit code it maps to (0 ok, 1 cloud failure, 2 bad input or usage).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "CloudLBError",
    "ConfigError",
    "ConflictError",
    "InvalidSpecError",
    "NotFoundError",
    "PermanentError",
    "ProviderError",
    "ProviderLoadError",
    "TemporaryError",
    "UnsupportedFeatureError",
]


class CloudLBError(Exception):
    """Base of every error cloudlb raises on purpose."""

    exit_code: int = 1


class InvalidSpecError(CloudLBError, ValueError):
    """A manifest or spec is malformed. ``path`` names the field, e.g. ``spec.ports[1].port``."""

    exit_code = 2

    def __init__(self, path: str, message: str, *, source: str | None = None) -> None:
        self.path = path
        self.message = message
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{path}: {message}" if path else f"{where}{message}")


class ConfigError(CloudLBError):
    """The configuration (file, flags or provider options) is wrong."""

    exit_code = 2


class ProviderLoadError(ConfigError):
    """A provider plugin is unknown or broken; the message names the plugin and what it lacks."""


class UnsupportedFeatureError(CloudLBError):
    """The provider cannot honour the spec. Raised from ``plan()``, before any mutation."""

    exit_code = 2

    def __init__(self, provider: str, features: Iterable[str], *, detail: str = "") -> None:
        self.provider = provider
        self.features = tuple(sorted(features))
        extra = f" ({detail})" if detail else ""
        super().__init__(f"provider {provider!r} does not support: {', '.join(self.features)}{extra}")


class ProviderError(CloudLBError):
    """A cloud call failed. SDK errors are wrapped with ``raise ProviderError(...) from exc``."""


class TemporaryError(ProviderError):
    """Throttled, busy or pending: safe to retry, after ``retry_after`` seconds if known."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class PermanentError(ProviderError):
    """The cloud refused in a way retrying will not fix (quota, validation, ERROR state)."""


class NotFoundError(ProviderError):
    """A resource that must exist does not."""


class ConflictError(ProviderError):
    """The resource exists in a state that conflicts with the request (e.g. owned by someone else)."""
