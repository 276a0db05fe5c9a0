"""The conformance harness for ``AwsProvider``: moto in-process (``mock_aws``), read back with boto3 clients of its own.

The provider is built as ``get_provider("aws", ...)`` builds it (managed security groups, classic ELB backend). Its
calls are counted, and faults injected, by botocore event hooks on its clients: a fault ``before`` a mutating call
keeps it from moto, one ``after`` lets moto apply it and loses the answer. Node targets are instances that need not
exist (ELBv2 in moto registers any id): node ``i`` is instance ``i-<i in hex>`` at 10.1.x.y; pod ``i`` is 10.2.x.y.
A TCP and a UDP port with the same number share one TCP_UDP listener on an NLB, so this harness gives them the
same backend port, as a Service meant for an NLB does.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import boto3
import botocore.exceptions
from moto import mock_aws

from cloudlb.model import LoadBalancerSpec, Target, TargetMode
from cloudlb.model import Protocol as IPProtocol
from cloudlb.naming import Ownership, ownership
from cloudlb_aws.clients import is_mutating
from cloudlb_aws.options import AwsOptions, ServiceOptions
from cloudlb_aws.provider import AwsProvider
from cloudlb_aws.tagging import from_aws
from tests.conformance.harness import BaseHarness, Endpoint, Key, ObservedLoadBalancer, ResourceView, TargetOp

REGION = "us-east-1"
ZONES = ("us-east-1a", "us-east-1b")
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
_NO_AMIS = "MOTO_EC2_LOAD_DEFAULT_AMIS"
_PROTOCOLS = {"TCP_UDP": ("TCP", "UDP"), "TLS": ("TCP",)}  # the Service protocols an NLB listener serves


class _Hooks:
    """Counts the provider's calls and target changes, and breaks the n-th mutating call once."""

    def __init__(self, endpoint: Any) -> None:
        self.endpoint = endpoint  # instance id or IP -> (ip, port) lookups live in the harness
        self.calls = 0
        self.mutating = 0
        self.ops: list[TargetOp] = []
        self.fault: tuple[int, bool] | None = None
        self.seen = 0

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build", self.keep_params)
        client.meta.events.register("before-call", self.before)
        client.meta.events.register("after-call", self.after)

    def keep_params(self, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["cloudlb_params"] = dict(params)  # the API's parameters, before botocore serializes them

    def before(self, model: Any, **_: Any) -> None:
        self.calls += 1
        if not is_mutating(model.name):
            return
        self.mutating += 1
        self.seen += 1
        if self.fault is not None and self.fault == (self.seen, False):
            self.fault = None
            _fail(model.name)

    def after(self, model: Any, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        if http_response.status_code >= 300 or not is_mutating(model.name):
            return
        params = context.get("cloudlb_params") or {}
        if model.name in ("RegisterTargets", "DeregisterTargets"):
            kind = "register" if model.name == "RegisterTargets" else "deregister"
            targets = frozenset(self.endpoint(t["Id"], t["Port"]) for t in params["Targets"])
            self.ops.append(TargetOp(params["TargetGroupArn"], kind, targets))  # type: ignore[arg-type]
        if self.fault is not None and self.fault == (self.seen, True):
            self.fault = None
            _fail(model.name)


@functools.cache
def _client(service: str) -> Any:
    """Read-back clients, made once: building one takes a second, and moto intercepts clients made before it."""
    return boto3.client(service, region_name=REGION, **CREDENTIALS)


def _fail(operation: str) -> None:
    error = {"Error": {"Code": "InjectedFailure", "Message": f"injected at {operation}"}}
    raise botocore.exceptions.ClientError({**error, "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)


class AwsHarness(BaseHarness):
    def __init__(self) -> None:
        self.id = "aws"
        self.target_batch_size: int | None = 200
        # moto's image catalogue takes a second to load and nothing here runs an instance.
        self._saved_env = os.environ.get(_NO_AMIS)
        os.environ[_NO_AMIS] = "false"
        self._mock = mock_aws()
        self._mock.start()
        self.elbv2 = _client("elbv2")
        self.ec2 = _client("ec2")
        self._ips: dict[str, str] = {}
        self._foreign: list[dict[str, str]] = []
        self.hooks = _Hooks(self._endpoint)
        self._seed()

    def _seed(self) -> None:
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        # Shared by this cluster and the one the suite calls "elsewhere".
        clusters = [{"Key": f"kubernetes.io/cluster/{c}", "Value": "shared"} for c in (self.cluster, "elsewhere")]
        for i, zone in enumerate(ZONES):
            for offset, role in ((0, "kubernetes.io/role/elb"), (100, "kubernetes.io/role/internal-elb")):
                tags = [*clusters, {"Key": role, "Value": "1"}]
                self.ec2.create_subnet(
                    VpcId=vpc,
                    CidrBlock=f"10.0.{offset + i}.0/24",
                    AvailabilityZone=zone,
                    TagSpecifications=[{"ResourceType": "subnet", "Tags": tags}],
                )
        self.vpc_id = vpc

    # --- specs -------------------------------------------------------------------------------------------------

    def target(self, index: int, port: int, mode: TargetMode) -> Target:
        base = super().target(index, port, mode)
        if mode is TargetMode.POD:
            return base
        instance = f"i-{index:017x}"
        self._ips[instance] = base.ip
        return base._replace(provider_id=f"aws:///{ZONES[index % 2]}/{instance}", zone=ZONES[index % 2])

    def make_spec(
        self,
        name: str = "web",
        *,
        namespace: str = "default",
        uid: str | None = None,
        cluster: str | None = None,
        ports: Sequence[Key] = ((IPProtocol.TCP, 80),),
        nodes: Iterable[int] = range(3),
        **fields: Any,
    ) -> LoadBalancerSpec:
        spec = super().make_spec(
            name, namespace=namespace, uid=uid, cluster=cluster, ports=ports, nodes=nodes, **fields
        )
        # The first listener on a port sets the backend port every listener on that port uses.
        first: dict[int, Any] = {}
        listeners = []
        for listener in spec.listeners:
            lead = first.setdefault(listener.port, listener)
            listeners.append(
                replace(listener, node_port=lead.node_port, target_port=lead.target_port, targets=lead.targets)
            )
        return replace(spec, listeners=tuple(listeners))

    def _endpoint(self, target_id: str, port: int) -> Endpoint:
        return (self._ips.get(target_id, target_id), int(port))

    # --- the provider and its calls ------------------------------------------------------------------------------

    def make_provider(self) -> AwsProvider:
        options = AwsOptions.from_kwargs(
            region=REGION, rate_limit=None, targets_rate_limit=None, retry_initial_delay=0.0, **CREDENTIALS
        )
        provider = AwsProvider.from_options(options)
        for service in ("elbv2", "elb", "ec2"):
            self.hooks.attach(provider.clients.client(service))
        return provider

    def mutating_calls(self) -> int:
        return self.hooks.mutating

    def all_calls(self) -> int:
        return self.hooks.calls

    def target_ops(self) -> list[TargetOp]:
        return list(self.hooks.ops)

    def fail_at_mutating_call(self, n: int, *, after: bool = False) -> None:
        self.hooks.fault, self.hooks.seen = (n, after), 0

    def clear_faults(self) -> None:
        self.hooks.fault = None

    # --- reading the cloud back ----------------------------------------------------------------------------------

    def _tags(self, arns: list[str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for i in range(0, len(arns), 20):
            for d in self.elbv2.describe_tags(ResourceArns=arns[i : i + 20])["TagDescriptions"]:
                out[d["ResourceArn"]] = from_aws(d["Tags"])
        return out

    def _balancers(self) -> list[dict[str, Any]]:
        return [lb for lb in self.elbv2.describe_load_balancers()["LoadBalancers"] if lb["Type"] == "network"]

    def read_back(self, spec: LoadBalancerSpec) -> list[ObservedLoadBalancer]:
        balancers = self._balancers()
        tags = self._tags([lb["LoadBalancerArn"] for lb in balancers])
        out = []
        for lb in balancers:
            lb_tags = tags.get(lb["LoadBalancerArn"], {})
            if ownership(lb_tags, spec.ref) is not Ownership.MINE:
                continue
            listeners: dict[Key, frozenset[Endpoint]] = {}
            for listener in self.elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
                group = listener["DefaultActions"][0]["TargetGroupArn"]
                health = self.elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
                endpoints = frozenset(self._endpoint(d["Target"]["Id"], d["Target"]["Port"]) for d in health)
                protocols = {"TCP_UDP": ("TCP", "UDP"), "TLS": ("TCP",)}.get(
                    listener["Protocol"], (listener["Protocol"],)
                )
                for protocol in protocols:
                    listeners[(IPProtocol(protocol), int(listener["Port"]))] = endpoints
            internal = lb["Scheme"] == "internal"
            out.append(
                ObservedLoadBalancer(lb["LoadBalancerArn"], lb["LoadBalancerName"], lb_tags, listeners, internal)
            )
        return out

    def resources(self) -> list[ResourceView]:
        balancers = self._balancers()
        groups = self.elbv2.describe_target_groups()["TargetGroups"]
        tags = self._tags([lb["LoadBalancerArn"] for lb in balancers] + [tg["TargetGroupArn"] for tg in groups])
        out = [
            ResourceView(
                "load-balancer", lb["LoadBalancerArn"], lb["LoadBalancerName"], tags.get(lb["LoadBalancerArn"], {})
            )
            for lb in balancers
        ]
        out += [
            ResourceView(
                "target-group", tg["TargetGroupArn"], tg["TargetGroupName"], tags.get(tg["TargetGroupArn"], {})
            )
            for tg in groups
        ]
        out += [
            ResourceView("security-group", sg["GroupId"], sg["GroupName"], from_aws(sg.get("Tags")))
            for sg in self.ec2.describe_security_groups()["SecurityGroups"]
        ]
        return out

    # --- foreign look-alikes -------------------------------------------------------------------------------------

    def create_foreign_lookalike(self, spec: LoadBalancerSpec, *, tags: Mapping[str, str]) -> str:
        provider = self.make_provider()
        service = ServiceOptions.parse(spec, provider.options)
        desired = provider.nlb.desired(spec, service)
        tagging = {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}
        subnets = [
            s["SubnetId"]
            for s in self.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [self.vpc_id]}])["Subnets"]
        ]
        lb = self.elbv2.create_load_balancer(
            Name=desired.name, Type="network", Scheme="internet-facing", Subnets=subnets[:2], **tagging
        )["LoadBalancers"][0]["LoadBalancerArn"]
        planted = {"lb": lb}
        for i, (listener, group) in enumerate(zip(desired.listeners, desired.target_groups, strict=True)):
            tg = self.elbv2.create_target_group(
                Name=group.name, Protocol=group.protocol, Port=group.port, VpcId=self.vpc_id, TargetType="ip", **tagging
            )["TargetGroups"][0]["TargetGroupArn"]
            self.elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": "10.0.9.1", "Port": 9000 + i}])
            self.elbv2.create_listener(
                LoadBalancerArn=lb,
                Protocol=group.protocol,
                Port=listener.port,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
            )
            planted[f"tg{i}"] = tg
        self._foreign.append(planted)
        return lb

    def foreign_state(self) -> object:
        state = []
        for planted in self._foreign:
            lb = planted["lb"]
            groups = [arn for key, arn in planted.items() if key != "lb"]
            state.append(
                (
                    self.elbv2.describe_load_balancers(LoadBalancerArns=[lb])["LoadBalancers"],
                    self.elbv2.describe_listeners(LoadBalancerArn=lb)["Listeners"],
                    self.elbv2.describe_target_groups(TargetGroupArns=groups)["TargetGroups"] if groups else [],
                    [self.elbv2.describe_target_health(TargetGroupArn=g)["TargetHealthDescriptions"] for g in groups],
                    self._tags([lb, *groups]),
                )
            )
        return state

    def close(self) -> None:
        self._mock.stop()
        if self._saved_env is None:
            os.environ.pop(_NO_AMIS, None)
        else:
            os.environ[_NO_AMIS] = self._saved_env


def aws_harness() -> AwsHarness:
    return AwsHarness()
