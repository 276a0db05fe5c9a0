"""The AWS mock cloud: moto's server on loopback, seeded with the network and the machines a cluster would have.

Where this sits: ``cloudlb mock-server aws`` (``cloudlb.testing.mockserver``) and the pytest plugin's
``cloudlb_mock_cloud("aws")`` build ``AwsMockServer`` through the ``cloudlb.mock_servers`` entry point ``aws``.
``start()`` serves moto in this process and seeds, through boto3 against that server:

- a VPC with an internet gateway, and subnets in two zones tagged the way subnet discovery expects
  (``kubernetes.io/cluster/<cluster>: owned``; ``kubernetes.io/role/elb: 1`` on the public pair,
  ``kubernetes.io/role/internal-elb: 1`` on the private pair);
- a node security group tagged for the cluster;
- one EC2 instance per Node in the ``seed`` manifests, in the node's zone and with its InternalIP when that address
  lies in a seeded subnet (moto refuses others, so those get an address moto picks).

moto assigns instance ids, so the manifests are written again to ``work_dir/seeded.yaml`` with each Node's
``spec.providerID`` set (``aws:///<zone>/<instance-id>``): apply that copy and the instance targets resolve.

moto keeps its state per process, so one in-process mock runs at a time, and never beside ``mock_aws`` (which
resets that same state); ``cloudlb.testing.mockserver.MockServerProcess`` runs one in a child process instead.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
import shutil
import socket
import tempfile
import threading
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import yaml
from moto.core.models import MockAWS
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from cloudlb.errors import ConfigError, InvalidSpecError
from cloudlb.manifests import Document, load_documents

__all__ = ["ACCESS_KEY", "SECRET_KEY", "AwsMockServer", "SeededNode", "mock_server"]

log = logging.getLogger(__name__)

ACCESS_KEY = SECRET_KEY = "testing"
IMAGE_ID = "ami-12c6146b"  # moto accepts any id; a fixed one keeps runs alike
INSTANCE_TYPE = "t3.medium"
SEEDED_MANIFESTS = "seeded.yaml"
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")

_in_process_lock = threading.Lock()  # held by the one running in-process mock


@dataclass(frozen=True, slots=True)
class SeededNode:
    name: str
    instance_id: str
    zone: str
    private_ip: str

    @property
    def provider_id(self) -> str:
        return f"aws:///{self.zone}/{self.instance_id}"


class AwsMockServer:
    """moto's server on 127.0.0.1, seeded for ``cluster``; see the module docstring. Not reusable after stop()."""

    url_option = "endpoint_url"

    def __init__(
        self,
        *,
        port: int | None = None,
        seed: Sequence[str | Path] = (),
        cluster: str = "default",
        work_dir: Path | None = None,
        region: str = "us-east-1",
        vpc_cidr: str = "10.0.0.0/16",
    ) -> None:
        try:
            self.vpc_network = ipaddress.IPv4Network(vpc_cidr)
        except ValueError as exc:
            raise ConfigError(f"mock server 'aws': vpc_cidr {vpc_cidr!r} is not an IPv4 network: {exc}") from None
        if not 16 <= self.vpc_network.prefixlen <= 26:  # a VPC is /16../28, and it is cut into four subnets
            raise ConfigError(f"mock server 'aws': vpc_cidr must be a /16 to /26 network, not {vpc_cidr}")
        self.port = port or 0
        self.seed = tuple(Path(p) for p in seed)
        self.cluster = cluster
        self.region = region
        self._work_dir = Path(work_dir) if work_dir is not None else None
        self._own_work_dir = False
        self._holds_lock = False  # the process-wide slot of the one in-process mock
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        # Filled by start():
        self.url = ""
        self.vpc_id = ""
        self.public_subnets: dict[str, str] = {}  # zone -> subnet id
        self.private_subnets: dict[str, str] = {}
        self.node_security_group_id = ""
        self._subnet_networks: dict[str, tuple[str, ipaddress.IPv4Network]] = {}  # subnet id -> (zone, network)
        self.nodes: dict[str, SeededNode] = {}
        self.manifests_path: Path | None = None

    @property
    def provider_ids(self) -> dict[str, str]:
        """Node name -> the ``spec.providerID`` of its instance."""
        return {name: node.provider_id for name, node in self.nodes.items()}

    @property
    def config(self) -> dict[str, Any]:
        options = {
            "region": self.region,
            "endpoint_url": self.url,
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
            "vpc_id": self.vpc_id,
        }
        return {"provider": "aws", "cluster": self.cluster, "options": options}

    def start(self) -> dict[str, Any]:
        documents = load_documents(self.seed) if self.seed else []  # bad manifests fail before anything runs
        nodes = _nodes(documents)
        _refuse_beside_mock_aws()
        if not _in_process_lock.acquire(blocking=False):
            raise ConfigError("an AWS mock server already runs in this process (moto keeps one state per process)")
        self._holds_lock = True
        try:
            self._serve()
            self._reset()
            self._seed_network()
            self.nodes = self._seed_instances(nodes)
            if documents:
                self.manifests_path = self._write_manifests(documents)
        except BaseException:
            self.stop()
            raise
        return self.config

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            try:
                self._reset()  # moto's state outlives the server otherwise
            except OSError as exc:
                log.warning("could not reset moto's state on %s: %s", self.url, exc)
            server.shutdown()
            thread.join()
            server.server_close()
            self._server = self._thread = None
            log.info("stopped the moto server on %s", self.url)
        if self._holds_lock:
            self._holds_lock = False
            _in_process_lock.release()
        if self._own_work_dir and self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._own_work_dir = False

    # --- serving -----------------------------------------------------------------------------------------------

    def _serve(self) -> None:
        werkzeug_log = logging.getLogger("werkzeug")
        if werkzeug_log.level == logging.NOTSET:  # one line per request drowns the mock's own lines
            werkzeug_log.setLevel(logging.WARNING)
        try:
            # Bound here, not by werkzeug, which answers a busy port with sys.exit().
            listener = socket.create_server(("127.0.0.1", self.port))
        except OSError as exc:
            raise ConfigError(f"mock server 'aws': cannot listen on 127.0.0.1:{self.port}: {exc.strerror}") from None
        with listener:  # werkzeug serves a duplicate of it
            app = DomainDispatcherApplication(create_backend_app)
            server = make_server("127.0.0.1", 0, app, threaded=True, fd=listener.fileno())
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="cloudlb-mock-aws", daemon=True
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{server.port}"
        log.info("moto server on %s (region %s)", self.url, self.region)

    def _reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def _ec2(self) -> Any:
        return boto3.client(
            "ec2",
            region_name=self.region,
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    # --- seeding -----------------------------------------------------------------------------------------------

    def _tags(self, resource_type: str, name: str, extra: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        tags = {"Name": name, f"kubernetes.io/cluster/{self.cluster}": "owned", **(extra or {})}
        return [{"ResourceType": resource_type, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]

    def _seed_network(self) -> None:
        ec2 = self._ec2()
        zones = sorted(
            zone["ZoneName"]
            for zone in ec2.describe_availability_zones()["AvailabilityZones"]
            if zone.get("State", "available") == "available"
        )[:2]
        prefix = f"cloudlb-mock-{self.cluster}"
        vpc = ec2.create_vpc(CidrBlock=str(self.vpc_network), TagSpecifications=self._tags("vpc", prefix))
        self.vpc_id = vpc["Vpc"]["VpcId"]
        gateway = ec2.create_internet_gateway(TagSpecifications=self._tags("internet-gateway", prefix))
        gateway_id = gateway["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=gateway_id, VpcId=self.vpc_id)
        routes = ec2.create_route_table(VpcId=self.vpc_id, TagSpecifications=self._tags("route-table", prefix))
        route_table_id = routes["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=route_table_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway_id)
        quarters = list(self.vpc_network.subnets(prefixlen_diff=2))
        layout = [("public", "kubernetes.io/role/elb", self.public_subnets, quarters[:2])]
        layout.append(("private", "kubernetes.io/role/internal-elb", self.private_subnets, quarters[2:]))
        for kind, role, subnets, networks in layout:
            for zone, network in zip(zones, networks, strict=False):
                created = ec2.create_subnet(
                    VpcId=self.vpc_id,
                    CidrBlock=str(network),
                    AvailabilityZone=zone,
                    TagSpecifications=self._tags("subnet", f"{prefix}-{kind}-{zone}", {role: "1"}),
                )
                subnets[zone] = created["Subnet"]["SubnetId"]
                self._subnet_networks[subnets[zone]] = (zone, network)
                if kind == "public":
                    ec2.associate_route_table(RouteTableId=route_table_id, SubnetId=subnets[zone])
        group = ec2.create_security_group(
            GroupName=f"{prefix}-nodes",
            Description=f"nodes of cluster {self.cluster}",
            VpcId=self.vpc_id,
            TagSpecifications=self._tags("security-group", f"{prefix}-nodes"),
        )
        self.node_security_group_id = group["GroupId"]
        describe = ", ".join
        log.info(
            "seeded %s (%s) for cluster %s: public subnets %s; private subnets %s; node security group %s",
            self.vpc_id,
            self.vpc_network,
            self.cluster,
            describe(f"{subnet} ({zone})" for zone, subnet in self.public_subnets.items()),
            describe(f"{subnet} ({zone})" for zone, subnet in self.private_subnets.items()),
            self.node_security_group_id,
        )

    def _seed_instances(self, nodes: Sequence[_Node]) -> dict[str, SeededNode]:
        if not nodes:
            return {}
        ec2 = self._ec2()
        zones = sorted(self.private_subnets)
        seeded: dict[str, SeededNode] = {}
        for index, node in enumerate(nodes):
            placement = _place(node, self._subnet_networks)
            if placement is None:
                zone = node.zone if node.zone in self.private_subnets else zones[index % len(zones)]
                subnet_id, address = self.private_subnets[zone], None
            else:
                subnet_id, zone, address = placement
            arguments: dict[str, Any] = {"PrivateIpAddress": address} if address else {}
            reservation = ec2.run_instances(
                ImageId=IMAGE_ID,
                InstanceType=INSTANCE_TYPE,
                MinCount=1,
                MaxCount=1,
                SubnetId=subnet_id,
                SecurityGroupIds=[self.node_security_group_id],
                TagSpecifications=self._tags("instance", node.name),
                **arguments,
            )
            instance = reservation["Instances"][0]
            seeded[node.name] = SeededNode(node.name, instance["InstanceId"], zone, instance["PrivateIpAddress"])
            made = seeded[node.name]
            moved = "" if address or node.address is None else f" (its InternalIP {node.address} is in no subnet)"
            log.info("node %s -> %s at %s%s", node.name, made.provider_id, made.private_ip, moved)
        return seeded

    def _write_manifests(self, documents: Sequence[Document]) -> Path:
        if self._work_dir is None:
            self._work_dir = Path(tempfile.mkdtemp(prefix="cloudlb-mock-aws-"))
            self._own_work_dir = True
        self._work_dir.mkdir(parents=True, exist_ok=True)
        bodies: list[dict[str, Any]] = []
        for document in documents:
            body = copy.deepcopy(dict(document.body))
            name = (body.get("metadata") or {}).get("name")
            if document.kind == "Node" and name in self.nodes:
                spec = body.setdefault("spec", {}) or {}
                spec["providerID"] = self.nodes[name].provider_id
                body["spec"] = spec
            bodies.append(body)
        path = self._work_dir / SEEDED_MANIFESTS
        header = "# `cloudlb mock-server aws --seed` manifests; each Node's spec.providerID names its instance.\n"
        path.write_text(header + yaml.safe_dump_all(bodies, sort_keys=False), encoding="utf-8")
        log.info("seed manifests with providerIDs: %s", path)
        return path


@dataclass(frozen=True, slots=True)
class _Node:
    name: str
    address: str | None  # the InternalIP
    zone: str | None  # from the zone labels


def _nodes(documents: Sequence[Document]) -> list[_Node]:
    nodes: dict[str, _Node] = {}
    for document in documents:
        if document.kind != "Node":
            continue
        body = document.body
        metadata = body.get("metadata") or {}
        name = metadata.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidSpecError("metadata.name", "a Node needs a name", source=document.source)
        if name in nodes:
            raise InvalidSpecError("metadata.name", f"Node {name!r} appears twice", source=document.source)
        addresses = (body.get("status") or {}).get("addresses") or []
        internal = [a.get("address") for a in addresses if isinstance(a, Mapping) and a.get("type") == "InternalIP"]
        labels = metadata.get("labels") or {}
        zone = next((labels[key] for key in ZONE_LABELS if isinstance(labels.get(key), str)), None)
        nodes[name] = _Node(name, next((a for a in internal if isinstance(a, str)), None), zone)
    return list(nodes.values())


def _place(node: _Node, networks: Mapping[str, tuple[str, ipaddress.IPv4Network]]) -> tuple[str, str, str] | None:
    """(subnet id, zone, address) when the node's InternalIP lies in a seeded subnet and may be its address."""
    if node.address is None:
        return None
    try:
        address = ipaddress.IPv4Address(node.address)
    except ValueError:
        return None
    for subnet_id, (zone, network) in networks.items():
        # AWS reserves the first four addresses and the last one of every subnet.
        usable = network.network_address + 4 <= address < network.broadcast_address
        if address in network and usable:
            return subnet_id, zone, str(address)
    return None


def _refuse_beside_mock_aws() -> None:
    if getattr(MockAWS, "_nested_count", 0) > 0:
        raise ConfigError(
            "moto's mock_aws is active in this process and shares (and resets) the state an in-process AWS mock "
            "server would serve: run the mock server in a child process instead (MockServerProcess, or the pytest "
            "plugin's process=True)"
        )


def mock_server(
    *,
    port: int | None = None,
    seed: Sequence[str | Path] = (),
    cluster: str = "default",
    work_dir: Path | None = None,
    region: str = "us-east-1",
    vpc_cidr: str = "10.0.0.0/16",
) -> AwsMockServer:
    """The ``cloudlb.mock_servers`` entry point ``aws``."""
    return AwsMockServer(port=port, seed=seed, cluster=cluster, work_dir=work_dir, region=region, vpc_cidr=vpc_cidr)
