"""Bad input fails with one line and exit 2 before any provider exists; other failures map to their exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudlb.cli import main
from cloudlb.model import LoadBalancerSpec, LoadBalancerStatus
from cloudlb.plan import Plan
from cloudlb.provider import register_provider, unregister_provider
from tests.cli.conftest import NODES, Invoke, Write, service
from tests.support.memory import MemoryProvider
from tests.support.memory_cloud import MemoryCloud


@pytest.fixture
def built(memory_cloud: MemoryCloud) -> Iterator[list[dict[str, Any]]]:
    """Provider "counted": a MemoryProvider that records each construction, to prove none happened."""
    constructions: list[dict[str, Any]] = []

    def factory(**options: Any) -> MemoryProvider:
        constructions.append(options)
        return MemoryProvider(memory_cloud, **options)

    register_provider("counted", factory)
    try:
        yield constructions
    finally:
        unregister_provider("counted")


PORT_70000 = service(ports=[{"name": "http", "port": 70000, "nodePort": 30080}])
TYPO = service(annotations={"cloudlb.io/algoritm": "random"})


@pytest.mark.parametrize(
    ("command", "content", "expected"),
    [
        pytest.param("apply", PORT_70000, "spec.ports[0].port", id="apply-bad-port"),
        pytest.param("plan", PORT_70000, "spec.ports[0].port", id="plan-bad-port"),
        pytest.param("get", PORT_70000, "spec.ports[0].port", id="get-bad-port"),
        pytest.param("sync", PORT_70000, "spec.ports[0].port", id="sync-bad-port"),
        pytest.param("delete", PORT_70000, "spec.ports[0].port", id="delete-bad-port"),
        pytest.param("apply", TYPO, 'metadata.annotations["cloudlb.io/algoritm"]', id="unknown-annotation-path"),
        pytest.param("apply", TYPO, 'did you mean "cloudlb.io/algorithm"?', id="unknown-annotation-suggests"),
        pytest.param("apply", "kind: Service\nspec: [\n", "invalid YAML", id="bad-yaml"),
        pytest.param("apply", "- 1\n- 2\n", "a manifest must be a mapping", id="not-a-mapping"),
    ],
)
def test_bad_manifest_exits_2_with_one_line_and_no_cloud_call(
    memory_cloud: MemoryCloud,
    built: list[dict[str, Any]],
    invoke: Invoke,
    write: Write,
    tmp_path: Path,
    command: str,
    content: dict[str, Any] | str,
    expected: str,
) -> None:
    if isinstance(content, str):
        path = tmp_path / "bad.yaml"
        path.write_text(content)
    else:
        path = write("bad.yaml", content, *NODES)

    result = invoke(command, "--provider", "counted", "-f", path)

    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {path}#1")
    assert expected in line
    assert "Traceback" not in result.stderr
    assert memory_cloud.calls == []
    assert built == []


def test_one_bad_manifest_stops_all(
    memory_cloud: MemoryCloud, built: list[dict[str, Any]], invoke: Invoke, write: Write
) -> None:
    good = write("good.yaml", service("good"), *NODES)
    bad = write("bad.yaml", PORT_70000)

    result = invoke("apply", "--provider", "counted", "-f", good, "-f", bad)

    assert result.exit_code == 2
    assert memory_cloud.calls == [] and built == []


def test_missing_file(memory_cloud: MemoryCloud, built: list[dict[str, Any]], invoke: Invoke, tmp_path: Path) -> None:
    result = invoke("apply", "--provider", "counted", "-f", tmp_path / "nope.yaml")

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'nope.yaml'}: cannot read the file")
    assert len(result.stderr.splitlines()) == 1
    assert memory_cloud.calls == [] and built == []


def test_unknown_provider(invoke: Invoke, write: Write, registered_memory: MemoryCloud) -> None:
    result = invoke("apply", "--provider", "memroy", "-f", write("web.yaml", service()))

    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("error: unknown provider 'memroy' (did you mean 'memory'?)")


def test_cloud_failure_exits_1(registered_memory: MemoryCloud, invoke: Invoke, write: Write) -> None:
    registered_memory.fail_at(1)

    result = invoke("apply", "--provider", "memory", "-f", write("web.yaml", service(), *NODES))

    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith("error: injected failure at create_pool")
    assert len(result.stderr.splitlines()) == 1


class _Exploding(MemoryProvider):
    def __init__(self, cloud: MemoryCloud, exc: BaseException) -> None:
        super().__init__(cloud)
        self.exc = exc

    def plan(self, spec: LoadBalancerSpec) -> Plan:
        raise self.exc

    def ensure(self, spec: LoadBalancerSpec) -> LoadBalancerStatus:
        raise self.exc


@pytest.fixture
def exploding(memory_cloud: MemoryCloud) -> Iterator[None]:
    register_provider("bug", lambda: _Exploding(memory_cloud, RuntimeError("boom\nsecond line")))
    register_provider("ctrl-c", lambda: _Exploding(memory_cloud, KeyboardInterrupt()))
    try:
        yield
    finally:
        unregister_provider("bug")
        unregister_provider("ctrl-c")


def test_internal_error_is_one_line_without_debug(exploding: None, invoke: Invoke, write: Write) -> None:
    result = invoke("apply", "--provider", "bug", "-f", write("web.yaml", service()))

    assert result.exit_code == 1
    assert result.stderr == (
        "error: internal error: RuntimeError: boom; second line (rerun with --debug for the traceback)\n"
    )


@pytest.mark.parametrize(
    "where",
    [pytest.param("command", id="on-the-command"), pytest.param("group", id="on-the-group")],
)
def test_debug_shows_traceback_and_logs(exploding: None, invoke: Invoke, write: Write, where: str) -> None:
    args = ["apply", "--provider", "bug", "-f", str(write("web.yaml", service()))]
    args = ["--debug", *args] if where == "group" else [*args, "--debug"]

    result = invoke(*args)

    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: boom" in result.stderr
    assert "debug: cloudlb" in result.stderr  # DEBUG logging reaches stderr
    assert result.stderr.splitlines()[-1] == "error: internal error: RuntimeError: boom; second line"


def test_keyboard_interrupt_exits_130(exploding: None, invoke: Invoke, write: Write) -> None:
    result = invoke("apply", "--provider", "ctrl-c", "-f", write("web.yaml", service()))

    assert result.exit_code == 130
    assert result.stderr == "error: interrupted\n"


def test_usage_error_exits_2(registered_memory: MemoryCloud, invoke: Invoke) -> None:
    result = invoke("apply", "--provider", "memory")

    assert result.exit_code == 2
    assert "give the manifests with -f/--filename" in result.stderr
    assert registered_memory.calls == []


def test_bad_output_format_exits_2(invoke: Invoke) -> None:
    result = invoke("list", "-o", "xml")

    assert result.exit_code == 2
    assert "'xml' is not one of 'text', 'json', 'yaml'" in result.stderr


@pytest.mark.parametrize(
    ("args", "code"),
    [
        pytest.param(["--help"], 0, id="help"),
        pytest.param(["apply"], 2, id="usage"),
        pytest.param(["apply", "-f", "{bad}"], 2, id="bad-manifest"),
        pytest.param(["list", "--provider", "memory"], 0, id="ok"),
    ],
)
def test_main_exits_with_the_code(
    registered_memory: MemoryCloud,
    write: Write,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    code: int,
) -> None:
    monkeypatch.delenv("CLOUDLB_CONFIG", raising=False)
    bad = write("bad.yaml", PORT_70000)

    with pytest.raises(SystemExit) as exited:
        main([a.format(bad=bad) for a in args])

    assert exited.value.code == code
    if code == 2 and "-f" in args:
        assert capsys.readouterr().err.startswith(f"error: {bad}#1: spec.ports[0].port")
