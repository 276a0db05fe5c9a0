"""A real local cloud daemon for tests: ``running_daemon(state_dir)`` starts one in a subprocess.

Where this sits: the daemon's own tests, the local provider's tests and the conformance suite all need a daemon
that behaves exactly as ``cloudlb serve`` does, signals and all, so this runs ``python -m cloudlb_local.daemon``
rather than the daemon's code in the test process. Readiness is ``DIR/api.json`` naming the child's pid, which the
daemon writes only once every stored load balancer is back on the data plane and the API answers.

    with running_daemon(tmp_path, address_pool="127.0.101.0/28") as daemon:
        provider = get_provider("local", state_dir=daemon.state_dir)
        daemon.restart()   # same state dir, new process (and a new API port)
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["DaemonHandle", "DaemonStartError", "running_daemon"]

START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


class DaemonStartError(RuntimeError):
    """The daemon exited or stayed silent before announcing its API; the message ends with its log."""


@dataclass
class DaemonHandle:
    """A running daemon. ``url`` and ``token`` are read from its ``api.json`` and refreshed by ``restart()``."""

    state_dir: Path
    address_pool: str
    extra_args: Sequence[str] = ()
    privileged_ports: bool = True  # False: the daemon cannot bind ports below 1024, even as root
    url: str = ""
    token: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        assert self.process is not None, "the daemon is not running"
        return self.process.pid

    @property
    def log_path(self) -> Path:
        """The daemon's stderr (its log), appended to across restarts."""
        return self.state_dir / "daemon.log"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("the daemon is already running")
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "cloudlb_local.daemon",
            "--state-dir",
            str(self.state_dir),
            "--address-pool",
            self.address_pool,
            *self.extra_args,
        ]
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            preexec_fn=None if self.privileged_ports else _drop_bind_service,
        )
        self._wait_for_api()

    def _wait_for_api(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        api_file = self.state_dir / "api.json"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._close_log()
                raise DaemonStartError(f"the daemon exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(FileNotFoundError, ValueError):
                found: dict[str, Any] = json.loads(api_file.read_text())
                if found.get("pid") == self.process.pid:
                    self.url, self.token = str(found["url"]), str(found["token"])
                    return
            time.sleep(0.02)
        self.stop(sig=signal.SIGKILL)
        raise DaemonStartError(f"no {api_file} after {START_TIMEOUT}s:\n{self.log_tail()}")

    def stop(self, *, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int | None:
        """Signal the daemon and wait for it; returns its exit code (None if it was not running)."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._close_log()
        return process.returncode

    def restart(self) -> None:
        """Stop (SIGTERM) and start again on the same state directory."""
        code = self.stop()
        if code not in (0, None):
            raise RuntimeError(f"the daemon exited with {code} on SIGTERM:\n{self.log_tail()}")
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(FileNotFoundError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


_PR_CAPBSET_DROP = 24
_CAP_NET_BIND_SERVICE = 10


def _drop_bind_service() -> None:
    """In the child before exec: drop CAP_NET_BIND_SERVICE from the bounding set, so the daemon (even as root)
    gets EACCES on ports below 1024, exactly as an unprivileged user does. Without the capability, nothing to do."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_CAPBSET_DROP, _CAP_NET_BIND_SERVICE, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP, CAP_NET_BIND_SERVICE) failed")


@contextlib.contextmanager
def running_daemon(
    state_dir: Path | str,
    *,
    address_pool: str = "127.0.100.0/24",
    extra_args: Sequence[str] = (),
    privileged_ports: bool = True,
) -> Iterator[DaemonHandle]:
    """A daemon on ``state_dir`` for the duration of the block; SIGTERM (then SIGKILL if stuck) at the end.

    ``extra_args`` go to ``cloudlb serve`` (e.g. ``["--log-format", "json"]``). ``privileged_ports=False`` runs the
    daemon as an unprivileged one would be, so tests can see a privileged port refused even when they run as root.
    """
    handle = DaemonHandle(
        state_dir=Path(state_dir),
        address_pool=address_pool,
        extra_args=tuple(extra_args),
        privileged_ports=privileged_ports,
    )
    handle.start()
    try:
        yield handle
    finally:
        handle.stop()
