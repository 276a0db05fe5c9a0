"""The core stays SDK-free: importing any ``cloudlb`` module loads no cloud SDK or Kubernetes client.

Two checks, because each misses what the other sees: the runtime one catches an SDK pulled in transitively by a
third-party import; the static one catches an import hidden in a function body that never ran.
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

# Runs in a fresh interpreter so nothing the test session already imported can hide or fake a result.
_PROBE = """
import importlib, json, pkgutil, sys
import cloudlb
imported, failed = [], {}
for info in pkgutil.walk_packages(cloudlb.__path__, "cloudlb."):
    try:
        importlib.import_module(info.name)
        imported.append(info.name)
    except Exception as exc:
        failed[info.name] = f"{type(exc).__name__}: {exc}"
forbidden = tuple(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in forbidden)
print(json.dumps({"imported": imported, "failed": failed, "loaded": loaded}))
"""


def forbidden_imports(source: str, filename: str = "<string>") -> list[str]:
    """Every forbidden top-level package ``source`` imports, anywhere in the file (function bodies included)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [name for name in names if name.split(".")[0] in FORBIDDEN]
    return found


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


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=str(p.relative_to(PACKAGE_DIR))) for p in sorted(PACKAGE_DIR.rglob("*.py"))],
)
def test_core_source_has_no_forbidden_import(path: Path) -> None:
    assert forbidden_imports(path.read_text(encoding="utf-8"), filename=str(path)) == []


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
