"""Coercion of provider options: the keyword arguments of ``get_provider(name, **options)``, typed once.

Where this sits: a provider's options dataclass (``AwsOptions``, ``AzureOptions``) reads each field's annotation
text as its ``kind`` and hands each keyword argument here, after handling the kinds only it knows (AWS's
``LoadBalancerType``, its id lists). Values come loose from YAML config files and ``-o KEY=VALUE`` flags, so the
strings ``true``/``false`` and numbers as text are accepted; anything else raises ``ConfigError`` as
``<provider> option '<name>' must be ...``. Checks across fields and of ranges stay with the provider.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from cloudlb.errors import ConfigError
from cloudlb.fields import show

__all__ = ["coerce_option", "options_from_kwargs"]

T = TypeVar("T")


def options_from_kwargs(
    cls: type[T], provider: str, options: Mapping[str, object], coerce: Callable[[str, object, str], object]
) -> T:
    """Build the options dataclass ``cls`` from ``get_provider`` keyword arguments.

    An unknown name is a ``ConfigError`` that suggests the nearest field. ``None`` keeps a field's default, except
    where the field's type admits None (a rate limit of None turns the limiter off). ``coerce(name, value, kind)``
    converts each value; it usually handles the provider's own kinds and calls ``coerce_option`` for the rest.
    """
    kinds = {f.name: str(f.type) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for name in options:
        if name not in kinds:
            close = difflib.get_close_matches(name, sorted(kinds), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"provider {provider!r} does not accept option {name!r}{hint}")
    values: dict[str, Any] = {
        name: None if value is None else coerce(name, value, kinds[name])
        for name, value in options.items()
        if value is not None or "None" in kinds[name]
    }
    return cls(**values)


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
