"""examples/aws/web.yaml, the README's AWS quick start, applied through load_manifests to moto and read back."""

from __future__ import annotations

from pathlib import Path

import yaml

from cloudlb import get_provider, load_manifests
from tests.aws.helpers import CLUSTER, REGION, World, boto, read_nlbs

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "aws" / "web.yaml"


def _nodes(world: World, path: Path) -> Path:
    """Nodes for the seeded instances, as `cloudlb mock-server aws` writes them to seeded.yaml."""
    docs = [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": f"node-{i}", "labels": {"topology.kubernetes.io/zone": zone}},
            "spec": {"providerID": f"aws:///{zone}/{instance}"},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
        }
        for i, (instance, ip, zone) in enumerate(world.instances)
    ]
    path.write_text(yaml.safe_dump_all(docs))
    return path


def test_the_readme_example_becomes_an_nlb_with_both_ports(world: World, tmp_path: Path) -> None:
    [spec] = load_manifests([_nodes(world, tmp_path / "nodes.yaml"), EXAMPLE], cluster=CLUSTER)
    # the provider as users get it: managed security groups (the example has source ranges) and the classic type
    provider = get_provider("aws", region=REGION, vpc_id=world.vpc_id)

    provider.ensure(spec)

    [nlb] = read_nlbs(spec)
    assert nlb.scheme == "internet-facing"
    assert {port: listener["Protocol"] for port, listener in nlb.listeners.items()} == {80: "TCP", 53: "UDP"}
    instances = {instance for instance, _, _ in world.instances}
    assert nlb.targets[80] == {(i, 30080) for i in instances}
    assert nlb.targets[53] == {(i, 30053) for i in instances}
    assert {"team": "web", "env": "ci"}.items() <= nlb.tags.items()
    groups = boto("ec2").describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [world.vpc_id]}])
    frontend = [
        g for g in groups["SecurityGroups"] if {"Key": "cloudlb.io/service", "Value": "demo/web"} in g.get("Tags", [])
    ]
    assert len(frontend) == 1
    assert {(r["IpProtocol"], r["FromPort"]) for r in frontend[0]["IpPermissions"]} == {("tcp", 80), ("udp", 53)}
    assert {rng["CidrIp"] for r in frontend[0]["IpPermissions"] for rng in r["IpRanges"]} == {"203.0.113.0/24"}

    assert provider.delete(spec) is True
    assert read_nlbs(spec) == []
