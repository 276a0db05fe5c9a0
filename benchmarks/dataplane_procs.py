"""Helpers for benchmarks/dataplane: pinned child processes that are always cleaned up, HAProxy configs, wrk runs,
the cloudlb daemon in a subprocess, CPU, other processes' load and RSS from /proc, and perf / py-spy profiles.

Everything here talks to loopback only and every run is bounded (wrk -d, perf and py-spy durations, timeouts on
every wait).
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

    def cpu_seconds(self) -> float:
        """CPU time of every child still running."""
        total = 0.0
        for proc in self._procs:
            with contextlib.suppress(OSError):
                total += cpu_seconds(proc.pid)
        return total

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


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of the process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_seconds(pid: int) -> float:
    return sum(cpu_split(pid))


def machine_cpu_seconds() -> float:
    """User + system CPU time of every process on the machine since boot (from /proc/stat)."""
    user, nice, system = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:4]
    return (int(user) + int(nice) + int(system)) / CLK_TCK


class ForeignLoad:
    """Measures the CPU that processes other than ours use (other people's tests on a shared machine): the whole
    machine's user + system time minus our children's, this process's and reaped children's (wrk's)."""

    def __init__(self, procs: Processes, *, patience: float) -> None:
        self.procs = procs
        self.patience = patience  # seconds wait_quiet may spend in all, so a busy machine cannot stretch the run

    def _ours(self) -> float:
        mine = os.times()
        return self.procs.cpu_seconds() + mine.user + mine.system + mine.children_user + mine.children_system

    def measure(self, seconds: float) -> float:
        """CPUs' worth of foreign load over the next ``seconds`` (0.5 = half a CPU)."""
        start = self.start()
        time.sleep(seconds)
        return self.since(start)

    def start(self) -> tuple[float, float, float]:
        return time.monotonic(), machine_cpu_seconds(), self._ours()

    def since(self, start: tuple[float, float, float]) -> float:
        when, machine, ours = start
        elapsed = time.monotonic() - when
        return max(0.0, (machine_cpu_seconds() - machine) - (self._ours() - ours)) / elapsed if elapsed else 0.0

    def wait_quiet(self, *, below: float = 0.15, at_most: float = 2.0) -> None:
        """Wait up to ``at_most`` seconds (within what is left of the patience) for a 0.2 s window in which other
        processes use less than ``below`` CPUs."""
        start = time.monotonic()
        deadline = start + min(at_most, self.patience)
        while self.measure(0.2) >= below and time.monotonic() < deadline:
            pass
        self.patience -= time.monotonic() - start


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
    proxy_user: float | None  # CPU seconds the proxy spent in user space during the run (interpreter, loop)
    proxy_sys: float | None  # ... and in the kernel (the socket syscalls)
    foreign: float  # CPUs' worth of other processes' load during the run (not ours: not wrk, backends or proxies)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def proxy_cpu(self) -> float | None:
        return None if self.proxy_user is None or self.proxy_sys is None else self.proxy_user + self.proxy_sys

    def us_per_request(self, seconds: float | None) -> float | None:
        return 1e6 * seconds / self.requests if seconds is not None and self.requests else None


def run_wrk(
    url: str,
    *,
    workdir: Path,
    connections: int,
    duration: int,
    cpu: int | None,
    foreign: ForeignLoad,
    proxy_pid: int | None = None,
    delay_ms: tuple[int, int] | None = None,
    close: bool = False,
) -> WrkResult:
    """One bounded wrk run (one thread, keep-alive GETs). ``delay_ms`` = (low, high): each connection waits a random
    whole number of ms in that range between its requests (wrk's ``delay()`` hook), which fixes the offered rate.
    ``close``: ask for ``Connection: close``, so every request is a new TCP connection (through a proxy, two)."""
    script = workdir / ("wrk-paced.lua" if delay_ms else "wrk.lua")
    pacing = f"delay = function() return math.random({delay_ms[0]}, {delay_ms[1]}) end\n" if delay_ms else ""
    script.write_text(pacing + _WRK_DONE)
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "2s", "--latency", "-s", str(script), url]
    if close:
        argv[1:1] = ["-H", "Connection: close"]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    before, load = cpu_split(proxy_pid) if proxy_pid else (0.0, 0.0), foreign.start()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30, check=False)
    after = cpu_split(proxy_pid) if proxy_pid else None
    others = foreign.since(load)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH-JSON "):
            raw = json.loads(line.removeprefix("BENCH-JSON "))
            return WrkResult(
                requests=raw["requests"],
                seconds=raw["duration_us"] / 1e6,
                errors=raw["errors"],
                p50_ms=raw["p50_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
                proxy_user=after[0] - before[0] if after else None,
                proxy_sys=after[1] - before[1] if after else None,
                foreign=others,
            )
    raise RuntimeError(f"wrk {url} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")


# -- profilers ----------------------------------------------------------------------------------------------------


def _tool(name: str) -> str | None:
    return shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)


def start_py_spy(pid: int, seconds: int, out: Path, log: Path) -> subprocess.Popen[bytes] | None:
    """py-spy sampling ``pid``'s Python stacks for ``seconds`` at 200 Hz without stopping it (--nonblocking); None
    when py-spy is not installed. (Its --native mode must stop the process per sample and then over-counts syscalls,
    so the native split comes from perf instead.)"""
    spy = _tool("py-spy")
    if spy is None:
        return None
    argv = [spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200", "--nonblocking"]
    with open(log, "ab") as err:
        return subprocess.Popen([*argv, "--format", "raw", "--output", str(out)], stdout=err, stderr=err)


def start_perf(pid: int, seconds: int, out: Path, log: Path) -> subprocess.Popen[bytes] | None:
    """perf sampling ``pid`` on the cpu-clock (works without hardware counters, e.g. in a VM); None without perf."""
    perf = _tool("perf")
    if perf is None:
        return None
    argv = [perf, "record", "-e", "cpu-clock", "-F", "997", "-p", str(pid), "-o", str(out), "--", "sleep", str(seconds)]
    with open(log, "ab") as err:
        return subprocess.Popen(argv, stdout=err, stderr=err)


def read_perf(data: Path, sort: str, count: int) -> list[tuple[str, float]]:
    """``perf report --sort SORT``: the ``count`` biggest (name, % of samples)."""
    perf = _tool("perf")
    if perf is None or not data.exists():
        return []
    argv = [perf, "report", "-i", str(data), "--no-children", "--sort", sort, "--stdio", "-q"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    rows = []
    for line in done.stdout.splitlines():
        share, _, name = line.strip().partition("%")
        with contextlib.suppress(ValueError):
            rows.append((" ".join(name.split()), float(share)))
    return rows[:count]


def _frame_name(frame: str) -> str:
    """``data_received (cloudlb_local/dataplane/tcp.py:63)`` -> ``data_received (tcp.py)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rpartition(":")[0] or where.rstrip(")")
    return f"{name} ({Path(where).name})" if where else name


def read_py_spy(raw: Path, count: int) -> tuple[int, list[tuple[str, float, float]]]:
    """py-spy's raw (collapsed stacks) output: the number of busy samples and the ``count`` Python frames with the
    most self time, as (frame, self %, inclusive %). Self time includes the C the frame calls (a transport's write
    and its syscall); the loop's own C shows as the self time of the frame that runs the loop."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    with open(raw) as out:
        for line in out:
            stack, _, n_text = line.rstrip("\n").rpartition(" ")
            if not stack or not n_text.isdigit():
                continue
            n = int(n_text)
            frames = [_frame_name(f) for f in stack.split(";")]
            total += n
            own[frames[-1]] += n
            for name in set(frames):
                inclusive[name] += n
    if not total:
        return 0, []
    return total, [(name, 100 * n / total, 100 * inclusive[name] / total) for name, n in own.most_common(count)]


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
