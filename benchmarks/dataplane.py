"""benchmarks/dataplane: cloudlb's local data plane against HAProxy, on loopback only.

What runs (helpers in ``dataplane_procs.py``):
- Backends: one single-threaded HAProxy in HTTP mode on 127.0.0.11-14:28080 answering a static 200 from memory (no
  file I/O, no Lua; about 35k req/s on one core here, as fast as wrk can ask on the same core).
- The proxies under test, each alone on CPU 1 while wrk, the backends and this script share CPU 0: HAProxy (TCP mode,
  roundrobin, one thread), the ``cloudlb serve`` daemon with uvloop and with the stock asyncio loop (a load balancer
  created through the local provider: what users run), and a naive asyncio-streams relay (``naive_relay`` below)
  under both loops. "direct" is wrk straight to one backend: the ceiling.
- Max rate: ``wrk -t1 -c64 -d2s --latency``, keep-alive GETs, then the same with ``Connection: close`` (a new TCP
  connection per request); req/s, p50/p99, the proxy's CPU per request (user + system, from /proc), ratios.
- Added p99 at half load: wrk paced to about half of HAProxy's req/s (each connection waits 5-15 ms between requests
  through wrk's ``delay()`` hook); p99 through each proxy minus p99 direct at the same rate.
- Each figure is the least disturbed of 3 interleaved rounds: other processes' CPU is measured during every run
  (the "others' CPUs" column) and each run first waits briefly for a quiet moment.
- Profile: perf (by library and symbol) and py-spy (Python frames) on each daemon under full load, if installed.
- Memory: 100 load balancers and 2,000 connections held open across them (each has sent one request and read the
  answer); daemon VmRSS/VmHWM beside HAProxy with 100 frontends under the same load.

Goals (the issue): >= 0.8x HAProxy's req/s, < 1 ms added p99 at half load, < 150 MB RSS for 100 LBs + 2,000 conns.

Run: ``python -m benchmarks dataplane`` (about 2.5 minutes; needs haproxy and wrk: benchmarks/setup_dataplane.sh).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._util import print_table
from benchmarks.dataplane_procs import (
    REPO,
    ForeignLoad,
    Pinned,
    Processes,
    WrkResult,
    haproxy_backend_config,
    haproxy_lb_config,
    read_perf,
    read_py_spy,
    run_wrk,
    start_daemon,
    start_haproxy,
    start_perf,
    start_py_spy,
    status_mib,
    wait_listening,
)

BACKENDS = ("127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14")
BACKEND_PORT = 28080
LB_PORT = 28000
HAPROXY_ADDRESS = "127.0.0.2"
NAIVE_ADDRESSES = {"uvloop": "127.0.0.3", "asyncio": "127.0.0.4"}
DAEMON_POOLS = {"uvloop": "127.0.151.0/24", "asyncio": "127.0.152.0/24"}
MEMORY_POOL = "127.0.153.0/24"
HAPROXY_MEMORY_NET = "127.0.154."

DURATION = 2  # seconds per wrk run
REPEATS = 3  # rounds over all targets
CONNECTIONS = 64
PACING_MS = (5, 15)  # half-load runs: each connection waits this long (uniform, whole ms) between requests
PROFILE_SECONDS = 4
QUIET_PATIENCE = 20.0  # seconds, in all, spent waiting for other processes to leave the CPUs alone
MEMORY_LBS = 100
MEMORY_CONNECTIONS = 2000
MIB = 1024 * 1024

LOOPS = ("uvloop", "asyncio")


# -- the naive baseline: what a first asyncio relay looks like ---------------------------------------------------


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def naive_relay(host: str, port: int, backends: list[tuple[str, int]]) -> None:
    """Round-robin TCP relay with asyncio streams: a task per direction, read/write/drain per chunk."""
    ring = itertools.cycle(backends)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*next(ring))
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def _naive_main(argv: list[str]) -> int:
    """``python -m benchmarks.dataplane naive HOST:PORT uvloop|asyncio BACKEND:PORT...`` (a child process)."""
    from cloudlb_local.dataplane import run

    listen, loop, *targets = argv
    host, _, port = listen.rpartition(":")
    backends = [(ip, int(p)) for ip, _, p in (t.rpartition(":") for t in targets)]
    with contextlib.suppress(KeyboardInterrupt):
        run(naive_relay(host, int(port), backends), use_uvloop=loop == "uvloop")
    return 0


# -- load balancers through the local provider -----------------------------------------------------------------


def _service(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A LoadBalancer Service in pod mode on LB_PORT whose EndpointSlice lists the four loopback backends."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "bench", "uid": f"uid-{name}",
                     "annotations": {"cloudlb.io/target-type": "pod"}},
        "spec": {"type": "LoadBalancer", "ports": [{"name": "tcp", "protocol": "TCP", "port": LB_PORT,
                                                    "targetPort": BACKEND_PORT}]},
    }  # fmt: skip
    endpoints = [{"addresses": [ip], "conditions": {"ready": True}} for ip in BACKENDS]
    eps = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{name}-0", "namespace": "bench", "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4",
        "ports": [{"name": "tcp", "protocol": "TCP", "port": BACKEND_PORT}],
        "endpoints": endpoints,
    }
    return service, [eps]


def create_load_balancers(state_dir: Path, count: int) -> list[str]:
    """``count`` load balancers through ``get_provider("local")``; returns their addresses."""
    import cloudlb

    provider = cloudlb.get_provider("local", state_dir=state_dir)
    addresses = []
    for i in range(count):
        service, slices = _service(f"web-{i}")
        status = provider.ensure(cloudlb.spec_from_manifests(service, endpoint_slices=slices, cluster="bench"))
        if status.errors or not status.ingress or not status.ingress[0].ip:
            raise RuntimeError(f"load balancer web-{i} is not serving: {status.to_kube()}")
        addresses.append(status.ingress[0].ip)
    return addresses


# -- memory: connections held open ---------------------------------------------------------------------------


async def _hold(
    addresses: list[str], total: int, measure: Callable[[], tuple[float, float]]
) -> tuple[int, float, float]:
    """Open ``total`` connections spread over ``addresses``, one request each, hold them and ``measure()``."""
    held: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    gate = asyncio.Semaphore(200)

    async def one(i: int) -> None:
        async with gate:
            reader, writer = await asyncio.open_connection(addresses[i % len(addresses)], LB_PORT)
            held.append((reader, writer))
            writer.write(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
            await reader.readuntil(b"hello, world\n")

    try:
        async with asyncio.timeout(60):
            results = await asyncio.gather(*(one(i) for i in range(total)), return_exceptions=True)
            await asyncio.sleep(1.0)  # let the proxy settle with everything open
        ok = sum(1 for r in results if r is None)
        rss, hwm = measure()
        return ok, rss, hwm
    finally:
        for _, writer in held:
            writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*(w.wait_closed() for _, w in held), return_exceptions=True), 10)


def _memory_of(pid: int) -> tuple[float, float]:
    return status_mib(pid, "VmRSS"), status_mib(pid, "VmHWM")


# -- the run -------------------------------------------------------------------------------------------------


def _rate_table(
    found: dict[str, tuple[WrkResult, list[WrkResult]]], targets: dict[str, tuple[str, str, int | None]], what: str
) -> None:
    base = found["HAProxy tcp roundrobin"][0]
    rows = []
    for label, (result, runs) in found.items():
        naive = found.get(f"naive streams relay ({targets[label][0]})")
        user, system = result.us_per_request(result.proxy_user), result.us_per_request(result.proxy_sys)
        per_request = user + system if user is not None and system is not None else None
        base_per_request = base.us_per_request(base.proxy_cpu)
        rows.append([
            label, f"{result.rps:,.0f}" + (f" ({result.errors} errors)" if result.errors else ""),
            _spread(runs, lambda r: r.rps / 1000, ".1f") + "k", f"{result.p50_ms:.2f}", f"{result.p99_ms:.2f}",
            f"{100 * result.proxy_cpu / result.seconds:.0f}%" if result.proxy_cpu is not None else "-",
            f"{user:.1f} + {system:.1f}" if user is not None and system is not None else "-",
            _fmt_ratio(result.rps, base.rps),
            _fmt_ratio(base_per_request, per_request) if per_request and base_per_request else "-",
            _vs_naive(result, naive[0]) if naive and label.startswith("cloudlb") else "-",
            f"{result.foreign:.2f}",
        ])  # fmt: skip
    headers = ["target", "req/s", f"range of {REPEATS}", "p50 ms", "p99 ms", "proxy CPU", "proxy CPU us/req usr + sys",
               "vs HAProxy", "per CPU vs HAProxy", "vs naive", "others' CPUs"]  # fmt: skip
    title = f"dataplane: {what}; per target the least disturbed of {REPEATS} interleaved rounds"
    print_table(title, headers, rows)


def _vs_naive(result: WrkResult, naive: WrkResult) -> str:
    ours, theirs = result.us_per_request(result.proxy_cpu), naive.us_per_request(naive.proxy_cpu)
    per_cpu = f" ({theirs / ours:.2f}x per CPU)" if ours and theirs else ""
    return _fmt_ratio(result.rps, naive.rps) + per_cpu


def _spread(runs: list[WrkResult], value: Callable[[WrkResult], float], fmt: str) -> str:
    values = [value(r) for r in runs]
    return f"{min(values):{fmt}}-{max(values):{fmt}}"


def _rounds(
    targets: dict[str, tuple[str, str, int | None]],
    work: Path,
    load_cpu: int | None,
    foreign: ForeignLoad,
    *,
    connections: int,
    delay_ms: tuple[int, int] | None = None,
    close: bool = False,
) -> dict[str, tuple[WrkResult, list[WrkResult]]]:
    """REPEATS rounds of one wrk run per target, each started once the machine is quiet (or after a few seconds).
    Per target: the run least disturbed by other processes (ties: the fastest, or the lowest p99 when paced), and
    all its runs."""
    runs: dict[str, list[WrkResult]] = {label: [] for label in targets}
    for _ in range(REPEATS):
        for label, (_, url, pid) in targets.items():
            foreign.wait_quiet()
            run = run_wrk(url, workdir=work, connections=connections, duration=DURATION, cpu=load_cpu,
                          foreign=foreign, proxy_pid=pid, delay_ms=delay_ms, close=close)  # fmt: skip
            runs[label].append(run)

    def disturbance(run: WrkResult) -> tuple[float, float]:
        return round(run.foreign, 1), (run.p99_ms if delay_ms else -run.rps)

    return {label: (min(results, key=disturbance), results) for label, results in runs.items()}


def _fmt_ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "-"


def run() -> None:
    missing = [tool for tool in ("haproxy", "wrk") if shutil.which(tool) is None]
    if missing:
        print(f"\ndataplane: skipped: {' and '.join(missing)} not found; run benchmarks/setup_dataplane.sh first")
        return
    cpus = os.sched_getaffinity(0)
    proxy_cpu, load_cpu = (1, 0) if {0, 1} <= cpus else (None, None)
    started = time.monotonic()
    with Pinned(load_cpu), tempfile.TemporaryDirectory(prefix="cloudlb-bench-") as tmp:
        work = Path(tmp)
        with Processes(work) as procs:
            backend = start_haproxy(procs, "backends", haproxy_backend_config(BACKENDS, BACKEND_PORT), cpu=load_cpu)
            for ip in BACKENDS:
                wait_listening(ip, BACKEND_PORT, backend, "the backend HAProxy")
            _speed(procs, work, proxy_cpu, load_cpu)
            _memory(procs, work, proxy_cpu)
    pinning = (
        f"proxy under test alone on CPU {proxy_cpu}; wrk, backends and clients on CPU {load_cpu}"
        if proxy_cpu is not None
        else "no pinning (fewer than 2 CPUs)"
    )
    print(f"\n({pinning}; load average {os.getloadavg()[0]:.2f}; took {time.monotonic() - started:.0f}s)")


def _speed(procs: Processes, work: Path, proxy_cpu: int | None, load_cpu: int | None) -> None:
    targets: dict[str, tuple[str, str, int | None]] = {}  # label -> (loop, url, proxy pid)
    targets["direct (one backend)"] = ("-", f"http://{BACKENDS[0]}:{BACKEND_PORT}/", None)
    lb = start_haproxy(
        procs, "haproxy-lb", haproxy_lb_config([HAPROXY_ADDRESS], LB_PORT, BACKENDS, BACKEND_PORT), cpu=proxy_cpu
    )
    wait_listening(HAPROXY_ADDRESS, LB_PORT, lb, "the HAProxy load balancer")
    targets["HAProxy tcp roundrobin"] = ("-", f"http://{HAPROXY_ADDRESS}:{LB_PORT}/", lb.pid)
    daemons = {}
    for loop in LOOPS:
        state = work / f"state-{loop}"
        daemon = daemons[loop] = start_daemon(
            procs, f"daemon-{loop}", state, DAEMON_POOLS[loop], uvloop=loop == "uvloop", cpu=proxy_cpu
        )
        (address,) = create_load_balancers(state, 1)
        targets[f"cloudlb daemon ({loop})"] = (loop, f"http://{address}:{LB_PORT}/", daemon.pid)
    for loop in LOOPS:
        address = NAIVE_ADDRESSES[loop]
        argv = [sys.executable, "-m", "benchmarks.dataplane", "naive", f"{address}:{LB_PORT}", loop]
        naive = procs.spawn(
            f"naive-{loop}", argv + [f"{ip}:{BACKEND_PORT}" for ip in BACKENDS], cpu=proxy_cpu, cwd=REPO
        )
        wait_listening(address, LB_PORT, naive, f"the naive relay ({loop})")
        targets[f"naive streams relay ({loop})"] = (loop, f"http://{address}:{LB_PORT}/", naive.pid)

    foreign = ForeignLoad(procs, patience=QUIET_PATIENCE)
    # Rounds interleave the targets, so a burst of other work on the machine hits one round, not one target.
    full = _rounds(targets, work, load_cpu, foreign, connections=CONNECTIONS)
    _rate_table(full, targets, f"max rate, wrk -t1 -c{CONNECTIONS} -d{DURATION}s --latency, keep-alive GETs")
    base = full["HAProxy tcp roundrobin"][0]
    fresh_targets = {k: v for k, v in targets.items() if not k.startswith("naive")}
    fresh = _rounds(fresh_targets, work, load_cpu, foreign, connections=CONNECTIONS, close=True)
    _rate_table(fresh, fresh_targets, "a new connection per request (Connection: close), max rate")

    offered = base.rps / 2
    paced = max(1, round(offered * (sum(PACING_MS) / 2 + 0.3) / 1000))  # + ~0.3 ms of response time per request
    half_targets = {k: v for k, v in targets.items() if not k.startswith("naive")}
    half = _rounds(half_targets, work, load_cpu, foreign, connections=paced, delay_ms=PACING_MS)
    direct = half["direct (one backend)"][0]
    rows = []
    for label, (result, runs) in half.items():
        added = result.p99_ms - direct.p99_ms
        rows.append([
            label, f"{result.rps:,.0f}", f"{result.p50_ms:.2f}", f"{result.p99_ms:.2f}",
            _spread(runs, lambda r: r.p99_ms, ".2f"), "-" if result is direct else f"{added:+.2f}",
            "-" if result is direct else ("PASS" if added < 1.0 else "FAIL"), f"{result.foreign:.2f}",
        ])  # fmt: skip
    headers = ["target", "req/s", "p50 ms", "p99 ms", f"p99 range of {REPEATS}", "added p99 ms", "goal < 1 ms",
               "others' CPUs"]  # fmt: skip
    title = f"dataplane: added p99 at half load: {paced} connections, each waiting {PACING_MS[0]}-{PACING_MS[1]} ms "
    title += f"between requests (about {offered:,.0f} req/s offered); least disturbed of {REPEATS} rounds"
    print_table(title, headers, rows)

    for loop in LOOPS:
        ours = full[f"cloudlb daemon ({loop})"][0]
        ratio = ours.rps / base.rps
        mine, haproxy = ours.us_per_request(ours.proxy_cpu), base.us_per_request(base.proxy_cpu)
        per_cpu = f" ({haproxy / mine:.2f}x per proxy CPU-second)" if mine and haproxy else ""
        verdict = "PASS" if ratio >= 0.8 else "FAIL"
        print(f"goal >= 0.8x HAProxy req/s, cloudlb with {loop}: {ratio:.2f}x {verdict}{per_cpu}")
    worst = max(r.foreign for table in (full, fresh, half) for r, _ in table.values())
    if worst > 0.25:
        print(f"note: other processes used up to {worst:.2f} CPUs during the runs kept: the figures are disturbed")

    for loop in LOOPS:
        _profile(work, daemons[loop].pid, targets[f"cloudlb daemon ({loop})"][1], loop, load_cpu, foreign)
    for proc in (lb, *daemons.values()):
        procs.stop(proc)


def _profile(work: Path, pid: int, url: str, loop: str, load_cpu: int | None, foreign: ForeignLoad) -> None:
    """perf (native: kernel, uvloop, CPython) and py-spy (Python frames) on one daemon under full load at once."""
    raw, data, log = work / f"py-spy-{loop}.txt", work / f"perf-{loop}.data", work / "profilers.log"
    tools = [
        t for t in (start_perf(pid, PROFILE_SECONDS, data, log), start_py_spy(pid, PROFILE_SECONDS, raw, log)) if t
    ]
    if not tools:
        print("\n(profile skipped: neither perf nor py-spy found; benchmarks/setup_dataplane.sh --profile)")
        return
    try:
        time.sleep(0.5)  # the profilers attach; samples of an idle process are not counted
        run_wrk(url, workdir=work, connections=CONNECTIONS, duration=PROFILE_SECONDS + 1, cpu=load_cpu, foreign=foreign)
        for tool in tools:
            tool.wait(timeout=30)
    finally:
        for tool in tools:
            if tool.poll() is None:
                tool.kill()
                tool.wait()
    by_library = read_perf(data, "dso", 6)
    if by_library:
        split = ", ".join(f"{name} {share:.0f}%" for name, share in by_library)
        print(f"\ndataplane: cloudlb daemon ({loop}) under full load, perf cpu-clock samples by library: {split}")
        rows = [[name[:100], f"{share:.1f}%"] for name, share in read_perf(data, "dso,sym", 12)]
        print_table(f"dataplane: perf, top symbols, cloudlb daemon ({loop})", ["library and symbol", "self"], rows)
    samples, frames = read_py_spy(raw, 10) if raw.exists() else (0, [])
    if samples:
        rows = [[name[:100], f"{own:.1f}%", f"{incl:.1f}%"] for name, own, incl in frames]
        title = f"dataplane: py-spy, top Python frames, cloudlb daemon ({loop}), {samples} busy samples"
        print_table(title, ["frame (self includes the C it calls)", "self", "inclusive"], rows)


def _memory(procs: Processes, work: Path, proxy_cpu: int | None) -> None:
    rows: list[tuple[str, int, float, float, float]] = []  # label, connections held, idle RSS, RSS, peak RSS
    state = work / "state-memory"
    daemon = start_daemon(procs, "daemon-memory", state, MEMORY_POOL, uvloop=True, cpu=proxy_cpu)
    addresses = create_load_balancers(state, MEMORY_LBS)
    idle = status_mib(daemon.pid, "VmRSS")
    ok, rss, hwm = asyncio.run(_hold(addresses, MEMORY_CONNECTIONS, lambda: _memory_of(daemon.pid)))
    rows.append(("cloudlb daemon (uvloop)", ok, idle, rss, hwm))
    procs.stop(daemon)

    frontends = [f"{HAPROXY_MEMORY_NET}{i}" for i in range(1, MEMORY_LBS + 1)]
    lb = start_haproxy(
        procs, "haproxy-memory", haproxy_lb_config(frontends, LB_PORT, BACKENDS, BACKEND_PORT), cpu=proxy_cpu
    )
    wait_listening(frontends[-1], LB_PORT, lb, "the HAProxy load balancer")
    idle = status_mib(lb.pid, "VmRSS")
    ok, rss, hwm = asyncio.run(_hold(frontends, MEMORY_CONNECTIONS, lambda: _memory_of(lb.pid)))
    rows.append(("HAProxy (100 frontends)", ok, idle, rss, hwm))
    procs.stop(lb)

    base_hwm = rows[1][4]
    table = [
        [label, f"{ok:,}", f"{idle:.1f}", f"{rss:.1f}", f"{hwm:.1f}", f"{1024 * (rss - idle) / max(ok, 1):.1f}",
         _fmt_ratio(hwm, base_hwm), "-" if label.startswith("HAProxy") else ("PASS" if hwm * MIB < 150e6 else "FAIL")]
        for label, ok, idle, rss, hwm in rows
    ]  # fmt: skip
    headers = ["proxy", "conns held", "idle RSS MiB", "loaded RSS MiB", "peak RSS (VmHWM) MiB", "KiB/conn",
               "vs HAProxy", "goal < 150 MB"]  # fmt: skip
    print_table(
        f"dataplane: memory, {MEMORY_LBS} load balancers, {MEMORY_CONNECTIONS:,} connections held", headers, table
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["naive"]:
        raise SystemExit(_naive_main(sys.argv[2:]))
    run()
