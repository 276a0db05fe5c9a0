"""examples/deploy/: the manifests parse, type-check against the official client's models, hold exactly the RBAC the
controller's calls need, and agree with each other and with the command's flags."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from cloudlb.config import load_config_file
from cloudlb.controller.command import _lease_name, controller
from cloudlb.controller.kubeclient import PERMISSIONS, KubeClient
from cloudlb.controller.runner import LeaderSettings, Process
from cloudlb.errors import TemporaryError
from cloudlb.testing.kubeapi import FakeKubeAPI
from tests.controller.conftest import FAST
from tests.controller.discovery import discovery_server
from tests.controller.objects import node, service
from tests.controller.providers import RecordingProvider
from tests.controller.waiting import until

DEPLOY = Path(__file__).resolve().parents[2] / "examples" / "deploy"
MANIFESTS = ("namespace.yaml", "rbac.yaml", "secret.yaml", "deployment.yaml")
JSON = dict[str, Any]
Rules = dict[tuple[str, str], set[str]]


def documents() -> list[JSON]:
    docs = []
    for name in MANIFESTS:
        docs += [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]
    return docs


def one(kind: str, name: str | None = None) -> JSON:
    (found,) = [d for d in documents() if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return found


def rules_of(role: JSON) -> Rules:
    out: Rules = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def declared(*, lease: bool) -> Rules:
    return {(p.api_group, p.resource): set(p.verbs) for p in PERMISSIONS if p.namespaced_to_lease == lease}


def container() -> JSON:
    (found,) = one("Deployment")["spec"]["template"]["spec"]["containers"]
    return dict(found)


def flags() -> dict[str, Any]:
    """The Deployment's args as the command parses them: every flag must exist and every value type-check."""
    args = container()["args"]
    assert args[0] == "controller"
    return dict(controller.make_context("controller", list(args[1:])).params)


MODELS = {
    "Namespace": k8s.V1Namespace,
    "ServiceAccount": k8s.V1ServiceAccount,
    "Secret": k8s.V1Secret,
    "ClusterRole": k8s.V1ClusterRole,
    "ClusterRoleBinding": k8s.V1ClusterRoleBinding,
    "Role": k8s.V1Role,
    "RoleBinding": k8s.V1RoleBinding,
    "Deployment": k8s.V1Deployment,
    "PodDisruptionBudget": k8s.V1PodDisruptionBudget,
}


@pytest.mark.parametrize("doc", [pytest.param(d, id=f"{d['kind']}/{d['metadata']['name']}") for d in documents()])
def test_each_manifest_round_trips_through_the_official_models(doc: JSON) -> None:
    """Field types are checked by the client's models; a misspelt field is dropped by them and fails the equality."""
    model = MODELS[doc["kind"]].from_dict(doc)
    assert k8s.ApiClient().sanitize_for_serialization(model) == doc


def test_the_cluster_role_grants_exactly_what_the_controller_calls() -> None:
    assert rules_of(one("ClusterRole")) == declared(lease=False)


def test_the_lease_role_grants_exactly_leader_election_and_only_on_this_class_lease() -> None:
    role = one("Role")
    assert rules_of(role) == declared(lease=True)
    named = [r for r in role["rules"] if r.get("resourceNames")]
    assert named == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [_lease_name(flags()["load_balancer_class"])],
            "verbs": ["get", "update"],
        }
    ]
    assert role["metadata"]["namespace"] == one("Deployment")["metadata"]["namespace"]  # $POD_NAMESPACE is the lease's


def test_bindings_deployment_and_secret_agree() -> None:
    account = one("ServiceAccount")["metadata"]
    pod = one("Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["name"]
    for binding, role in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        bound = one(binding)
        assert bound["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": role,
            "name": one(role)["metadata"]["name"],
        }
        assert bound["subjects"] == [
            {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
        ]
    assert one("Deployment")["spec"]["replicas"] == 2


def test_the_config_secret_is_a_valid_config_file_mounted_where_the_flag_points(tmp_path: Path) -> None:
    params = flags()
    (mount,) = container()["volumeMounts"]
    (volume,) = one("Deployment")["spec"]["template"]["spec"]["volumes"]
    assert volume["name"] == mount["name"] and mount["readOnly"]
    secret = one("Secret", volume["secret"]["secretName"])
    path = Path(params["config_path"])
    assert path.parent == Path(mount["mountPath"])
    copy = tmp_path / path.name
    copy.write_text(secret["stringData"][path.name])
    config = load_config_file(copy)
    assert config.provider and config.cluster and config.options
    assert params["load_balancer_class"] == f"cloudlb.io/{config.provider}"


def test_probes_and_metrics_port_match_the_flag() -> None:
    params = flags()
    spec = container()
    (port,) = spec["ports"]
    host, _, number = params["metrics_address"].rpartition(":")
    assert host == "0.0.0.0" and int(number) == port["containerPort"]  # the kubelet probes the Pod IP
    assert spec["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert spec["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert params["retry_period"] < params["renew_deadline"] < params["lease_duration"]


# -- the requests a full run makes: every one is granted, and every grant is used ----------------------------------

_PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/v1)(?:/namespaces/[^/]+)?/(?P<resource>[a-z]+)(?:/[^/]+(?P<sub>/status)?)?$"
)


def permission_of(path: str) -> tuple[str, str]:
    match = _PATH.match(path)
    assert match is not None, path
    return match["group"] or "", match["resource"] + (match["sub"] or "")


@pytest.fixture
def full_run(kube: FakeKubeAPI, client: KubeClient) -> Iterator[Rules]:
    """A controller process through a Service's whole life, with the detours that need the rarer verbs."""
    provider = RecordingProvider()
    provider.fail_next("ensure", TemporaryError("busy"), TemporaryError("busy"))  # a repeated event: patch
    kube.create(node("node-a", "10.0.0.1"))
    kube.create(service("web"))
    kube.fail(409, verb="patch", path=r"/api/v1/namespaces/default/services/web")  # a conflict: get
    leader = LeaderSettings(
        namespace="default", name="lb", identity="me", lease_duration=3, renew_deadline=2, retry_period=0.2
    )
    process = Process(client, provider, FAST, leader)
    thread = threading.Thread(target=process.run, daemon=True)
    thread.start()
    until(lambda: ((kube.get("Service", "default", "web") or {}).get("status") or {}).get("loadBalancer"))
    kube.patch("Service", "default", "web", {"spec": {"type": "ClusterIP", "loadBalancerClass": None}})
    until(lambda: not (kube.get("Service", "default", "web") or {})["metadata"].get("finalizers"))
    kube.create(service("gone", node_port=30099))
    until(lambda: (kube.get("Service", "default", "gone") or {}).get("metadata", {}).get("finalizers"))
    kube.delete("Service", "default", "gone")
    until(lambda: kube.get("Service", "default", "gone") is None)
    until(lambda: kube.count("update", r".*/leases/lb") >= 2, what="a lease renewal")
    process.stop()
    thread.join(20)
    used: Rules = {}
    for record in kube.requests:
        used.setdefault(permission_of(record.path), set()).add(record.verb)
    yield used


def test_every_request_of_a_full_run_is_granted_and_every_grant_is_used(full_run: Rules) -> None:
    granted = {**declared(lease=False), **declared(lease=True)}
    assert full_run == granted


# -- kubectl, where it is installed -----------------------------------------------------------------------------

kubectl = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(kubectl is None, reason="kubectl is not installed")


def names(docs: list[JSON]) -> list[str]:
    return sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs)


@needs_kubectl
def test_kubectl_builds_the_kustomization() -> None:
    assert kubectl is not None
    out = subprocess.run([kubectl, "kustomize", str(DEPLOY)], capture_output=True, text=True, check=True, timeout=60)
    assert names([d for d in yaml.safe_load_all(out.stdout) if d]) == names(documents())


@needs_kubectl
def test_kubectl_client_side_dry_run_accepts_every_manifest() -> None:
    assert kubectl is not None
    with discovery_server() as url:
        out = subprocess.run(
            [
                kubectl,
                "create",
                "--dry-run=client",
                "--validate=false",
                "-o",
                "yaml",
                *(arg for name in MANIFESTS for arg in ("-f", str(DEPLOY / name))),
                "--server",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 0, out.stderr
    assert names([d for d in yaml.safe_load_all(out.stdout) if d]) == names(documents())
