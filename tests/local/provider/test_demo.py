"""``cloudlb demo`` end to end, as a user runs it: the console script in a subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest


def cloudlb_command() -> list[str]:
    script = Path(sys.executable).parent / "cloudlb"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cloudlb.cli"]


def demo_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("cloudlb-demo-*"))


def rows(output: str) -> list[dict[str, int]]:
    """Each spread table as ``{backend: requests}``, in the order printed."""
    tables: list[dict[str, int]] = []
    for block in re.split(r"requests (?:to|after)", output)[1:]:
        found = re.findall(r"(backend-\d)\s*\S\s*127\.0\.0\.\d+\s*\S\s*(\d+)", block)
        tables.append({name: int(count) for name, count in found[:3]})
    return tables


def test_demo_spreads_traffic_then_fails_over_and_cleans_up() -> None:
    before = demo_dirs()
    result = subprocess.run(
        [*cloudlb_command(), "demo", "--requests", "30"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Plan for load balancer k8s-demo-web-" in out
    assert "serving" in out
    first, second = rows(out)
    assert set(first) == {"backend-1", "backend-2", "backend-3"}
    assert all(count > 0 for count in first.values()), first
    assert second["backend-2"] == 0 and second["backend-1"] > 0 and second["backend-3"] > 0, second
    assert "traffic reached 3 of 3 backends" in out
    assert "traffic reached 2 of 3 backends" in out
    assert re.search(r"took backend-2 out of the pool after \d+\.\d+s", out)
    assert demo_dirs() == before  # the temporary state dir is gone


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_demo_interrupted_cleans_up_everything() -> None:
    before = demo_dirs()
    process = subprocess.Popen(
        [*cloudlb_command(), "demo", "--keep"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        output = []
        for line in process.stdout:  # wait until it serves and says so
            output.append(line)
            if "still serving" in line:
                break
        started = demo_dirs() - before
        assert len(started) == 1, "".join(output)
        daemon_pid = _daemon_pid(next(iter(started)))
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, "".join(output) + rest
    assert "interrupted" in rest
    assert demo_dirs() == before
    assert not _alive(daemon_pid)


def _daemon_pid(demo_dir: Path) -> int:
    return int(json.loads((demo_dir / "state" / "api.json").read_text())["pid"])


def _alive(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.05)
    return True
