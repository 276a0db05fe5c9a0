"""render: the provider-neutral spec and the annotation table, without any provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import NODES, Invoke, Write, service

ANNOTATED = service(
    ports=[
        {"name": "http", "port": 80, "nodePort": 30080, "targetPort": 8080},
        {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053},
    ],
    annotations={
        "cloudlb.io/algorithm": "least-connections",
        "cloudlb.io/proxy-protocol": "v2",
        "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
        "service.beta.kubernetes.io/load-balancer-source-ranges": "10.0.0.0/8",
        "example.com/owner": "team-a",
    },
)


@pytest.fixture
def manifest(write: Write) -> Path:
    return write("web.yaml", ANNOTATED, *NODES)


def line_with(text: str, needle: str) -> str:
    return next(line for line in text.splitlines() if needle in line)


def test_render_text(invoke: Invoke, manifest: Path) -> None:
    result = invoke("render", "-f", manifest)

    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Service shop/web" in out
    assert line_with(out, "algorithm").split()[-1] == "least-connections"
    assert line_with(out, "proxy protocol").split()[-1] == "v2"
    assert line_with(out, "source ranges").split()[-1] == "10.0.0.0/8"
    assert line_with(out, "scheme").split()[-1] == "external"
    assert line_with(out, "http ").split() == ["http", "TCP", "80", "30080", "8080", "2"]
    assert line_with(out, "dns ").split() == ["dns", "UDP", "53", "30053", "53", "2"]
    assert line_with(out, "10.1.0.2:30053").split() == ["10.1.0.2:30053", "n2", "dns"]
    assert line_with(out, "cloudlb.io/algorithm").split()[:4] == [
        "cloudlb.io/algorithm",
        "least-connections",
        "core",
        "all",
    ]
    assert line_with(out, "aws-load-balancer-type").split()[2:4] == ["provider", "aws"]
    assert line_with(out, "example.com/owner").split()[2] == "ignored"


@pytest.mark.parametrize(
    ("fmt", "parse"),
    [pytest.param("json", json.loads, id="json"), pytest.param("yaml", yaml.safe_load, id="yaml")],
)
def test_render_data(invoke: Invoke, manifest: Path, fmt: str, parse: object) -> None:
    result = invoke("render", "-f", manifest, "-o", fmt, "--cluster", "prod")

    assert result.exit_code == 0, result.stderr
    [item] = parse(result.stdout)  # type: ignore[operator]
    spec = item["spec"]
    assert item["service"] == "shop/web"
    assert (spec["cluster"], spec["namespace"], spec["name"]) == ("prod", "shop", "web")
    assert spec["algorithm"] == "least-connections"
    assert spec["proxy_protocol"] == "v2"
    assert spec["source_ranges"] == ["10.0.0.0/8"]
    assert [(lst["name"], lst["protocol"], lst["port"]) for lst in spec["listeners"]] == [
        ("http", "TCP", 80),
        ("dns", "UDP", 53),
    ]
    assert spec["listeners"][0]["targets"] == [
        {"ip": "10.1.0.1", "port": 30080, "node_name": "n1", "provider_id": None, "zone": None},
        {"ip": "10.1.0.2", "port": 30080, "node_name": "n2", "provider_id": None, "zone": None},
    ]
    uses = {a["key"]: (a["use"], a["provider"]) for a in item["annotations"]}
    assert uses == {
        "cloudlb.io/algorithm": ("core", None),
        "cloudlb.io/proxy-protocol": ("core", None),
        "example.com/owner": ("ignored", None),
        "service.beta.kubernetes.io/aws-load-balancer-type": ("provider", "aws"),
        "service.beta.kubernetes.io/load-balancer-source-ranges": ("core", None),
    }


def test_render_from_stdin_skips_other_services(invoke: Invoke, manifest: Path, write: Write) -> None:
    other = write("internal.yaml", service("internal", type_="ClusterIP"))

    result = invoke("render", "-f", other, "-f", "-", "-o", "json", input=manifest.read_text())

    assert result.exit_code == 0, result.stderr
    assert [item["service"] for item in json.loads(result.stdout)] == ["shop/web"]


def test_render_unknown_annotation(invoke: Invoke, write: Write) -> None:
    path = write("typo.yaml", service(annotations={"cloudlb.io/proxy-protocl": "v2"}))

    result = invoke("render", "-f", path)

    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert 'did you mean "cloudlb.io/proxy-protocol"?' in line
