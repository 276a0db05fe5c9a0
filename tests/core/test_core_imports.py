"""The core stays SDK-free: importing any ``cloudlb`` module loads no cloud SDK or Kubernetes client.

Two checks, because each misses what the other sees: the runtime one catches an SDK pulled in transitively by a
third-party import; the static one catches an import hidden in a function body that never ran.

The one exception is the controller package, ``cloudlb/controller/``: it is the ``kube`` extra's feature and may
import ``kubernetes`` (and no other SDK). No core module may import the controller, so the core still loads
without it; the ``cloudlb controller`` command reaches it through an entry point.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cloudlb

FORBIDDEN = ("boto3", "botocore", "azure", "openstack", "keystoneauth1", "kubernetes", "moto")
PACKAGE_DIR = Path(cloudlb.__file__).resolve().parent
CONTROLLER = "cloudlb.controller"
CONTROLLER_DIR = PACKAGE_DIR / "controller"
CONTROLLER_MAY_IMPORT = ("kubernetes",)

# Runs in a fresh interpreter so nothing the test session already imported can hide or fake a result.
_PROBE = """
import importlib, json, pkgutil, sys
import cloudlb
imported, failed = [], {}
for info in pkgutil.walk_packages(cloudlb.__path__, "cloudlb."):
    if info.name.startswith("cloudlb.controller."):
        continue  # the kube extra's package, checked on its own
    try:
        importlib.import_module(info.name)
        imported.append(info.name)
    except Exception as exc:
        failed[info.name] = f"{type(exc).__name__}: {exc}"
forbidden = tuple(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in forbidden)
modules = sorted(m for m in sys.modules if m.startswith("cloudlb"))
print(json.dumps({"imported": imported, "failed": failed, "loaded": loaded, "modules": modules}))
"""


def imported_modules(source: str, filename: str = "<string>") -> list[str]:
    """Every absolute module name ``source`` imports, anywhere in the file (function bodies included)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
            if node.module == "cloudlb":  # from cloudlb import controller
                found += [f"cloudlb.{alias.name}" for alias in node.names]
    return found


def forbidden_imports(source: str, filename: str = "<string>", *, allowed: tuple[str, ...] = ()) -> list[str]:
    """Every forbidden top-level package ``source`` imports, except those ``allowed``."""
    return [
        name
        for name in imported_modules(source, filename)
        if name.split(".")[0] in FORBIDDEN and name.split(".")[0] not in allowed
    ]


def controller_imports(source: str, filename: str = "<string>") -> list[str]:
    """Every import of the controller package in ``source``."""
    return [
        name for name in imported_modules(source, filename) if name == CONTROLLER or name.startswith(CONTROLLER + ".")
    ]


def test_importing_every_core_module_loads_no_sdk() -> None:
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_DIR.parent)}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *FORBIDDEN],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["failed"] == {}
    # The walk really reached the core: without this an empty walk would pass vacuously.
    assert {"cloudlb.model", "cloudlb.plan", "cloudlb.provider", "cloudlb.errors"} <= set(report["imported"])
    assert report["loaded"] == []
    # No core module pulled a controller module in (walk_packages itself imports only the bare package).
    assert [m for m in report["modules"] if m.startswith(CONTROLLER + ".")] == []


def _in_controller(path: Path) -> bool:
    return path == CONTROLLER_DIR or CONTROLLER_DIR in path.parents


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=str(p.relative_to(PACKAGE_DIR))) for p in sorted(PACKAGE_DIR.rglob("*.py"))],
)
def test_core_source_has_no_forbidden_import(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    if _in_controller(path):
        assert forbidden_imports(source, filename=str(path), allowed=CONTROLLER_MAY_IMPORT) == []
    else:
        assert forbidden_imports(source, filename=str(path)) == []
        assert controller_imports(source, filename=str(path)) == []


def test_controller_command_loads_without_kubernetes() -> None:
    """The command module (what the entry point loads) defers the client, so `--help` works without the extra."""
    probe = (
        "import json, sys\n"
        "import cloudlb.controller.command\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes')))"
    )
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_DIR.parent)}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_the_controller_package_does_import_kubernetes() -> None:
    """The exception is real and used: without it the allow-list above would be dead."""
    sources = [p.read_text(encoding="utf-8") for p in CONTROLLER_DIR.glob("*.py")]
    assert any("kubernetes" in {m.split(".")[0] for m in imported_modules(s)} for s in sources)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("import boto3", ["boto3"], id="plain"),
        pytest.param("import json, botocore.session", ["botocore.session"], id="submodule-among-others"),
        pytest.param("from azure.mgmt.network import X", ["azure.mgmt.network"], id="from-import"),
        pytest.param("def f():\n    import kubernetes\n", ["kubernetes"], id="inside-function"),
        pytest.param("from openstack import connection", ["openstack"], id="openstack"),
        pytest.param("import keystoneauth1.session as ks", ["keystoneauth1.session"], id="aliased"),
        pytest.param("from . import boto3", [], id="relative-is-ours"),
        pytest.param("import azurelike\nimport cloudlb.model", [], id="prefix-is-not-a-match"),
    ],
)
def test_static_check_flags_forbidden_imports(source: str, expected: list[str]) -> None:
    assert forbidden_imports(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("import kubernetes.client", [], id="kubernetes-allowed"),
        pytest.param("import kubernetes, boto3", ["boto3"], id="other-sdk-still-forbidden"),
    ],
)
def test_static_check_allow_list(source: str, expected: list[str]) -> None:
    assert forbidden_imports(source, allowed=CONTROLLER_MAY_IMPORT) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("import cloudlb.controller.manager", ["cloudlb.controller.manager"], id="module"),
        pytest.param("from cloudlb.controller import queue", ["cloudlb.controller"], id="from-package"),
        pytest.param("from cloudlb import controller", ["cloudlb.controller"], id="from-cloudlb"),
        pytest.param("import cloudlb.controllers_like", [], id="prefix-is-not-a-match"),
    ],
)
def test_static_check_flags_controller_imports(source: str, expected: list[str]) -> None:
    assert controller_imports(source) == expected
