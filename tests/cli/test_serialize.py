"""cloudlb.serialize: plain, JSON-able data with enums as values and sets as sorted lists."""

from __future__ import annotations

import json

import yaml

from cloudlb.model import (
    Algorithm,
    FrozenDict,
    Ingress,
    Listener,
    LoadBalancerSpec,
    LoadBalancerStatus,
    OwnedLoadBalancer,
    PortStatus,
    Protocol,
    Target,
)
from cloudlb.serialize import owned_to_dict, spec_to_dict, status_to_dict

SPEC = LoadBalancerSpec(
    cluster="c1",
    namespace="shop",
    name="web",
    uid="u1",
    listeners=(
        Listener(
            "http",
            Protocol.TCP,
            80,
            node_port=30080,
            target_port="http",
            targets=frozenset(
                {Target("10.0.0.2", 30080, "n2"), Target("10.0.0.1", 30080, "n1"), Target("10.0.0.3", 30080)}
            ),
        ),
    ),
    algorithm=Algorithm.SOURCE_IP,
    source_ranges=("10.0.0.0/8",),
    tags=FrozenDict({"team": "a"}),
)


def test_spec_to_dict_is_plain_and_stable() -> None:
    data = spec_to_dict(SPEC)

    assert json.loads(json.dumps(data)) == data
    assert yaml.safe_load(yaml.safe_dump(data)) == data
    assert data["algorithm"] == "source-ip"
    assert data["ip_families"] == ["IPv4"]
    assert data["tags"] == {"team": "a"}
    listener = data["listeners"][0]
    assert listener["protocol"] == "TCP"
    assert listener["target_port"] == "http"
    # Targets with and without a node name still sort, by address.
    assert [t["ip"] for t in listener["targets"]] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert data["health_check"]["protocol"] == "TCP"


def test_status_to_dict_keeps_port_errors() -> None:
    status = LoadBalancerStatus(
        ingress=(Ingress(ip="127.0.100.1", ports=(PortStatus(80, Protocol.TCP, "permission denied"),)),),
        cloud_name="lb-web",
        cloud_id="id-1",
    )

    data = status_to_dict(status)

    assert data == {
        "ingress": [
            {
                "ip": "127.0.100.1",
                "hostname": None,
                "ports": [{"port": 80, "protocol": "TCP", "error": "permission denied"}],
            }
        ],
        "cloud_name": "lb-web",
        "cloud_id": "id-1",
    }


def test_owned_to_dict_names_the_service() -> None:
    data = owned_to_dict(OwnedLoadBalancer("c1", "shop", "web", "u1", "lb-web", "id-1"))

    assert data == {
        "cluster": "c1",
        "namespace": "shop",
        "name": "web",
        "uid": "u1",
        "cloud_name": "lb-web",
        "cloud_id": "id-1",
        "service": "shop/web",
    }
