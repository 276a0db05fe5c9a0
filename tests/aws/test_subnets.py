"""Where a new NLB goes: subnets discovered by the Kubernetes tags (one per zone, this cluster's, the scheme's
role), or named by the annotation or the provider's option, by id or Name tag; and EIPs through subnet mappings."""

from __future__ import annotations

import pytest

from cloudlb.errors import PermanentError
from cloudlb.model import Scheme
from cloudlb_aws.clients import CallLog
from cloudlb_aws.provider import AwsProvider
from tests.aws.helpers import ZONES, World, boto, fake_instances, make_provider, node_pool, read_nlbs, spec, tcp

AWS = "service.beta.kubernetes.io/aws-load-balancer-"
POOL = node_pool(fake_instances(2), 30080)


def subnet(world: World, cidr: str, zone: str, **tags: str) -> str:
    specs = [{"ResourceType": "subnet", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}] if tags else []
    return str(
        boto("ec2").create_subnet(VpcId=world.vpc_id, CidrBlock=cidr, AvailabilityZone=zone, TagSpecifications=specs)[
            "Subnet"
        ]["SubnetId"]
    )


def test_discovery_takes_one_subnet_per_zone_of_this_cluster_and_role(provider: AwsProvider, world: World) -> None:
    role = {"kubernetes.io/cluster/zoned": "owned", "kubernetes.io/role/elb": ""}
    a1 = subnet(world, "10.0.60.0/24", ZONES[0], **role)
    a2 = subnet(world, "10.0.61.0/24", ZONES[0], **role)
    b = subnet(world, "10.0.62.0/24", ZONES[1], **{**role, "kubernetes.io/cluster/zoned": "shared"})
    subnet(world, "10.0.63.0/24", ZONES[1], **{"kubernetes.io/cluster/zoned": "owned"})  # no role tag
    web = spec(tcp(80, POOL, node_port=30080), cluster="zoned")

    provider.ensure(web)

    [nlb] = read_nlbs(web)
    assert nlb.subnets == {min(a1, a2), b}


def test_no_tagged_subnet_fails_before_any_change(provider: AwsProvider, calls: CallLog, world: World) -> None:
    lonely = spec(tcp(80, POOL, node_port=30080), cluster="untagged-cluster")

    with pytest.raises(PermanentError, match=r"no subnet is tagged kubernetes\.io/cluster/untagged-cluster"):
        provider.ensure(lonely)

    assert calls.count(mutating=True) == 0


@pytest.mark.parametrize("by", ["id", "name"])
def test_the_annotation_names_subnets_by_id_or_name(provider: AwsProvider, world: World, by: str) -> None:
    chosen = world.internal_subnets  # internal-role subnets, for an internet-facing NLB: the annotation decides
    names = ",".join(chosen) if by == "id" else ",".join(f"private-{zone}" for zone in ZONES)
    web = spec(tcp(80, POOL, node_port=30080), annotations={AWS + "subnets": names})

    provider.ensure(web)

    assert read_nlbs(web)[0].subnets == frozenset(chosen)


def test_the_option_with_a_vpc_needs_no_subnet_read(world: World) -> None:
    provider = make_provider(subnets=list(world.public_subnets[:1]), vpc_id=world.vpc_id)
    web = spec(tcp(80, POOL, node_port=30080), scheme=Scheme.INTERNAL)

    provider.ensure(web)

    assert read_nlbs(web)[0].subnets == {world.public_subnets[0]}
    assert provider.clients.log.count(service="ec2") == 0


def test_explicit_subnet_ids_that_drift_are_set_in_place(world: World) -> None:
    provider = make_provider(subnets=list(world.public_subnets[:1]), vpc_id=world.vpc_id)
    web = spec(tcp(80, POOL, node_port=30080))
    provider.ensure(web)
    [before] = read_nlbs(web)
    wider = spec(tcp(80, POOL, node_port=30080), annotations={AWS + "subnets": ",".join(world.public_subnets)})
    mark = provider.clients.log.mark()

    provider.ensure(wider)

    [after] = read_nlbs(wider)
    assert after.arn == before.arn and after.subnets == frozenset(world.public_subnets)
    assert provider.clients.log.operations(mark, mutating=True) == ["SetSubnets"]


def test_eip_allocations_go_in_subnet_mappings_and_a_new_set_replaces_the_nlb(
    provider: AwsProvider, calls: CallLog, world: World
) -> None:
    ec2 = boto("ec2")
    first, second, third = (ec2.allocate_address(Domain="vpc")["AllocationId"] for _ in range(3))
    subnets = ",".join(world.public_subnets)

    def with_eips(*eips: str) -> object:
        notes = {AWS + "eip-allocations": ",".join(eips), AWS + "subnets": subnets}
        return spec(tcp(80, POOL, node_port=30080), annotations=notes)

    provider.ensure(with_eips(first, second))  # type: ignore[arg-type]
    [old] = read_nlbs()
    provider.ensure(with_eips(first, third))  # type: ignore[arg-type]

    [new] = read_nlbs()
    assert new.arn != old.arn and new.name != old.name
    # moto keeps no allocation on an NLB, so the mappings are read from the requests it received.
    sent = [c.params["SubnetMappings"] for c in calls.since() if c.operation == "CreateLoadBalancer"]
    assert sent == [
        [{"SubnetId": s, "AllocationId": a} for s, a in zip(world.public_subnets, (first, second), strict=True)],
        [{"SubnetId": s, "AllocationId": a} for s, a in zip(world.public_subnets, (first, third), strict=True)],
    ]
