"""``cloudlb controller`` replicas as real processes (``python -m cloudlb.controller``), for the HA tests.

A test can kill one with SIGKILL (a crashed node), freeze it with SIGSTOP (a partitioned one) or stop it with
SIGTERM (a rolling update), and reads each replica's own view from its /metrics.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Replica", "free_port", "write_config"]

# Short lease timings so a failover fits a test: 3 s lease, 2 s renew deadline, 0.5 s retry period.
LEASE_FLAGS = ("--lease-duration", "3", "--renew-deadline", "2", "--retry-period", "0.5")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_config(directory: Path, state_dir: Path, *, cluster: str = "test") -> Path:
    path = directory / "cloudlb.yaml"
    path.write_text(json.dumps({"provider": "local", "cluster": cluster, "options": {"state_dir": str(state_dir)}}))
    return path


class Replica:
    def __init__(self, name: str, *, kubeconfig: str, config: Path, log_dir: Path, extra: Sequence[str] = ()) -> None:
        self.name = name
        self.metrics_port = free_port()
        self.log_path = log_dir / f"{name}.log"
        command = [
            sys.executable,
            "-m",
            "cloudlb.controller",
            "--kubeconfig",
            kubeconfig,
            "--config",
            str(config),
            "--identity",
            name,
            "--metrics-address",
            f"127.0.0.1:{self.metrics_port}",
            "--min-sync-interval",
            "0.1",
            *LEASE_FLAGS,
            *extra,
        ]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in wait()
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, sig)

    def wait(self, timeout: float = 30.0) -> int:
        try:
            code = self.process.wait(timeout)
        finally:
            self._log.close()
        return code

    def stop(self) -> None:
        """At teardown: make sure it is gone, whatever state the test left it in."""
        if self.process.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGKILL)
        self.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def probe(self, path: str) -> tuple[int, str] | None:
        """(status, body) of GET ``path`` on the replica's health server; None while nothing answers."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}{path}", timeout=2) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return None

    def _samples(self) -> list[tuple[str, dict[str, str], float]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as answer:
                text = answer.read().decode()
        except OSError:
            return []
        return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples]

    def metric(self, name: str, **labels: str) -> float | None:
        """One sample from this replica's /metrics; None if it has not been recorded (or nobody answers)."""
        for sample, found, value in self._samples():
            if sample == name and found == labels:
                return value
        return None

    def total(self, name: str) -> float:
        """The sum of every sample of ``name`` across its labels (0 when none)."""
        return sum(value for sample, _labels, value in self._samples() if sample == name)
