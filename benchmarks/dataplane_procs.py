"""Helpers for benchmarks/dataplane: pinned child processes that are always cleaned up, HAProxy configs, wrk runs,
the cloudlb daemon in a subprocess, CPU and RSS readings from /proc, and py-spy profiles.

Everything here talks to loopback only and every run is bounded (wrk -d, py-spy -d, timeouts on every wait).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

REPO = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")
HAPROXY_MAXCONN = 8000  # two fds a connection: fits under a 20,000 hard RLIMIT_NOFILE


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Processes:
    """Every child the benchmark starts. Leaving the block stops them all (SIGTERM, then SIGKILL), even on error."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def spawn(
        self, name: str, argv: Sequence[str], *, cpu: int | None, cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` with its output in ``WORKDIR/NAME.log``, pinned to ``cpu`` and with RLIMIT_NOFILE raised."""

        def prepare() -> None:
            _raise_nofile()
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})

        with open(self.workdir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=log, preexec_fn=prepare, cwd=cwd
            )
        self._procs.append(proc)
        return proc

    def log_tail(self, name: str, lines: int = 15) -> str:
        with contextlib.suppress(FileNotFoundError):
            return "\n".join((self.workdir / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc in self._procs:
            self._procs.remove(proc)

    def close(self) -> None:
        for proc in reversed(list(self._procs)):
            self.stop(proc)


def wait_listening(host: str, port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1.0):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} is not listening on {host}:{port} after {timeout}s")


# -- HAProxy -------------------------------------------------------------------------------------------------------


def _global(mode: str) -> str:
    return (
        f"global\n  nbthread 1\n  maxconn {HAPROXY_MAXCONN}\n"
        f"defaults\n  mode {mode}\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n"
        "  timeout http-keep-alive 60s\n"
    )


def haproxy_backend_config(addresses: Iterable[str], port: int) -> str:
    """The backends: one single-threaded HAProxy in HTTP mode answering every request with a static 200."""
    binds = "".join(f"  bind {address}:{port}\n" for address in addresses)
    return (
        _global("http")
        + "frontend backends\n"
        + binds
        + '  http-request return status 200 content-type text/plain string "hello, world\\n"\n'
    )


def haproxy_lb_config(frontends: Sequence[str], port: int, backends: Sequence[str], backend_port: int) -> str:
    """HAProxy as the load balancer under test: TCP mode, round-robin, one frontend and pool per address, with
    TCP health checks every 10 s like cloudlb's default."""
    parts = [_global("tcp")]
    servers = "".join(f"  server b{i} {ip}:{backend_port} check inter 10s\n" for i, ip in enumerate(backends))
    for i, address in enumerate(frontends):
        parts.append(f"frontend lb{i}\n  bind {address}:{port}\n  default_backend pool{i}\n")
        parts.append(f"backend pool{i}\n  balance roundrobin\n{servers}")
    return "".join(parts)


def start_haproxy(procs: Processes, name: str, config: str, *, cpu: int | None) -> subprocess.Popen[bytes]:
    path = procs.workdir / f"{name}.cfg"
    path.write_text(config)
    return procs.spawn(name, ["haproxy", "-db", "-f", str(path)], cpu=cpu)


# -- the cloudlb daemon --------------------------------------------------------------------------------------------

# ``cloudlb serve`` has no switch for the stock loop (DaemonOptions.use_uvloop exists, but serve() and the click
# command never set it), so the asyncio run blocks the uvloop import: eventloop.uvloop_available() is then False.
_DAEMON_WITHOUT_UVLOOP = "import sys\nsys.modules['uvloop'] = None\nfrom cloudlb_local.daemon import main\nmain()\n"


def start_daemon(
    procs: Processes, name: str, state_dir: Path, pool: str, *, uvloop: bool, cpu: int | None
) -> subprocess.Popen[bytes]:
    """``cloudlb serve`` (as ``python -m cloudlb_local.daemon``, like cloudlb_local.testing) in a subprocess; returns
    once it has written ``api.json`` with its pid, i.e. once its API answers."""
    entry = ["-m", "cloudlb_local.daemon"] if uvloop else ["-c", _DAEMON_WITHOUT_UVLOOP]
    argv = [sys.executable, *entry, "--state-dir", str(state_dir), "--address-pool", pool]
    proc = procs.spawn(name, argv, cpu=cpu)
    api_file = state_dir / "api.json"
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{procs.log_tail(name)}")
        with contextlib.suppress(FileNotFoundError, ValueError):
            if json.loads(api_file.read_text()).get("pid") == proc.pid:
                if loop_kind(proc.pid) != ("uvloop" if uvloop else "asyncio"):
                    raise RuntimeError(f"{name}: expected the {'uvloop' if uvloop else 'asyncio'} loop")
                return proc
        time.sleep(0.05)
    raise RuntimeError(f"{name}: no {api_file} after 30s:\n{procs.log_tail(name)}")


def loop_kind(pid: int) -> str:
    """``uvloop`` if the process has uvloop's extension mapped, else ``asyncio``: checked, not assumed."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return "uvloop" if "/uvloop/" in maps else "asyncio"


# -- /proc readings ------------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_times() -> dict[int, tuple[int, int]]:
    """Per CPU, (busy, total) clock ticks since boot from /proc/stat; busy counts every process and softirq."""
    times = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            ticks = [int(v) for v in values[:8]]
            times[int(name[3:])] = (sum(ticks) - ticks[3] - ticks[4], sum(ticks))  # minus idle and iowait
    return times


def busy_share(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]], cpu: int) -> float:
    busy, total = (a - b for a, b in zip(after[cpu], before[cpu], strict=True))
    return busy / total if total else 0.0


def status_mib(pid: int, key: str) -> float:
    """A ``/proc/PID/status`` memory line (``VmRSS``, ``VmHWM``) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


# -- wrk -----------------------------------------------------------------------------------------------------------

_WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH-JSON {\\"requests\\": %d, \\"duration_us\\": %d, \\"errors\\": %d, "
    .. "\\"p50_us\\": %d, \\"p99_us\\": %d}\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    proxy_cpu: float | None  # CPU seconds the proxy used during the run
    busy: dict[int, float]  # per CPU, the share of the run it was busy (with anything: wrk, backends, others)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def per_cpu_second(self) -> float | None:
        return self.requests / self.proxy_cpu if self.proxy_cpu else None


def run_wrk(
    url: str,
    *,
    workdir: Path,
    connections: int,
    duration: int,
    cpu: int | None,
    proxy_pid: int | None = None,
    delay_ms: tuple[int, int] | None = None,
) -> WrkResult:
    """One bounded wrk run (one thread, keep-alive GETs). ``delay_ms`` = (low, high): each connection waits a random
    whole number of ms in that range between its requests (wrk's ``delay()`` hook), which fixes the offered rate."""
    script = workdir / ("wrk-paced.lua" if delay_ms else "wrk.lua")
    pacing = f"delay = function() return math.random({delay_ms[0]}, {delay_ms[1]}) end\n" if delay_ms else ""
    script.write_text(pacing + _WRK_DONE)
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "2s", "--latency", "-s", str(script), url]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    before, ticks = cpu_seconds(proxy_pid) if proxy_pid else 0.0, cpu_times()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30, check=False)
    used = cpu_seconds(proxy_pid) - before if proxy_pid else None
    busy = {cpu: busy_share(ticks, after, cpu) for after in [cpu_times()] for cpu in after}
    for line in done.stdout.splitlines():
        if line.startswith("BENCH-JSON "):
            raw = json.loads(line.removeprefix("BENCH-JSON "))
            return WrkResult(
                requests=raw["requests"],
                seconds=raw["duration_us"] / 1e6,
                errors=raw["errors"],
                p50_ms=raw["p50_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
                proxy_cpu=used,
                busy=busy,
            )
    raise RuntimeError(f"wrk {url} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")


# -- py-spy --------------------------------------------------------------------------------------------------------


def start_profile(pid: int, seconds: int, out: Path, log: Path) -> subprocess.Popen[bytes] | None:
    """py-spy sampling ``pid`` for ``seconds`` at 100 Hz with native frames (so the syscalls and uvloop's C show);
    None when py-spy is not installed. Native sampling stops the process for each sample (py-spy cannot unwind
    native stacks with --nonblocking): it slows the proxy, so figures are never taken while it runs."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        return None
    argv = [spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "100", "--native"]
    argv += ["--format", "raw", "--output", str(out)]
    with open(log, "ab") as err:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err)


def _frame_name(frame: str) -> str:
    """``data_received (cloudlb_local/dataplane/tcp.py:63)`` -> ``data_received (tcp.py)``; native frames keep
    their library name."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rpartition(":")[0] or where.rstrip(")")
    return f"{name} ({Path(where).name})" if where else name


_SYSCALLS = frozenset(
    "read write readv writev send recv sendmsg recvmsg sendto recvfrom epoll_wait epoll_pwait epoll_ctl accept4 "
    "connect close shutdown getsockopt setsockopt getpeername getsockname".split()
)


def _category(frame: str) -> str:
    name, _, where = frame.partition(" (")
    if where.startswith("libc.so") and name in _SYSCALLS:
        return "syscalls (socket I/O, epoll)"
    if "cloudlb_local/dataplane/" in where:
        return "cloudlb data plane Python (tcp.py, pool.py, ...)"
    return "event loop and interpreter (uvloop or asyncio, CPython, libc)"


@dataclass(frozen=True)
class Profile:
    samples: int
    top: list[tuple[str, float, float]]  # (frame, self %, inclusive %), most self time first
    categories: dict[str, float]  # self time % by kind of frame


def read_profile(raw: Path, count: int) -> Profile:
    """py-spy's raw (collapsed stacks) output summarised: the ``count`` frames with the most self time, and self
    time by category."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()
    total = 0
    out: IO[str]
    with open(raw) as out:
        for line in out:
            stack, _, n_text = line.rstrip("\n").rpartition(" ")
            if not stack or not n_text.isdigit():
                continue
            n = int(n_text)
            raw_frames = stack.split(";")
            frames = [_frame_name(f) for f in raw_frames]
            total += n
            own[frames[-1]] += n
            kinds[_category(raw_frames[-1])] += n
            for name in set(frames):
                inclusive[name] += n
    if not total:
        return Profile(0, [], {})
    top = [(name, 100 * n / total, 100 * inclusive[name] / total) for name, n in own.most_common(count)]
    return Profile(total, top, {kind: 100 * n / total for kind, n in kinds.most_common()})


class Pinned:
    """Pin this process (and so the children it starts without a CPU of their own) to one CPU for the block."""

    def __init__(self, cpu: int | None) -> None:
        self.cpu = cpu
        self._saved: set[int] | None = None

    def __enter__(self) -> Pinned:
        if self.cpu is not None:
            self._saved = os.sched_getaffinity(0)
            os.sched_setaffinity(0, {self.cpu})
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._saved is not None:
            os.sched_setaffinity(0, self._saved)
