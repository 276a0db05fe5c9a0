"""The provider registry: entry-point discovery, load-time validation, options, explicit registration.

Discovery is tested with fake entry points, so nothing extra has to be installed: ``importlib.metadata.entry_points``
is swapped for one that serves this test's plugins, which live in modules planted in ``sys.modules`` or ``tmp_path``.
"""

from __future__ import annotations

import importlib.metadata
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudlb import provider as registry
from cloudlb.errors import ConfigError, ProviderLoadError
from cloudlb.provider import (
    ENTRY_POINT_GROUP,
    available_providers,
    get_provider,
    register_provider,
    unregister_provider,
)
from tests.support.memory import MemoryCloud, MemoryProvider

PLUGIN_MODULE = "cloudlb_fake_plugins"


class Partial:
    """A provider that forgot ``delete`` and ``list_owned``."""

    name = "partial"
    capabilities: frozenset[Any] = frozenset()

    def load_balancer_name(self, spec: object) -> str:
        return "x"

    def plan(self, spec: object) -> None: ...

    def ensure(self, spec: object) -> None: ...

    def update_targets(self, spec: object) -> None: ...

    def get(self, spec: object) -> None: ...


class Nameless(MemoryProvider):
    def __init__(self) -> None:
        super().__init__()
        del self.name


class NotCallableGet(MemoryProvider):
    get = "not a method"  # type: ignore[assignment]


class BadCapabilities(MemoryProvider):
    @property
    def capabilities(self) -> Any:
        return {"udp"}


def needs_region(*, region: str) -> MemoryProvider:
    return MemoryProvider(name=f"memory-{region}")


def kwargs_factory(**options: Any) -> MemoryProvider:
    # A wrapper that forwards options: only the call itself can tell which one is wrong.
    return MemoryProvider(**options)


def broken_factory(**options: Any) -> MemoryProvider:
    raise TypeError("a bug inside the plugin, not a bad option")


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """No explicit registration leaks in from other tests or out of these."""
    monkeypatch.setattr(registry, "_registered", {})


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """``plugins(name="module:attr", ...)`` makes those the installed providers."""
    module = types.ModuleType(PLUGIN_MODULE)
    for obj in (MemoryProvider, Partial, Nameless, NotCallableGet, BadCapabilities, needs_region):
        setattr(module, obj.__name__, obj)
    module.kwargs_factory = kwargs_factory  # type: ignore[attr-defined]
    module.broken_factory = broken_factory  # type: ignore[attr-defined]
    module.not_a_factory = 42  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, PLUGIN_MODULE, module)
    real = importlib.metadata.entry_points
    installed: list[importlib.metadata.EntryPoint] = []

    def fake_entry_points(**params: Any) -> Any:
        if params.get("group") == ENTRY_POINT_GROUP:
            return importlib.metadata.EntryPoints(installed)
        return real(**params)

    def install(**values: str) -> None:
        installed[:] = [importlib.metadata.EntryPoint(n, v, ENTRY_POINT_GROUP) for n, v in values.items()]

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    yield install


def test_a_complete_plugin_loads_with_its_options(plugins: Callable[..., None]) -> None:
    cloud = MemoryCloud()
    plugins(memory=f"{PLUGIN_MODULE}:MemoryProvider")

    provider = get_provider("memory", cloud=cloud, name="mem")

    assert isinstance(provider, MemoryProvider)
    assert provider.cloud is cloud
    assert provider.name == "mem"


def test_available_providers_are_sorted_and_include_registrations(plugins: Callable[..., None]) -> None:
    plugins(zeta=f"{PLUGIN_MODULE}:MemoryProvider", alpha=f"{PLUGIN_MODULE}:MemoryProvider")
    register_provider("mid", MemoryProvider)

    assert available_providers() == ("alpha", "mid", "zeta")


@pytest.mark.parametrize(
    ("attr", "lacks"),
    [
        pytest.param("Partial", ["delete", "list_owned"], id="missing-methods"),
        pytest.param("Nameless", ["name (a non-empty str)"], id="missing-name"),
        pytest.param("NotCallableGet", ["get (not callable)"], id="member-not-callable"),
        pytest.param("BadCapabilities", ["capabilities (a frozenset of Feature)"], id="bad-capabilities"),
    ],
)
def test_an_incomplete_plugin_is_refused_naming_what_it_lacks(
    plugins: Callable[..., None], attr: str, lacks: list[str]
) -> None:
    plugins(broken=f"{PLUGIN_MODULE}:{attr}")

    with pytest.raises(ProviderLoadError) as error:
        get_provider("broken")

    message = str(error.value)
    assert "'broken'" in message
    assert f"{PLUGIN_MODULE}:{attr}" in message
    assert message.endswith(f"lacks: {', '.join(lacks)}")


def test_a_plugin_whose_sdk_is_missing_names_the_extra(
    plugins: Callable[..., None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cloudlb_fake_aws.py").write_text("import cloudlb_sdk_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins(aws="cloudlb_fake_aws:AwsProvider")

    with pytest.raises(ProviderLoadError) as error:
        get_provider("aws")

    message = str(error.value)
    assert "'aws'" in message
    assert "cloudlb_fake_aws:AwsProvider" in message
    assert "cloudlb_sdk_that_is_not_installed" in message
    assert "pip install 'cloudlb[aws]'" in message
    assert isinstance(error.value.__cause__, ImportError)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(f"{PLUGIN_MODULE}:NoSuchClass", "failed to load", id="attribute-missing"),
        pytest.param(f"{PLUGIN_MODULE}:not_a_factory", "is not callable", id="not-callable"),
    ],
)
def test_a_plugin_that_names_no_factory_is_refused(plugins: Callable[..., None], value: str, expected: str) -> None:
    plugins(odd=value)

    with pytest.raises(ProviderLoadError, match=expected) as error:
        get_provider("odd")

    assert value in str(error.value)


@pytest.mark.parametrize(
    ("name", "installed", "expected"),
    [
        pytest.param("asw", ("aws", "azure", "local"), "did you mean 'aws'?", id="typo"),
        pytest.param("openstak", ("aws", "openstack"), "did you mean 'openstack'?", id="missing-letter"),
        pytest.param("gcp", ("aws", "local"), "available: aws, local", id="no-close-match"),
        pytest.param("aws", (), "no providers are installed", id="nothing-installed"),
    ],
)
def test_an_unknown_name_lists_what_is_available(
    plugins: Callable[..., None], name: str, installed: tuple[str, ...], expected: str
) -> None:
    plugins(**{n: f"{PLUGIN_MODULE}:MemoryProvider" for n in installed})

    with pytest.raises(ProviderLoadError) as error:
        get_provider(name)

    assert f"unknown provider {name!r}" in str(error.value)
    assert expected in str(error.value)


def test_no_close_match_makes_no_suggestion(plugins: Callable[..., None]) -> None:
    plugins(aws=f"{PLUGIN_MODULE}:MemoryProvider")

    with pytest.raises(ProviderLoadError) as error:
        get_provider("gcp")

    assert "did you mean" not in str(error.value)


@pytest.mark.parametrize(
    ("attr", "options", "expected"),
    [
        pytest.param(
            "MemoryProvider", {"nmae": "x"}, "does not accept option 'nmae' (did you mean 'name'?)", id="typo"
        ),
        pytest.param("MemoryProvider", {"zone": "a"}, "it accepts: capabilities, cloud, name", id="unknown"),
        pytest.param("needs_region", {}, "needs option 'region'", id="required-missing"),
        pytest.param("kwargs_factory", {"regoin": "x"}, "does not accept option 'regoin'", id="via-kwargs"),
    ],
)
def test_a_rejected_option_is_a_config_error(
    plugins: Callable[..., None], attr: str, options: dict[str, Any], expected: str
) -> None:
    plugins(fake=f"{PLUGIN_MODULE}:{attr}")

    with pytest.raises(ConfigError) as error:
        get_provider("fake", **options)

    assert not isinstance(error.value, ProviderLoadError)
    assert "'fake'" in str(error.value)
    assert expected in str(error.value)


def test_a_type_error_inside_a_factory_is_not_blamed_on_options(plugins: Callable[..., None]) -> None:
    plugins(fake=f"{PLUGIN_MODULE}:broken_factory")

    with pytest.raises(TypeError, match="a bug inside the plugin"):
        get_provider("fake")


def test_a_registration_wins_over_an_entry_point_until_unregistered(plugins: Callable[..., None]) -> None:
    plugins(memory=f"{PLUGIN_MODULE}:MemoryProvider")
    register_provider("memory", lambda: MemoryProvider(name="registered"))

    assert get_provider("memory").name == "registered"
    assert unregister_provider("memory") is True
    assert get_provider("memory").name == "memory"
    assert unregister_provider("memory") is False


def test_a_registered_factory_is_validated_too() -> None:
    register_provider("partial", Partial)  # type: ignore[arg-type]  # incomplete on purpose

    with pytest.raises(ProviderLoadError, match="lacks: delete, list_owned") as error:
        get_provider("partial")

    assert "registered factory" in str(error.value)


@pytest.mark.parametrize(
    ("name", "factory", "error"),
    [
        pytest.param("", MemoryProvider, ValueError, id="empty-name"),
        pytest.param("memory", "MemoryProvider", TypeError, id="factory-not-callable"),
    ],
)
def test_register_refuses_bad_arguments(
    plugins: Callable[..., None], name: str, factory: Any, error: type[Exception]
) -> None:
    plugins()

    with pytest.raises(error):
        register_provider(name, factory)

    assert available_providers() == ()


def test_registering_a_name_twice_needs_replace(plugins: Callable[..., None]) -> None:
    plugins()
    register_provider("memory", MemoryProvider)

    with pytest.raises(ValueError, match="already registered"):
        register_provider("memory", lambda: MemoryProvider(name="second"))
    register_provider("memory", lambda: MemoryProvider(name="second"), replace=True)

    assert get_provider("memory").name == "second"


def test_the_shared_fixture_registers_memory_for_one_test(registered_memory: MemoryCloud) -> None:
    provider = get_provider("memory", name="fixture")

    assert isinstance(provider, MemoryProvider)
    assert provider.cloud is registered_memory
    assert provider.name == "fixture"
