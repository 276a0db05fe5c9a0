"""A Kubernetes cluster on loopback for trying ``cloudlb controller`` without one: the fake API server plus a
stand-in for kube-proxy.

    python examples/deploy/dev-cluster.py --kubeconfig /tmp/kubeconfig -f examples/web.yaml

It serves cloudlb's fake API server (``cloudlb.testing.kubeapi.FakeKubeAPI``) on 127.0.0.1, writes a kubeconfig for
it, and creates the objects in the files given with ``-f``. Every second it then makes each Node's InternalIP answer
HTTP on every nodePort of every Service (the job kube-proxy does in a real cluster), so a load balancer that
targets the nodes serves real traffic: each answer names the node and the Service. It prints each LoadBalancer
Service's ingress as it changes. Ctrl-C stops it all.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from cloudlb.testing.kubeapi import FakeKubeAPI


class _Backend(ThreadingHTTPServer):
    daemon_threads = True
    greeting = b""

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # without HTTPServer's getfqdn: a DNS lookup, slow offline


class _Hello(BaseHTTPRequestHandler):
    server: _Backend

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(self.server.greeting)))
        self.end_headers()
        self.wfile.write(self.server.greeting)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _internal_ip(node: dict[str, Any]) -> str | None:
    for address in (node.get("status") or {}).get("addresses") or ():
        if address.get("type") == "InternalIP":
            return str(address.get("address"))
    return None


def _node_ports(api: FakeKubeAPI) -> dict[int, str]:
    ports = {}
    for svc in api.objects("Service"):
        for port in (svc.get("spec") or {}).get("ports") or ():
            if port.get("nodePort") and port.get("protocol", "TCP") == "TCP":
                ports[int(port["nodePort"])] = f"{svc['metadata']['namespace']}/{svc['metadata']['name']}"
    return ports


def _proxy(api: FakeKubeAPI, running: dict[tuple[str, int], _Backend | None]) -> None:
    """Start a backend for every (node IP, nodePort) that has none yet."""
    ports = _node_ports(api)
    for node in api.objects("Node"):
        ip = _internal_ip(node)
        if ip is None:
            continue
        for port, service in ports.items():
            if (ip, port) in running:
                continue
            try:
                backend = _Backend((ip, port), _Hello)
            except OSError as exc:
                print(f"warning: cannot serve {ip}:{port} for {service}: {exc}", file=sys.stderr)
                running[(ip, port)] = None  # do not retry every second
                continue
            backend.greeting = f"hello from {node['metadata']['name']} ({service})\n".encode()
            threading.Thread(target=backend.serve_forever, daemon=True).start()
            running[(ip, port)] = backend
            print(f"node {node['metadata']['name']} serves {ip}:{port} for {service}", file=sys.stderr)


def _report(api: FakeKubeAPI, shown: dict[str, str]) -> None:
    """Print each LoadBalancer Service's ingress when it changes (kubectl sends no token over plain HTTP)."""
    for svc in api.objects("Service"):
        if (svc.get("spec") or {}).get("type") != "LoadBalancer":
            continue
        key = f"{svc['metadata']['namespace']}/{svc['metadata']['name']}"
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        ports = ",".join(str(p["port"]) for p in (svc.get("spec") or {}).get("ports") or ())
        text = " ".join(i.get("ip") or i.get("hostname") or "?" for i in ingress) or "<pending>"
        if shown.get(key) != text:
            shown[key] = text
            print(f"service {key}: ingress {text} (ports {ports})", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--kubeconfig", default="kubeconfig", help="where to write the kubeconfig (default: ./kubeconfig)"
    )
    parser.add_argument("--port", type=int, default=0, help="the API server's port on 127.0.0.1 (default: any free)")
    parser.add_argument("-f", "--filename", action="append", default=[], help="manifests to create (repeatable)")
    args = parser.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    running: dict[tuple[str, int], _Backend | None] = {}
    with FakeKubeAPI(port=args.port) as api:
        for name in args.filename:
            for doc in yaml.safe_load_all(Path(name).read_text()):
                if doc:
                    doc.setdefault("metadata", {}).pop("uid", None)  # the server assigns uids
                    api.create(doc)
        path = api.kubeconfig(args.kubeconfig)
        print(f"fake API server at {api.url}; kubeconfig: {path}", flush=True)
        shown: dict[str, str] = {}
        while not stop.is_set():
            _proxy(api, running)
            _report(api, shown)
            stop.wait(1.0)
        for backend in running.values():
            if backend is not None:
                with contextlib.suppress(OSError):
                    backend.shutdown()
                    backend.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
