"""``cloudlb.options.coerce_option`` (provider option coercion) and ``service_options.parse_health_port``."""

from __future__ import annotations

import dataclasses

import pytest

from cloudlb.errors import ConfigError, InvalidSpecError
from cloudlb.options import coerce_option, options_from_kwargs
from cloudlb.service_options import parse_health_port


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        pytest.param("bool", True, True, id="bool"),
        pytest.param("bool", " False ", False, id="bool-text"),
        pytest.param("bool", "TRUE", True, id="bool-text-upper"),
        pytest.param("int", "8", 8, id="int-text"),
        pytest.param("int", 3, 3, id="int"),
        pytest.param("float", "0.5", 0.5, id="float-text"),
        pytest.param("float | None", 2, 2.0, id="optional-float"),
        pytest.param("str", "eu-west-1", "eu-west-1", id="str"),
        pytest.param("str | None", "x", "x", id="optional-str"),
    ],
)
def test_coerce_option(kind: str, value: object, expected: object) -> None:
    result = coerce_option("aws", "opt", value, kind)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("provider", "kind", "value", "message"),
    [
        pytest.param("aws", "bool", "yes", "aws option 'opt' must be true or false, not \"yes\"", id="bool-word"),
        pytest.param("azure", "bool", 1, "azure option 'opt' must be true or false, not 1", id="bool-int"),
        pytest.param("aws", "int", True, "aws option 'opt' must be a number, not true", id="int-bool"),
        pytest.param("azure", "float", "fast", "azure option 'opt' must be a number, not \"fast\"", id="float-word"),
        pytest.param("aws", "int", "1.5", "aws option 'opt' must be a number, not \"1.5\"", id="int-decimal"),
        pytest.param("aws", "float | None", [1], "aws option 'opt' must be a number, not a list", id="float-list"),
        pytest.param("azure", "str", 5, "azure option 'opt' must be a string, not 5", id="str-int"),
    ],
)
def test_coerce_option_rejects(provider: str, kind: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        coerce_option(provider, "opt", value, kind)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("traffic-port", None, id="traffic-port"),
        pytest.param(" 8080 ", 8080, id="number"),
        pytest.param("1", 1, id="lowest"),
        pytest.param("65535", 65535, id="highest"),
    ],
)
def test_parse_health_port(value: str, expected: int | None) -> None:
    assert parse_health_port(value, "metadata.annotations.x") == expected


@pytest.mark.parametrize("value", ["0", "65536", "http", "-1", "\uff18\uff10"])
def test_parse_health_port_rejects(value: str) -> None:
    with pytest.raises(InvalidSpecError) as caught:
        parse_health_port(value, "metadata.annotations.x")
    assert caught.value.path == "metadata.annotations.x"
    assert caught.value.message.endswith(" is not a port (1..65535) or traffic-port")


@dataclasses.dataclass(frozen=True)
class _Tuning:
    region: str = "r1"
    rate_limit: float | None = 10.0
    retries: int = 3
    verbose: bool = False


def _coerce(name: str, value: object, kind: str) -> object:
    return coerce_option("demo", name, value, kind)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param({}, _Tuning(), id="defaults"),
        pytest.param({"retries": "5", "verbose": "true"}, _Tuning(retries=5, verbose=True), id="strings-coerced"),
        pytest.param({"rate_limit": None}, _Tuning(rate_limit=None), id="none-turns-off-an-optional"),
        pytest.param({"retries": None}, _Tuning(), id="none-keeps-a-default"),
    ],
)
def test_options_from_kwargs_builds_the_dataclass(given: dict[str, object], expected: _Tuning) -> None:
    assert options_from_kwargs(_Tuning, "demo", given, _coerce) == expected


def test_options_from_kwargs_names_an_unknown_option_and_the_nearest_one() -> None:
    with pytest.raises(ConfigError) as caught:
        options_from_kwargs(_Tuning, "demo", {"regoin": "x"}, _coerce)
    assert str(caught.value) == "provider 'demo' does not accept option 'regoin' (did you mean 'region'?)"
