"""``AwsProvider`` as the Provider protocol: built by ``get_provider`` from a config's options, its names, its
identity-only get and delete, gc through ``list_owned``, and the unmanaged security-group mode."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import cloudlb
from cloudlb.errors import CloudLBError, ConfigError, NotFoundError
from cloudlb.model import Feature, LoadBalancerSpec, OwnedLoadBalancer, Scheme
from cloudlb.naming import UID_TAG
from cloudlb.provider import register_provider, unregister_provider
from cloudlb_aws.options import AwsOptions
from cloudlb_aws.provider import AwsProvider
from tests.aws.helpers import (
    CLUSTER,
    REGION,
    Faults,
    World,
    boto,
    fake_instances,
    make_provider,
    node_pool,
    read_nlbs,
    spec,
    target_groups,
    tcp,
)

AWS = "service.beta.kubernetes.io/aws-load-balancer-"
POOL = node_pool(fake_instances(3), 30080)


@pytest.fixture
def registered() -> Iterator[str]:
    """``get_provider("aws-under-test", ...)`` builds an AwsProvider, as the lead's entry point will."""
    register_provider("aws-under-test", AwsProvider)
    try:
        yield "aws-under-test"
    finally:
        unregister_provider("aws-under-test")


def test_get_provider_builds_it_from_a_configs_options(aws: None, registered: str) -> None:
    options = {
        "region": REGION,
        "endpoint_url": None,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "manage_security_groups": "false",
    }

    provider = cloudlb.get_provider(registered, **options)

    assert provider.name == "aws"
    assert Feature.SOURCE_RANGES not in provider.capabilities  # no managed groups, no source ranges
    assert {Feature.TLS, Feature.UDP, Feature.POD_TARGETS, Feature.PROXY_PROTOCOL} <= provider.capabilities
    assert Feature.ALGORITHM_LEAST_CONNECTIONS not in provider.capabilities


def test_an_unknown_option_is_refused_with_the_nearest_name(aws: None, registered: str) -> None:
    with pytest.raises(ConfigError, match="did you mean 'endpoint_url'"):
        cloudlb.get_provider(registered, region=REGION, endpoint="http://127.0.0.1:5000")


def test_names_are_deterministic_short_and_carry_the_scheme(aws: None) -> None:
    provider = make_provider()
    long_name = spec(tcp(80, POOL), namespace="a-very-long-namespace-name", name="an-even-longer-service-name")

    name = provider.load_balancer_name(long_name)

    assert len(name) <= 32 and name == provider.load_balancer_name(long_name)
    web = spec(tcp(80, POOL))
    internal = spec(tcp(80, POOL), scheme=Scheme.INTERNAL)
    other_cluster = spec(tcp(80, POOL), cluster="other")
    names = {provider.load_balancer_name(s) for s in (web, internal, other_cluster)}
    assert len(names) == 3


def test_update_targets_before_ensure_is_not_found(provider: AwsProvider, world: World) -> None:
    with pytest.raises(NotFoundError, match="ensure it first"):
        provider.update_targets(spec(tcp(80, POOL, node_port=30080)))

    assert provider.clients.log.count(mutating=True) == 0


def test_get_and_delete_need_only_the_identity(provider: AwsProvider, world: World) -> None:
    web = spec(tcp(80, POOL, node_port=30080), scheme=Scheme.INTERNAL, annotations={AWS + "ssl-ports": "80"})
    ensured = spec(tcp(80, POOL, node_port=30080), scheme=Scheme.INTERNAL)
    status = provider.ensure(ensured)
    identity = LoadBalancerSpec(CLUSTER, "default", "web", "")

    assert provider.get(identity) == status
    assert provider.get(web) == status  # its annotations are invalid for ensure, yet enough to find it
    assert provider.delete(identity) is True
    assert read_nlbs() == [] and target_groups() == []


def test_gc_removes_a_previous_incarnation_and_spares_the_live_one(provider: AwsProvider, world: World) -> None:
    provider.ensure(spec(tcp(80, POOL, node_port=30080), uid="uid-1"))
    [entry] = provider.list_owned(CLUSTER)
    live = spec(tcp(80, node_pool(fake_instances(2, start=7), 30080), node_port=30080), uid="uid-2")
    provider.ensure(live)

    assert provider.delete(entry) is False  # ensure already replaced it: nothing of uid-1 is left

    [nlb] = read_nlbs()
    assert nlb.tags[UID_TAG] == "uid-2"
    assert [(o.name, o.uid) for o in provider.list_owned(CLUSTER)] == [("web", "uid-2")]


def test_delete_of_an_owned_entry_whose_tags_changed_touches_nothing(provider: AwsProvider, world: World) -> None:
    status = provider.ensure(spec(tcp(80, POOL, node_port=30080)))
    assert status.cloud_id is not None and status.cloud_name is not None
    stranger = OwnedLoadBalancer(CLUSTER, "default", "other", "uid-9", status.cloud_name, status.cloud_id)
    mark = provider.clients.log.mark()

    assert provider.delete(stranger) is False

    assert provider.clients.log.operations(mark, mutating=True) == []
    assert len(read_nlbs()) == 1


def test_list_owned_names_only_this_clusters_balancers(provider: AwsProvider, world: World) -> None:
    for cluster, name in ((CLUSTER, "a"), (CLUSTER, "b"), ("other", "a")):
        provider.ensure(spec(tcp(80, POOL, node_port=30080), cluster=cluster, name=name))

    owned = provider.list_owned(CLUSTER)

    assert [(o.cluster, o.name) for o in owned] == [(CLUSTER, "a"), (CLUSTER, "b")]
    assert {o.cloud_id for o in owned} <= {nlb.arn for nlb in read_nlbs()}


def test_unmanaged_groups_attach_the_annotations_groups_and_follow_a_change(
    provider: AwsProvider, world: World
) -> None:
    ec2 = boto("ec2")
    first, second = (
        ec2.create_security_group(GroupName=f"user-{n}", Description="user's", VpcId=world.vpc_id)["GroupId"]
        for n in "ab"
    )
    provider.ensure(spec(tcp(80, POOL, node_port=30080), annotations={AWS + "security-groups": first}))
    [nlb] = read_nlbs()
    mark = provider.clients.log.mark()

    changed = spec(tcp(80, POOL, node_port=30080), annotations={AWS + "security-groups": f"{first},{second}"})
    provider.ensure(changed)

    arn_groups = boto("elbv2").describe_load_balancers(LoadBalancerArns=[nlb.arn])["LoadBalancers"][0]
    assert sorted(arn_groups["SecurityGroups"]) == sorted([first, second])
    assert provider.clients.log.operations(mark, mutating=True) == ["SetSecurityGroups"]
    assert provider.plan(changed).is_empty


def test_gc_lists_and_removes_a_group_a_crash_left_without_its_nlb(world: World) -> None:
    options = AwsOptions.from_kwargs(region=REGION, rate_limit=None, targets_rate_limit=None, retry_initial_delay=0.0)
    provider = AwsProvider.from_options(options)  # managed security groups, as get_provider builds it
    faults = Faults(provider.clients)
    web = spec(tcp(80, POOL, node_port=30080))
    faults.fail_at(1, after=True)  # CreateSecurityGroup: the group exists, its answer is lost, the NLB never comes
    with pytest.raises(CloudLBError, match="InjectedFailure"):
        provider.ensure(web)
    assert faults.mutating == ["CreateSecurityGroup"]

    [entry] = provider.list_owned(CLUSTER)

    assert entry.cloud_id.startswith("sg-") and (entry.namespace, entry.name) == ("default", "web")
    assert provider.delete(entry) is True
    assert provider.list_owned(CLUSTER) == []
    groups = boto("ec2").describe_security_groups()["SecurityGroups"]
    assert [g for g in groups if any(t["Key"] == "cloudlb.io/cluster" for t in g.get("Tags", []))] == []
