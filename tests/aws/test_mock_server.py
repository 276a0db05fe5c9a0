"""The AWS mock cloud: what it seeds, read back with boto3 from moto; the config it prints; the rewritten manifests;
its guards; and ``cloudlb mock-server aws`` in a child process."""

from __future__ import annotations

import socket
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

import cloudlb
from cloudlb.errors import ConfigError, InvalidSpecError
from cloudlb.manifests import load_documents
from cloudlb.testing import MockServerProcess
from cloudlb.testing.mockserver import ENTRY_POINT_GROUP
from cloudlb_aws.mock import AwsMockServer
from cloudlb_aws.options import AwsOptions
from cloudlb_aws.provider import AwsProvider
from tests.testing.entrypoints import MOCK_SERVER_COMMAND, environment_with

CLUSTER = "ci"
ZONES = ("us-east-1a", "us-east-1b")  # moto's first two zones in us-east-1
OPTION_KEYS = {"region", "endpoint_url", "aws_access_key_id", "aws_secret_access_key", "vpc_id"}

# node-a: an address in the private subnet of its labelled zone; node-b: one in the second public subnet;
# node-c: a loopback address no subnet holds, and a zone label; node-d (inside a List): neither.
MANIFESTS = """
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, uid: 7d0c2a1e-0000-4000-8000-000000000001}
spec:
  type: LoadBalancer
  ports: [{name: http, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30080}]
---
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {topology.kubernetes.io/zone: us-east-1a}}
status: {addresses: [{type: InternalIP, address: 10.0.128.10}, {type: Hostname, address: node-a}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
spec: {podCIDR: 10.244.1.0/24}
status: {addresses: [{type: InternalIP, address: 10.0.64.20}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-c, labels: {topology.kubernetes.io/zone: us-east-1b}}
status: {addresses: [{type: InternalIP, address: 127.0.0.13}]}
---
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Node, metadata: {name: node-d}}
"""


def write_manifests(directory: Path) -> Path:
    path = directory / "cluster.yaml"
    path.write_text(textwrap.dedent(MANIFESTS))
    return path


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    return write_manifests(tmp_path)


@pytest.fixture(scope="class")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AwsMockServer, Path]]:
    """One mock for the read-only tests of a class (seeding costs a second); gone before the next test class."""
    directory = tmp_path_factory.mktemp("seeded")
    path = write_manifests(directory)
    server = AwsMockServer(seed=[path], cluster=CLUSTER, work_dir=directory / "work")
    server.start()
    try:
        yield server, path
    finally:
        server.stop()


@pytest.fixture
def mock(seeded: tuple[AwsMockServer, Path]) -> AwsMockServer:
    return seeded[0]


def ec2(url: str) -> Any:
    return boto3.client(
        "ec2", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def tags(resource: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


def owned(resource: dict[str, Any]) -> bool:
    return tags(resource).get(f"kubernetes.io/cluster/{CLUSTER}") == "owned"


# --- what is seeded, read back ---------------------------------------------------------------------------------


class TestSeeded:
    """What one seeded mock holds, read back with boto3 from moto."""

    def test_network_is_seeded_for_subnet_discovery(self, mock: AwsMockServer) -> None:
        client = ec2(mock.url)

        (vpc,) = client.describe_vpcs(VpcIds=[mock.vpc_id])["Vpcs"]
        subnets = client.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [mock.vpc_id]}])["Subnets"]
        public = [s for s in subnets if tags(s).get("kubernetes.io/role/elb") == "1"]
        private = [s for s in subnets if tags(s).get("kubernetes.io/role/internal-elb") == "1"]

        assert vpc["CidrBlock"] == "10.0.0.0/16" and owned(vpc)
        assert len(subnets) == 4 and all(owned(s) for s in subnets)
        assert (
            sorted(s["AvailabilityZone"] for s in public)
            == sorted(s["AvailabilityZone"] for s in private)
            == list(ZONES)
        )
        assert sorted(s["CidrBlock"] for s in public) == ["10.0.0.0/18", "10.0.64.0/18"]
        assert {s["SubnetId"] for s in public} == set(mock.public_subnets.values())
        assert {s["SubnetId"] for s in private} == set(mock.private_subnets.values())
        # The public pair reaches the internet: an attached gateway and a default route to it.
        (gateway,) = client.describe_internet_gateways(
            Filters=[{"Name": "attachment.vpc-id", "Values": [mock.vpc_id]}]
        )["InternetGateways"]
        routed = client.describe_route_tables(
            Filters=[{"Name": "route.gateway-id", "Values": [gateway["InternetGatewayId"]]}]
        )
        associated = {a.get("SubnetId") for table in routed["RouteTables"] for a in table["Associations"]}
        assert associated >= {s["SubnetId"] for s in public}
        assert not associated & {s["SubnetId"] for s in private}

    def test_one_instance_per_node_in_its_zone_with_its_address_when_possible(self, mock: AwsMockServer) -> None:
        reservations = ec2(mock.url).describe_instances(Filters=[{"Name": "vpc-id", "Values": [mock.vpc_id]}])
        instances = {tags(i)["Name"]: i for r in reservations["Reservations"] for i in r["Instances"]}

        assert sorted(instances) == ["node-a", "node-b", "node-c", "node-d"]
        placed = {name: (i["Placement"]["AvailabilityZone"], i["SubnetId"]) for name, i in instances.items()}
        assert placed["node-a"] == ("us-east-1a", mock.private_subnets["us-east-1a"])
        assert placed["node-b"] == ("us-east-1b", mock.public_subnets["us-east-1b"])
        assert placed["node-c"] == ("us-east-1b", mock.private_subnets["us-east-1b"])
        assert placed["node-d"][1] in mock.private_subnets.values()
        assert instances["node-a"]["PrivateIpAddress"] == "10.0.128.10"
        assert instances["node-b"]["PrivateIpAddress"] == "10.0.64.20"
        assert instances["node-c"]["PrivateIpAddress"].startswith("10.0.")  # moto's pick: 127.0.0.13 fits no subnet
        assert all(owned(i) for i in instances.values())
        assert all(
            [g["GroupId"] for g in i["SecurityGroups"]] == [mock.node_security_group_id] for i in instances.values()
        )
        expected = {
            name: f"aws:///{i['Placement']['AvailabilityZone']}/{i['InstanceId']}" for name, i in instances.items()
        }
        assert mock.provider_ids == expected

    def test_node_security_group_is_tagged_for_the_cluster(self, mock: AwsMockServer) -> None:
        (group,) = ec2(mock.url).describe_security_groups(GroupIds=[mock.node_security_group_id])["SecurityGroups"]

        assert group["VpcId"] == mock.vpc_id
        assert owned(group)

    def test_seeded_manifests_name_each_instance(self, mock: AwsMockServer, seeded: tuple[AwsMockServer, Path]) -> None:
        assert mock.manifests_path is not None
        original = load_documents([seeded[1]])
        rewritten = load_documents([mock.manifests_path])

        assert [d.kind for d in rewritten] == [d.kind for d in original]
        for before, after in zip(original, rewritten, strict=True):
            if after.kind == "Node":
                name = after.body["metadata"]["name"]
                assert after.body["spec"].pop("providerID") == mock.provider_ids[name]
                assert dict(after.body["spec"]) == dict(before.body.get("spec") or {})  # node-b keeps its podCIDR
            assert {k: v for k, v in after.body.items() if k != "spec"} == {
                k: v for k, v in before.body.items() if k != "spec"
            }
        (spec,) = cloudlb.load_manifests([mock.manifests_path], cluster=CLUSTER)
        addressed = {name: pid for name, pid in mock.provider_ids.items() if name != "node-d"}  # node-d has no address
        assert {t.node_name: t.provider_id for t in spec.targets} == addressed

    def test_config_is_what_the_provider_options_accept(self, mock: AwsMockServer) -> None:
        config = mock.config

        assert set(config) == {"provider", "cluster", "options"}
        assert (config["provider"], config["cluster"]) == ("aws", CLUSTER)
        assert set(config["options"]) == OPTION_KEYS
        assert config["options"]["endpoint_url"] == mock.url and config["options"]["vpc_id"] == mock.vpc_id
        options = AwsOptions.from_kwargs(**config["options"])
        assert (options.endpoint_url, options.vpc_id, options.region) == (mock.url, mock.vpc_id, "us-east-1")


def test_custom_vpc_cidr_keeps_node_addresses_inside_it(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text(
        "kind: Node\nmetadata: {name: n1}\nstatus: {addresses: [{type: InternalIP, address: 192.168.12.7}]}\n"
    )
    server = AwsMockServer(seed=[nodes], vpc_cidr="192.168.0.0/20", region="eu-west-1")
    try:
        server.start()
        client = boto3.client(
            "ec2",
            endpoint_url=server.url,
            region_name="eu-west-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        (reservation,) = client.describe_instances()["Reservations"]
        manifests_dir = server.manifests_path.parent if server.manifests_path else None
    finally:
        server.stop()

    assert reservation["Instances"][0]["PrivateIpAddress"] == "192.168.12.7"
    assert server.nodes["n1"].zone == "eu-west-1b"  # 192.168.12.0/22 is the second private subnet
    assert manifests_dir is not None and not manifests_dir.exists()  # a temporary work dir goes with the server


def test_printed_config_drives_the_provider_onto_the_seeded_instances(manifests: Path, tmp_path: Path) -> None:
    server = AwsMockServer(seed=[manifests], cluster=CLUSTER, work_dir=tmp_path / "work")
    config = server.start()
    try:
        assert server.manifests_path is not None
        provider = AwsProvider(**config["options"])
        (spec,) = cloudlb.load_manifests([server.manifests_path], cluster=config["cluster"])
        provider.ensure(spec)
        elbv2 = boto3.client(
            "elbv2",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        (balancer,) = elbv2.describe_load_balancers()["LoadBalancers"]
        (group,) = elbv2.describe_target_groups(LoadBalancerArn=balancer["LoadBalancerArn"])["TargetGroups"]
        health = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])["TargetHealthDescriptions"]
        deleted = provider.delete(spec)
        left = elbv2.describe_load_balancers()["LoadBalancers"]
    finally:
        server.stop()

    assert balancer["VpcId"] == server.vpc_id
    assert {zone["SubnetId"] for zone in balancer["AvailabilityZones"]} == set(server.public_subnets.values())
    addressed = [server.nodes[name] for name in ("node-a", "node-b", "node-c")]  # node-d has no InternalIP
    assert {(t["Target"]["Id"], t["Target"]["Port"]) for t in health} == {(n.instance_id, 30080) for n in addressed}
    assert deleted and left == []


# --- lifecycle and guards -----------------------------------------------------------------------------------


def test_stop_empties_moto_and_the_next_mock_starts_clean(manifests: Path) -> None:
    first = AwsMockServer(seed=[manifests])
    first.start()
    first_vpc, first_url = first.vpc_id, first.url
    first.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(first_url, timeout=5)

    second = AwsMockServer()
    second.start()
    try:
        vpcs = ec2(second.url).describe_vpcs()["Vpcs"]
        instances = ec2(second.url).describe_instances()["Reservations"]
    finally:
        second.stop()

    assert first_vpc not in {v["VpcId"] for v in vpcs}
    assert len(vpcs) == 2  # moto's default VPC and the new one
    assert instances == []


def test_one_in_process_mock_at_a_time() -> None:
    running = AwsMockServer()
    running.start()
    try:
        with pytest.raises(ConfigError, match="already runs in this process"):
            AwsMockServer().start()
    finally:
        running.stop()


def test_refuses_to_run_beside_mock_aws() -> None:
    with mock_aws(), pytest.raises(ConfigError, match="mock_aws is active"):
        AwsMockServer().start()


def test_busy_port_is_a_config_error_and_frees_the_slot() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{taken.getsockname()[1]}"):
            AwsMockServer(port=taken.getsockname()[1]).start()
    server = AwsMockServer()
    server.start()
    server.stop()


def test_bad_seed_fails_before_serving(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Node\nmetadata: {name: twin}\n---\nkind: Node\nmetadata: {name: twin}\n")
    server = AwsMockServer(seed=[bad])

    with pytest.raises(InvalidSpecError, match=r"bad\.yaml#2: metadata\.name: Node 'twin' appears twice"):
        server.start()
    assert server.url == ""
    other = AwsMockServer()
    other.start()  # the in-process slot is free
    other.stop()


@pytest.mark.parametrize("cidr", ["not-a-network", "10.0.0.0/8", "10.0.0.0/27", "10.0.0.1/16"])
def test_bad_vpc_cidr_is_refused(cidr: str) -> None:
    with pytest.raises(ConfigError, match="vpc_cidr"):
        AwsMockServer(vpc_cidr=cidr)


# --- the command ----------------------------------------------------------------------------------------------


def test_command_prints_config_first_and_exits_zero_on_sigterm(manifests: Path, tmp_path: Path) -> None:
    groups = {**MOCK_SERVER_COMMAND, ENTRY_POINT_GROUP: {"aws": "cloudlb_aws.mock:mock_server"}}
    env = environment_with(tmp_path / "ep", groups)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = MockServerProcess("aws", port=port, seed=[manifests], cluster=CLUSTER, work_dir=tmp_path / "w", env=env)

    config = process.start()
    try:
        reservations = ec2(config["options"]["endpoint_url"]).describe_instances()["Reservations"]
    finally:
        code = process.stop()
    log = process.log_text()

    assert code == 0, log
    assert config["options"]["endpoint_url"] == f"http://127.0.0.1:{port}"
    assert set(config["options"]) == OPTION_KEYS
    assert len(reservations) == 4
    assert f"seed manifests with providerIDs: {tmp_path / 'w' / 'seeded.yaml'}" in log
    assert "node node-a -> aws:///us-east-1a/i-" in log
    assert (tmp_path / "w" / "seeded.yaml").exists()  # a work dir the user named is kept
