"""Coercion of provider options: the keyword arguments of ``get_provider(name, **options)``, typed once.

Where this sits: a provider's options dataclass (``AwsOptions``, ``AzureOptions``) reads each field's annotation
text as its ``kind`` and hands each keyword argument here, after handling the kinds only it knows (AWS's
``LoadBalancerType``, its id lists). Values come loose from YAML config files and ``-o KEY=VALUE`` flags, so the
strings ``true``/``false`` and numbers as text are accepted; anything else raises ``ConfigError`` as
``<provider> option '<name>' must be ...``. Checks across fields and of ranges stay with the provider.
"""

from __future__ import annotations

from cloudlb.errors import ConfigError
from cloudlb.fields import show

__all__ = ["coerce_option"]


def coerce_option(provider: str, name: str, value: object, kind: str) -> object:
    """``value`` as a ``bool``, ``int``, ``float`` or ``str``, by ``kind`` (the field annotation's text, such as
    ``"bool"`` or ``"float | None"``; any kind not a bool or a number means a string)."""
    if kind == "bool":
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if not isinstance(value, bool):
            raise ConfigError(f"{provider} option {name!r} must be true or false, not {show(value)}")
        return value
    if kind.startswith(("int", "float")):
        number_type = int if kind.startswith("int") else float
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ConfigError(f"{provider} option {name!r} must be a number, not {show(value)}")
        try:
            return number_type(value)
        except ValueError:
            raise ConfigError(f"{provider} option {name!r} must be a number, not {show(value)}") from None
    if not isinstance(value, str):
        raise ConfigError(f"{provider} option {name!r} must be a string, not {show(value)}")
    return value
