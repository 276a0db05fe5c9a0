"""The README's way to try the controller: ``cloudlb serve``, ``examples/deploy/dev-cluster.py`` and
``cloudlb controller --provider local``, each a process, and a Service that ends up with a working ingress."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import yaml

from cloudlb_local.testing import DaemonHandle
from tests.controller.objects import node, service
from tests.controller.traffic import addresses, free_node_port
from tests.controller.waiting import until

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "deploy" / "dev-cluster.py"


def get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return str(answer.read().decode())
    except OSError:
        return None


def test_the_readme_flow_gives_a_service_a_working_ingress(daemon: DaemonHandle, tmp_path: Path) -> None:
    ips = addresses(2)
    port = free_node_port(ips)
    manifest = tmp_path / "web.yaml"
    docs = [service("web", node_port=port, load_balancer_class=None), node("node-a", ips[0]), node("node-b", ips[1])]
    manifest.write_text(yaml.safe_dump_all(docs))
    kubeconfig = tmp_path / "kubeconfig"
    env = {**os.environ, "CLOUDLB_STATE_DIR": str(daemon.state_dir)}
    log = (tmp_path / "cluster.log").open("w")
    cluster = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--kubeconfig", str(kubeconfig), "-f", str(manifest)], stdout=log, stderr=log
    )
    controller = None
    try:
        until(kubeconfig.exists, what="the dev cluster's kubeconfig")
        controller = subprocess.Popen(
            [sys.executable, "-m", "cloudlb.controller", "--provider", "local", "--kubeconfig", str(kubeconfig),
             "--default-class", "--metrics-address", ""],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "controller.log").open("w"),
        )  # fmt: skip
        line = until(
            lambda: next((x for x in (tmp_path / "cluster.log").read_text().splitlines() if "ingress 127." in x), None),
            what="the dev cluster to report an ingress",
        )
        ip = line.split("ingress ")[1].split()[0]
        expected = {"hello from node-a (default/web)\n", "hello from node-b (default/web)\n"}
        assert until(lambda: {get(f"http://{ip}:8080/") for _ in range(8)} == expected, what="both nodes to answer")
    finally:
        for process in (controller, cluster):
            if process is not None:
                process.send_signal(signal.SIGTERM)
                assert process.wait(30) == 0
        log.close()
