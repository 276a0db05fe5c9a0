"""benchmarks/controller: the Kubernetes controller against the fake API server.

Three measurements (see benchmarks/README.md for the figures):

- **latency**: from an EndpointSlice write to the local cloud having applied the new target, p50/p99, for 100
  Services on the local provider; one change at a time, then all 100 Services at once. Baseline: the same target
  change made by calling ``update_targets`` directly (the floor under any controller).
- **rolling**: a rolling update of 1,000 pods across 50 Services (4,000 EndpointSlice writes in about 10 s):
  reconciles and cloud calls, beside the lower bounds (one target update per ready-set change, and one per Service)
  and beside a controller that reconciles once per event.
- **memory**: peak RSS of a controller process caching 5,000 Services, 20,000 EndpointSlices and 500 Nodes, after
  it reconciled every Service. Baselines: a process that lists the same objects and keeps them as the client's
  model objects, and one that keeps the raw JSON dicts.

Run: ``python -m benchmarks controller`` (about 3 minutes), or one part: ``python -m benchmarks.controller memory``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks._util import print_table
from cloudlb.model import Feature, Ingress, LoadBalancerSpec, LoadBalancerStatus, OwnedLoadBalancer
from cloudlb.plan import Plan
from cloudlb.testing.kubeapi import FakeKubeAPI

CLASS = "cloudlb.io/bench"
JSON = dict[str, Any]


# -- objects ----------------------------------------------------------------------------------------------------


def _service(name: str, *, pod: bool, node_port: int | None = None) -> JSON:
    port: JSON = {"name": "http", "port": 8080, "protocol": "TCP", "targetPort": 8080}
    spec: JSON = {"type": "LoadBalancer", "loadBalancerClass": CLASS, "ports": [port]}
    annotations = {}
    if pod:
        spec["allocateLoadBalancerNodePorts"] = False
        annotations["cloudlb.io/target-type"] = "pod"
    elif node_port is not None:
        port["nodePort"] = node_port
    meta = {"name": name, "namespace": "bench", "annotations": annotations, "labels": {"app": name}}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def _slice(service: str, name: str, endpoints: list[tuple[str, bool, bool]]) -> JSON:
    """``endpoints``: (ip, ready, terminating)."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": "bench", "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [ip],
                "conditions": {"ready": ready, "serving": ready or terminating, "terminating": terminating},
                "nodeName": f"node-{int(ip.split('.')[2]) % 500}",
                "zone": f"zone-{int(ip.split('.')[3]) % 3}",
                "targetRef": {"kind": "Pod", "namespace": "bench", "name": f"{service}-{ip.replace('.', '-')}"},
            }
            for ip, ready, terminating in endpoints
        ],
    }


def _node(i: int) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": f"node-{i}",
            "labels": {
                "kubernetes.io/hostname": f"node-{i}",
                "topology.kubernetes.io/zone": f"zone-{i % 3}",
                "node.kubernetes.io/instance-type": "m5.large",
                "kubernetes.io/os": "linux",
            },
        },
        "spec": {"providerID": f"aws:///eu-west-1a/i-{i:017x}", "podCIDR": f"10.{i // 256}.{i % 256}.0/24"},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": f"172.20.{i // 250}.{i % 250 + 1}"},
                {"type": "Hostname", "address": f"node-{i}"},
            ],
            "conditions": [
                {"type": t, "status": "False" if t != "Ready" else "True", "reason": "KubeletReady"}
                for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")
            ],
            "capacity": {"cpu": "2", "memory": "8025424Ki", "pods": "29"},
            "allocatable": {"cpu": "1930m", "memory": "7237968Ki", "pods": "29"},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": f"boot-{i}",
                "containerRuntimeVersion": "containerd://1.7.20",
                "kernelVersion": "6.1.102",
                "kubeProxyVersion": "v1.31.0",
                "kubeletVersion": "v1.31.0",
                "machineID": f"machine-{i}",
                "operatingSystem": "linux",
                "osImage": "Bottlerocket OS 1.20.0",
                "systemUUID": f"uuid-{i}",
            },
        },
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# -- a controller in this process, on the local cloud ----------------------------------------------------------


class _Timed:
    """Wraps a provider: when each ``update_targets``/``ensure`` returned, with the target IPs it sent."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.done: list[tuple[float, str, frozenset[str]]] = []
        self._lock = threading.Lock()

    @property
    def capabilities(self) -> frozenset[Feature]:
        caps: frozenset[Feature] = self.inner.capabilities
        return caps

    def load_balancer_name(self, spec: LoadBalancerSpec) -> str:
        return str(self.inner.load_balancer_name(spec))

    def plan(self, spec: LoadBalancerSpec) -> Plan:
        plan: Plan = self.inner.plan(spec)
        return plan

    def _note(self, spec: LoadBalancerSpec) -> None:
        with self._lock:
            self.done.append((time.monotonic(), spec.name, frozenset(t.ip for t in spec.targets)))

    def ensure(self, spec: LoadBalancerSpec) -> LoadBalancerStatus:
        status: LoadBalancerStatus = self.inner.ensure(spec)
        self._note(spec)
        return status

    def update_targets(self, spec: LoadBalancerSpec) -> None:
        self.inner.update_targets(spec)
        self._note(spec)

    def get(self, spec: LoadBalancerSpec) -> LoadBalancerStatus | None:
        status: LoadBalancerStatus | None = self.inner.get(spec)
        return status

    def delete(self, spec: LoadBalancerSpec | OwnedLoadBalancer) -> bool:
        return bool(self.inner.delete(spec))

    def list_owned(self, cluster: str) -> list[OwnedLoadBalancer]:
        owned: list[OwnedLoadBalancer] = self.inner.list_owned(cluster)
        return owned


@contextmanager
def _world(pool: str) -> Iterator[tuple[FakeKubeAPI, Any, Path]]:
    """A fake API server, a local cloud daemon and a scratch directory."""
    from cloudlb_local.provider import LocalProvider
    from cloudlb_local.testing import running_daemon

    with (
        tempfile.TemporaryDirectory() as scratch,
        FakeKubeAPI(history=20000) as kube,
        running_daemon(Path(scratch) / "cloud", address_pool=pool) as daemon,
    ):
        yield kube, LocalProvider(daemon.state_dir), Path(scratch)


@contextmanager
def _controller(kube: FakeKubeAPI, provider: Any, scratch: Path, **settings: Any) -> Iterator[Any]:
    from cloudlb.controller.kubeclient import KubeClient
    from cloudlb.controller.manager import Controller, Settings

    client = KubeClient.connect(kube.kubeconfig(scratch))
    base = Settings(cluster="bench", load_balancer_class=CLASS)
    controller = Controller(client, provider, replace(base, **settings)).start()
    try:
        assert controller.wait_until_synced(120)
        yield controller
    finally:
        controller.stop()
        client.close()


def _reconciles(controller: Any) -> int:
    total = 0.0
    for metric in controller.metrics.registry.collect():
        if metric.name == "cloudlb_controller_reconciles":
            total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return int(total)


def _calls(controller: Any, operation: str) -> int:
    value = controller.metrics.registry.get_sample_value(
        "cloudlb_controller_cloud_calls_total", {"provider": "local", "operation": operation, "result": "ok"}
    )
    return int(value or 0)


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)


# -- 1. latency -------------------------------------------------------------------------------------------------


def latency(services: int = 100, isolated_changes: int = 200, interval: float = 0.05) -> None:
    with _world("127.230.0.0/24") as (kube, local, scratch):
        timed = _Timed(local)
        for i in range(services):
            kube.create(_service(f"svc-{i}", pod=True))
            kube.create(
                _slice(f"svc-{i}", f"svc-{i}-a", [(f"127.231.{i}.1", True, False), (f"127.231.{i}.2", True, False)])
            )
        with _controller(kube, timed, scratch, workers=4) as controller:
            _wait(lambda: _calls(controller, "ensure") >= services, 120, "every Service to be ensured")
            changes: dict[int, int] = {}

            def change(i: int) -> tuple[float, str, str]:
                """Replace the second endpoint of Service i with a new address; (when, service, the new IP)."""
                n = changes[i] = changes.get(i, 0) + 1
                ip = f"127.231.{i}.{2 + n % 250}"
                current = kube.get("EndpointSlice", "bench", f"svc-{i}-a")
                assert current is not None
                body = _slice(f"svc-{i}", f"svc-{i}-a", [(f"127.231.{i}.1", True, False), (ip, True, False)])
                started = time.monotonic()
                kube.replace({**current, **body})
                return started, f"svc-{i}", ip

            isolated = []
            for n in range(isolated_changes):
                isolated.append(change(n % services))
                time.sleep(interval)
            burst = [change(i) for i in range(services)]
            _wait(lambda: all(_applied(timed, c) for c in isolated + burst), 120, "every change to reach the cloud")
            isolated_ms = [_applied(timed, c) or 0.0 for c in isolated]
            burst_ms = [_applied(timed, c) or 0.0 for c in burst]

        # The floor: the same kind of change made straight through the provider, no controller in between.
        from cloudlb import spec_from_manifests

        direct = []
        for n in range(50):
            i = n % services
            body = _slice(
                f"svc-{i}",
                f"svc-{i}-a",
                [(f"127.231.{i}.1", True, False), (f"127.231.{i}.{200 + n // services}", True, False)],
            )
            svc = kube.get("Service", "bench", f"svc-{i}")
            assert svc is not None
            spec = spec_from_manifests(svc, [body], cluster="bench")
            started = time.monotonic()
            local.update_targets(spec)
            direct.append(time.monotonic() - started)
    floor = statistics.median(direct)
    rows = []
    for label, values in (("one change at a time", isolated_ms), (f"all {services} Services at once", burst_ms)):
        p50, p99 = _percentile(values, 0.5), _percentile(values, 0.99)
        rows.append([label, str(len(values)), _ms(p50), _ms(p99), f"{p50 / floor:.1f}x"])
    rows.append(
        ["update_targets called directly (floor)", str(len(direct)), _ms(floor), _ms(_percentile(direct, 0.99)), "1.0x"]
    )
    print_table(
        f"EndpointSlice write -> target applied in the local cloud ({services} Services, pod targets)",
        ["case", "changes", "p50", "p99", "p50 / floor"],
        rows,
    )


def _applied(timed: _Timed, change: tuple[float, str, str]) -> float | None:
    started, service, ip = change
    for at, name, ips in list(timed.done):
        if name == service and ip in ips and at >= started:
            return at - started
    return None


# -- 2. rolling update ------------------------------------------------------------------------------------------


def rolling(services: int = 50, pods: int = 20, step: float = 0.5) -> None:
    """Each Service replaces its pods one by one: a new pod appears (not ready), becomes ready 0.2 s later, then
    the old one terminates (0.3 s) and goes (0.5 s); then the next pod. All Services roll at the same time."""
    with _world("127.232.0.0/24") as (kube, local, scratch):
        timed = _Timed(local)
        state: dict[str, list[tuple[str, bool, bool]]] = {}
        for s in range(services):
            name = f"roll-{s}"
            state[name] = [(f"127.233.{s}.{p + 1}", True, False) for p in range(pods)]
            kube.create(_service(name, pod=True))
            kube.create(_slice(name, f"{name}-a", state[name]))
        with _controller(kube, timed, scratch) as controller:
            _wait(lambda: _calls(controller, "ensure") >= services, 120, "every Service to be ensured")
            time.sleep(1.5)
            before = {"reconciles": _reconciles(controller), "update_targets": _calls(controller, "update_targets")}
            cloud_before = local.client.info()["calls"]
            schedule: list[tuple[float, str, int, str]] = []  # (offset, service, pod index, phase)
            for s in range(services):
                for p in range(pods):
                    for offset, phase in ((0.0, "add"), (0.2, "ready"), (0.3, "terminate"), (0.5 - 0.01, "remove")):
                        schedule.append((p * step + offset, f"roll-{s}", p, phase))
            schedule.sort()
            start = time.monotonic()
            for offset, name, p, phase in schedule:
                delay = start + offset - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                _roll(state, name, p, phase)
                current = kube.get("EndpointSlice", "bench", f"{name}-a")
                assert current is not None
                kube.replace({**current, **_slice(name, f"{name}-a", state[name])})
            written = time.monotonic() - start
            final = {
                name: frozenset(ip for ip, ready, term in eps if ready and not term) for name, eps in state.items()
            }
            _wait(lambda: all(_latest(timed, n) == ips for n, ips in final.items()), 120, "the rollout to converge")
            converged = time.monotonic() - start
            time.sleep(1.5)
            reconciles = _reconciles(controller) - before["reconciles"]
            updates = _calls(controller, "update_targets") - before["update_targets"]
            ensures = _calls(controller, "ensure") - services
            cloud_after = local.client.info()["calls"]
    writes = len(schedule)
    eager = services * pods * 2  # every ready-set change applied on its own: +new, -old per pod
    lazy = services  # one update per Service, after the whole rollout
    mutating = sum(cloud_after[m] - cloud_before.get(m, 0) for m in ("POST", "PATCH", "DELETE"))
    gets = cloud_after["GET"] - cloud_before.get("GET", 0)
    print_table(
        f"Rolling update: {services * pods} pods across {services} Services, {writes} EndpointSlice writes in "
        f"{written:.1f} s (converged {converged - written:.1f} s after the last write)",
        ["", "reconciles", "provider calls", "cloud API calls (mutating + reads)"],
        [
            [
                "cloudlb controller",
                str(reconciles),
                f"{updates} update_targets, {ensures} ensure",
                f"{mutating} + {gets}",
            ],
            [
                "lower bound: one update per Service, at the end",
                f"{lazy}",
                f"{lazy} update_targets",
                f"{lazy} + {lazy}",
            ],
            ["eager: every ready-set change applied", str(eager), f"{eager} update_targets", f"{eager} + {eager}"],
            ["one reconcile per event (no merging)", str(writes), f"{eager}-{writes} update_targets", "-"],
        ],
    )


def _roll(state: dict[str, list[tuple[str, bool, bool]]], name: str, p: int, phase: str) -> None:
    s = int(name.split("-")[1])
    old_ip, new_ip = f"127.233.{s}.{p + 1}", f"127.233.{s}.{p + 101}"
    eps = state[name]
    if phase == "add":
        eps.append((new_ip, False, False))
    elif phase == "ready":
        state[name] = [(ip, True, False) if ip == new_ip else (ip, r, t) for ip, r, t in eps]
    elif phase == "terminate":
        state[name] = [(ip, False, True) if ip == old_ip else (ip, r, t) for ip, r, t in eps]
    else:
        state[name] = [e for e in eps if e[0] != old_ip]


def _latest(timed: _Timed, service: str) -> frozenset[str] | None:
    for _at, name, ips in reversed(list(timed.done)):
        if name == service:
            return ips
    return None


# -- 3. memory --------------------------------------------------------------------------------------------------


class NullProvider:
    """A cloud that does nothing, instantly: the memory measured is the controller's own."""

    name = "null"
    capabilities = frozenset(Feature)

    def load_balancer_name(self, spec: LoadBalancerSpec) -> str:
        return spec.name

    def plan(self, spec: LoadBalancerSpec) -> Plan:
        return Plan(spec.name)

    def ensure(self, spec: LoadBalancerSpec) -> LoadBalancerStatus:
        return LoadBalancerStatus(ingress=(Ingress(ip="192.0.2.1"),))

    def update_targets(self, spec: LoadBalancerSpec) -> None:
        return None

    def get(self, spec: LoadBalancerSpec) -> LoadBalancerStatus | None:
        return None

    def delete(self, spec: LoadBalancerSpec | OwnedLoadBalancer) -> bool:
        return False

    def list_owned(self, cluster: str) -> list[OwnedLoadBalancer]:
        return []


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _child(kubeconfig: str, mode: str, services: int) -> None:
    """One measured process: prints {"peak_mib", "rss_mib", "seconds", ...} as JSON on its last line."""
    started = time.monotonic()
    base = _status_kib("VmRSS")
    out: JSON = {}
    if mode == "controller":
        from cloudlb.controller.kubeclient import KubeClient
        from cloudlb.controller.manager import Controller, Settings

        client = KubeClient.connect(kubeconfig)
        settings = Settings(cluster="bench", load_balancer_class=CLASS, workers=4)
        controller = Controller(client, NullProvider(), settings).start()
        assert controller.wait_until_synced(600)
        out["synced_s"] = round(time.monotonic() - started, 1)
        _wait(lambda: _reconciles(controller) >= services and len(controller.queue) == 0, 900, "every reconcile")
        out["reconciles"] = _reconciles(controller)
        out["events_dropped"] = controller.metrics.registry.get_sample_value(
            "cloudlb_controller_events_total", {"reason": "EnsuringLoadBalancer", "result": "dropped"}
        )
        out["cached"] = {s.resource: len(s) for s in controller.cache.stores()}
        controller.stop(timeout=10)
        client.close()
    else:
        import kubernetes

        configuration = kubernetes.client.Configuration()
        load: Any = kubernetes.config.load_kube_config  # unannotated in the client
        load(config_file=kubeconfig, client_configuration=configuration)
        api = kubernetes.client.ApiClient(configuration)
        core, disc = kubernetes.client.CoreV1Api(api), kubernetes.client.DiscoveryV1Api(api)
        kept: list[Any] = []
        listers: list[Any] = [
            core.list_service_for_all_namespaces,
            disc.list_endpoint_slice_for_all_namespaces,
            core.list_node,
        ]
        for lister in listers:
            token = None
            while True:
                if mode == "models":
                    page = lister(limit=500, _continue=token)
                    kept.extend(page.items)
                    token = page.metadata._continue
                else:
                    raw = json.loads(lister(limit=500, _continue=token, _preload_content=False).data)
                    kept.extend(raw["items"])
                    token = raw["metadata"].get("continue")
                if not token:
                    break
        out["cached"] = len(kept)
    out["seconds"] = round(time.monotonic() - started, 1)
    out["base_mib"] = round(base / 1024, 1)
    out["peak_mib"] = round(_status_kib("VmHWM") / 1024, 1)
    out["rss_mib"] = round(_status_kib("VmRSS") / 1024, 1)
    print(json.dumps(out), flush=True)


def memory(services: int = 5000, slices_per_service: int = 4, endpoints_per_slice: int = 5, nodes: int = 500) -> None:
    node_mode = 2000  # the nodePort range (30000-32767) bounds how many Services can have node ports
    with tempfile.TemporaryDirectory() as scratch, FakeKubeAPI(history=50000) as kube:
        for i in range(nodes):
            kube.create(_node(i))
        for s in range(services):
            name = f"m-{s}"
            kube.create(_service(name, pod=s >= node_mode, node_port=30000 + s if s < node_mode else None))
            for k in range(slices_per_service):
                eps = [
                    (f"10.{s // 250}.{s % 250}.{k * endpoints_per_slice + e + 1}", True, False)
                    for e in range(endpoints_per_slice)
                ]
                kube.create(_slice(name, f"{name}-{k}", eps))
        kubeconfig = kube.kubeconfig(scratch)
        shape = (
            f"{services:,} Services, {services * slices_per_service:,} EndpointSlices "
            f"({endpoints_per_slice} endpoints each), {nodes} Nodes"
        )
        rows = []
        results = {}
        for mode, label in (
            ("controller", "cloudlb controller (slim records), after reconciling every Service"),
            ("dicts", "baseline: list and keep the raw JSON dicts"),
            ("models", "baseline: list and keep the client's model objects"),
        ):
            code = f"from benchmarks.controller import _child; _child({kubeconfig!r}, {mode!r}, {services})"
            done = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, timeout=1800, check=False
            )
            if done.returncode != 0:
                raise RuntimeError(f"{mode} child failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results[mode] = result
            rows.append(
                [label, f"{result['peak_mib']:.0f} MiB", f"{result['rss_mib']:.0f} MiB", f"{result['seconds']:.0f} s"]
            )
    ours = results["controller"]["peak_mib"]
    for row, mode in zip(rows, ("controller", "dicts", "models"), strict=True):
        row.append(f"{results[mode]['peak_mib'] / ours:.1f}x")
    print_table(
        f"Peak RSS with {shape} (goal: controller under 300 MB)",
        ["process", "peak RSS", "RSS at end", "time", "vs controller"],
        rows,
    )
    print(f"controller: {json.dumps(results['controller'])}")


def run() -> None:
    latency()
    rolling()
    memory()


if __name__ == "__main__":
    parts: dict[str, Callable[[], None]] = {"latency": latency, "rolling": rolling, "memory": memory}
    for part in sys.argv[1:] or list(parts):
        parts[part]()
