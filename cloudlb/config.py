"""The CLI's configuration: which provider, which cluster, and the provider's options.

Where this sits: ``cloudlb.cli`` resolves a ``Config`` before it creates a provider. A config file (``--config FILE``
or ``$CLOUDLB_CONFIG``) is YAML with exactly the keys ``provider``, ``cluster`` and ``options``; ``options`` are the
keyword arguments of ``get_provider(provider, **options)``. Precedence: flags, then the file, then the defaults.

``cloudlb mock-server NAME`` prints ``{"provider": NAME, "options": {...}}`` as its first stdout line, and that output
saved to a file must work as ``--config``. JSON is YAML in principle, but not every JSON text is accepted by a YAML
1.1 parser (``"\\/"`` escapes, for one), and a saved stream may hold later lines too; so a file that starts with a
JSON object is read as JSON.
"""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cloudlb.errors import ConfigError

__all__ = ["DEFAULT_CLUSTER", "DEFAULT_PROVIDER", "KEYS", "Config", "FileConfig", "load_config_file", "resolve_config"]

log = logging.getLogger(__name__)

DEFAULT_PROVIDER = "local"
DEFAULT_CLUSTER = "default"
KEYS = ("provider", "cluster", "options")


@dataclass(frozen=True, slots=True)
class FileConfig:
    """What one config file says; ``None`` where it is silent."""

    path: str
    provider: str | None = None
    cluster: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Config:
    """The resolved configuration: what the CLI passes to ``get_provider`` and uses as the cluster name."""

    provider: str = DEFAULT_PROVIDER
    cluster: str = DEFAULT_CLUSTER
    options: Mapping[str, Any] = field(default_factory=dict)
    cluster_explicit: bool = False  # set by a flag or a file, not by the default (gc insists on one)
    source: str | None = None  # the config file, if one was read


def load_config_file(path: str | Path) -> FileConfig:
    """Read and validate one config file. Every problem is a one-line ``ConfigError`` naming the file."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {name}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {name}: is a directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {name}: cannot read: {_one_line(exc)}") from exc
    data = _parse(name, text)
    if data is None:  # an empty file configures nothing
        return FileConfig(path=name)
    if not isinstance(data, Mapping):
        raise ConfigError(f"config file {name}: expected a mapping with keys {', '.join(KEYS)}, got {_kind(data)}")
    for key in data:
        if key not in KEYS:
            raise ConfigError(f"config file {name}: unknown key {key!r}{_suggest(str(key), KEYS)}")
    provider = _optional_str(name, data, "provider")
    cluster = _optional_str(name, data, "cluster")
    options = data.get("options")
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"config file {name}: options: expected a mapping of provider options, got {_kind(options)}")
    for key in options:
        if not isinstance(key, str) or not key.isidentifier():
            raise ConfigError(f"config file {name}: options: {key!r} is not a valid option name")
    return FileConfig(path=name, provider=provider, cluster=cluster, options=dict(options))


def resolve_config(
    *,
    config_path: str | Path | None = None,
    provider: str | None = None,
    cluster: str | None = None,
) -> Config:
    """Merge flags (``provider``, ``cluster``) over the config file over the defaults.

    A file's ``options`` belong to the file's provider: when a flag picks another provider they are dropped, with
    a warning, rather than passed to a provider that would reject or, worse, misread them.
    """
    file = load_config_file(config_path) if config_path else None
    if file is None:
        return Config(
            provider=provider or DEFAULT_PROVIDER,
            cluster=cluster or DEFAULT_CLUSTER,
            cluster_explicit=cluster is not None,
        )
    file_provider = file.provider or DEFAULT_PROVIDER
    chosen = provider or file_provider
    options: Mapping[str, Any] = file.options
    if chosen != file_provider:
        if options:
            log.warning(
                "--provider %s overrides provider %r of config file %s; its options (%s) are not used",
                chosen,
                file_provider,
                file.path,
                ", ".join(sorted(options)),
            )
        options = {}
    return Config(
        provider=chosen,
        cluster=cluster or file.cluster or DEFAULT_CLUSTER,
        options=dict(options),
        cluster_explicit=cluster is not None or file.cluster is not None,
        source=file.path,
    )


def _parse(name: str, text: str) -> Any:
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            # raw_decode reads the first JSON value and tolerates what follows (later lines of a saved stream).
            value, _end = json.JSONDecoder().raw_decode(stripped)
            return value
        except json.JSONDecodeError:
            pass  # a YAML flow mapping such as {provider: local}
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or _one_line(exc)
        raise ConfigError(f"config file {name}: invalid YAML{where}: {problem}") from exc


def _optional_str(name: str, data: Mapping[Any, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"config file {name}: {key}: expected a non-empty string, got {_kind(value)}")
    return value


def _suggest(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(choices)})"


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}" if value else "an empty string"
    return f"{type(value).__name__} {value!r}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
