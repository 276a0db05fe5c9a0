"""The Provider protocol, capability checks and the entry-point registry.

Where this sits: every backend is a plugin registered under the ``cloudlb.providers`` entry-point group. The entry
point names a factory (usually the provider class) called as ``factory(**options)``; ``get_provider`` loads it,
validates it at load time, and returns the instance. Nothing here imports a cloud SDK.

Library users and tests can also bring a provider without packaging it: ``register_provider(name, factory)`` puts
it in a small process-wide table that wins over an entry point of the same name, and ``unregister_provider(name)``
takes it out again. That table is the only global state here; entry points are read afresh on every lookup.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Protocol as TypingProtocol
from typing import runtime_checkable

from cloudlb.capabilities import check_supported, missing_features, required_features
from cloudlb.errors import ConfigError, ProviderLoadError
from cloudlb.model import (
    Feature,
    LoadBalancerSpec,
    LoadBalancerStatus,
    OwnedLoadBalancer,
)
from cloudlb.plan import Plan

__all__ = [
    "ENTRY_POINT_GROUP",
    "REQUIRED_MEMBERS",
    "Provider",
    "ProviderFactory",
    "available_providers",
    "check_supported",
    "get_provider",
    "missing_features",
    "register_provider",
    "required_features",
    "unregister_provider",
]

ENTRY_POINT_GROUP = "cloudlb.providers"


@runtime_checkable
class Provider(TypingProtocol):
    """The shape of Kubernetes' cloud-provider ``LoadBalancer`` interface, provider-neutral.

    ``get`` and ``delete`` need only the identity fields of a spec (cluster, namespace, name, uid); ``delete`` also
    accepts an ``OwnedLoadBalancer`` from ``list_owned``, which is how ``gc`` removes orphans.
    """

    name: str

    @property
    def capabilities(self) -> frozenset[Feature]: ...

    def load_balancer_name(self, spec: LoadBalancerSpec) -> str: ...

    def plan(self, spec: LoadBalancerSpec) -> Plan: ...

    def ensure(self, spec: LoadBalancerSpec) -> LoadBalancerStatus: ...

    def update_targets(self, spec: LoadBalancerSpec) -> None: ...

    def get(self, spec: LoadBalancerSpec) -> LoadBalancerStatus | None: ...

    def delete(self, spec: LoadBalancerSpec | OwnedLoadBalancer) -> bool: ...

    def list_owned(self, cluster: str) -> list[OwnedLoadBalancer]: ...


ProviderFactory = Callable[..., Provider]

REQUIRED_MEMBERS: tuple[str, ...] = (
    "capabilities",
    "load_balancer_name",
    "plan",
    "ensure",
    "update_targets",
    "get",
    "delete",
    "list_owned",
)

# Explicit registrations (register_provider); they shadow entry points of the same name.
_registered: dict[str, ProviderFactory] = {}

_UNEXPECTED_KWARG = re.compile(r"unexpected keyword argument '([^']+)'")
_BY_KEYWORD = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def register_provider(name: str, factory: ProviderFactory, *, replace: bool = False) -> None:
    """Make ``get_provider(name, **options)`` call ``factory(**options)``, ahead of any entry point ``name``.

    Registering a name twice is refused unless ``replace=True``, so a test that forgets to unregister is caught.
    """
    if not name or not isinstance(name, str):
        raise ValueError(f"provider name must be a non-empty string, not {name!r}")
    if not callable(factory):
        raise TypeError(f"provider factory for {name!r} must be callable, not {factory!r}")
    if name in _registered and not replace:
        raise ValueError(f"provider {name!r} is already registered; pass replace=True to replace it")
    _registered[name] = factory


def unregister_provider(name: str) -> bool:
    """Remove an explicit registration. Returns False when ``name`` was not registered (entry points stay)."""
    return _registered.pop(name, None) is not None


def available_providers() -> tuple[str, ...]:
    """Every provider name ``get_provider`` accepts, sorted: installed entry points plus explicit registrations."""
    return tuple(sorted(set(_entry_points()) | set(_registered)))


def get_provider(name: str = "local", /, **options: object) -> Provider:
    """Load provider ``name``, build it with ``options`` and check it is a whole ``Provider``.

    Raises ``ProviderLoadError`` when the name is unknown, the plugin cannot be imported (usually its extra is not
    installed) or the object it builds lacks members; ``ConfigError`` when it rejects an option.
    """
    if name in _registered:
        factory, origin = _registered[name], f"registered factory {_describe(_registered[name])}"
    else:
        entry_points = _entry_points()
        if name not in entry_points:
            raise ProviderLoadError(_unknown_message(name, available_providers()))
        entry_point = entry_points[name]
        origin = f"entry point {entry_point.value!r}"
        factory = _load(name, entry_point)
    _check_options(name, factory, options)
    try:
        provider = factory(**options)
    except TypeError as exc:
        # A factory taking **kwargs may still refuse a name; anything else is a bug and propagates as is.
        match = _UNEXPECTED_KWARG.search(str(exc))
        if match is None:
            raise
        raise ConfigError(f"provider {name!r} does not accept option {match.group(1)!r}") from exc
    _validate(name, origin, provider)
    return provider


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry_point.name, entry_point)  # the first distribution on sys.path wins, like imports
    return found


def _load(name: str, entry_point: importlib.metadata.EntryPoint) -> ProviderFactory:
    try:
        loaded = entry_point.load()
    except ImportError as exc:
        raise ProviderLoadError(
            f"provider {name!r} (entry point {entry_point.value!r}) could not be imported: {exc}. "
            f"Install its dependencies with: pip install 'cloudlb[{name}]'"
        ) from exc
    except Exception as exc:  # a plugin's import-time bug must still name the plugin
        raise ProviderLoadError(
            f"provider {name!r} (entry point {entry_point.value!r}) failed to load: {type(exc).__name__}: {exc}"
        ) from exc
    if not callable(loaded):
        raise ProviderLoadError(
            f"provider {name!r} (entry point {entry_point.value!r}) is not callable: it lacks a factory"
        )
    factory: ProviderFactory = loaded
    return factory


def _check_options(name: str, factory: ProviderFactory, options: Mapping[str, object]) -> None:
    """Refuse unknown options before the factory runs, so its own TypeErrors are never mistaken for ours."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins and some C callables have no signature; the call will tell
        return
    params = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = sorted(n for n, p in params.items() if p.kind in _BY_KEYWORD)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        hints = [f"{u!r}{_suggest(u, accepted)}" for u in unknown]
        raise ConfigError(
            f"provider {name!r} does not accept option {', '.join(hints)}; "
            f"it accepts: {', '.join(accepted) or '(no options)'}"
        )
    missing = sorted(
        n
        for n, p in params.items()
        if p.default is inspect.Parameter.empty and p.kind in _BY_KEYWORD and n not in options
    )
    if missing:
        raise ConfigError(f"provider {name!r} needs option {', '.join(repr(m) for m in missing)}")


def _validate(name: str, origin: str, provider: object) -> None:
    lacks = [member for member in REQUIRED_MEMBERS if not hasattr(provider, member)]
    lacks += [
        f"{member} (not callable)"
        for member in REQUIRED_MEMBERS
        if member != "capabilities" and hasattr(provider, member) and not callable(getattr(provider, member))
    ]
    provider_name = getattr(provider, "name", None)
    if not isinstance(provider_name, str) or not provider_name:
        lacks.append("name (a non-empty str)")
    if hasattr(provider, "capabilities"):
        capabilities = getattr(provider, "capabilities")  # noqa: B009 - provider is an unchecked object
        if not isinstance(capabilities, frozenset) or not all(isinstance(f, Feature) for f in capabilities):
            lacks.append("capabilities (a frozenset of Feature)")
    if lacks:
        raise ProviderLoadError(
            f"provider {name!r} ({origin}) built {type(provider).__name__}, which lacks: {', '.join(lacks)}"
        )


def _unknown_message(name: str, available: tuple[str, ...]) -> str:
    if not available:
        return f"unknown provider {name!r}: no providers are installed"
    return f"unknown provider {name!r}{_suggest(name, available)}; available: {', '.join(available)}"


def _suggest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _describe(factory: ProviderFactory) -> str:
    module = getattr(factory, "__module__", "?")
    qualname = getattr(factory, "__qualname__", type(factory).__name__)
    return f"{module}:{qualname}"
