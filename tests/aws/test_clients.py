"""``AwsClients``, the one door to AWS: error mapping, retries (and what is never retried blindly), the two rate
limit buckets, pagination and the call log. Faults are injected with botocore event hooks on moto's answers."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest
from botocore.stub import Stubber

from cloudlb.errors import ConflictError, NotFoundError, PermanentError, ProviderError, TemporaryError
from cloudlb_aws.clients import AwsClients, ThrottledError, is_mutating, map_error
from cloudlb_aws.options import AwsOptions
from cloudlb_aws.provider import AwsProvider
from tests.aws.helpers import REGION, World, fake_instances, make_provider, node_pool, read_nlbs, spec, tcp


def client_error(code: str, status: int = 400, headers: dict[str, str] | None = None) -> Exception:
    meta = {"HTTPStatusCode": status, "HTTPHeaders": headers or {}}
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": meta}, "Op")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(client_error("Throttling"), ThrottledError, id="throttling"),
        pytest.param(client_error("ThrottlingException"), ThrottledError, id="throttling-exception"),
        pytest.param(client_error("RequestLimitExceeded", 503), ThrottledError, id="ec2-request-limit"),
        pytest.param(client_error("SlowDown", 429), ThrottledError, id="status-429"),
        pytest.param(client_error("InternalFailure", 500), TemporaryError, id="500"),
        pytest.param(client_error("ServiceUnavailable", 503), TemporaryError, id="503"),
        pytest.param(client_error("LoadBalancerNotFound"), NotFoundError, id="lb-not-found"),
        pytest.param(client_error("TargetGroupNotFound"), NotFoundError, id="tg-not-found"),
        pytest.param(client_error("InvalidGroup.NotFound"), NotFoundError, id="sg-not-found"),
        pytest.param(client_error("AccessPointNotFound"), NotFoundError, id="classic-not-found"),
        pytest.param(client_error("DuplicateLoadBalancerName"), ConflictError, id="duplicate-name"),
        pytest.param(client_error("InvalidPermission.Duplicate"), ConflictError, id="duplicate-rule"),
        pytest.param(client_error("ResourceInUse"), ConflictError, id="in-use"),
        pytest.param(client_error("DependencyViolation"), ConflictError, id="dependency"),
        pytest.param(client_error("ValidationError"), PermanentError, id="validation"),
        pytest.param(client_error("TooManyTargets"), PermanentError, id="quota"),
        pytest.param(botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"), TemporaryError, id="conn"),
        pytest.param(botocore.exceptions.ReadTimeoutError(endpoint_url="http://x"), TemporaryError, id="timeout"),
    ],
)
def test_botocore_errors_map_onto_cloudlbs(error: Exception, expected: type[ProviderError]) -> None:
    mapped = map_error("Op", error)

    assert type(mapped) is expected
    assert str(mapped).startswith("Op failed")


def test_retry_after_is_read_from_the_answer() -> None:
    mapped = map_error("Op", client_error("Throttling", 400, {"retry-after": "3"}))

    assert isinstance(mapped, TemporaryError) and mapped.retry_after == 3.0


class Fail:
    """A botocore hook that fails ``operation`` ``times`` times, before it is sent or after moto applied it."""

    def __init__(
        self, clients: AwsClients, service: str, operation: str, error: Exception, *, times: int, after: bool = False
    ) -> None:
        self.operation, self.error, self.left = operation, error, times
        event = "after-call" if after else "before-call"
        clients.client(service).meta.events.register(event, self)

    def __call__(self, model: Any, **_: Any) -> None:
        if model.name == self.operation and self.left > 0:
            self.left -= 1
            raise self.error


def clients_with_sleep(**options: Any) -> tuple[AwsClients, list[float]]:
    slept: list[float] = []
    defaults = {"region": REGION, "rate_limit": None, "targets_rate_limit": None, "retry_initial_delay": 1.0}
    clients = AwsClients(AwsOptions.from_kwargs(**{**defaults, **options}), sleep=slept.append)
    return clients, slept


def test_a_throttled_call_is_retried_with_backoff_and_counted_each_time(world: World) -> None:
    clients, slept = clients_with_sleep()
    Fail(clients, "elbv2", "DescribeLoadBalancers", client_error("Throttling"), times=2)

    answer = clients.call("elbv2", "DescribeLoadBalancers")

    assert answer["LoadBalancers"] == []
    assert [c.error for c in clients.log.since()] == ["Throttling", "Throttling", None]
    assert len(slept) == 2


def test_retries_stop_after_the_configured_attempts(world: World) -> None:
    clients, slept = clients_with_sleep(retry_attempts=3)
    Fail(clients, "elbv2", "DescribeLoadBalancers", client_error("Throttling"), times=10)

    with pytest.raises(ThrottledError):
        clients.call("elbv2", "DescribeLoadBalancers")

    assert clients.log.count("DescribeLoadBalancers") == 3
    assert len(slept) == 2


def test_a_create_that_may_have_happened_is_not_repeated_in_place(world: World) -> None:
    clients, _ = clients_with_sleep()
    Fail(clients, "elbv2", "CreateTargetGroup", client_error("ServiceUnavailable", 503), times=1, after=True)

    with pytest.raises(TemporaryError):
        clients.call(
            "elbv2", "CreateTargetGroup", Name="tg", Protocol="TCP", Port=80, VpcId=world.vpc_id, TargetType="ip"
        )

    assert clients.log.count("CreateTargetGroup") == 1


def test_a_lost_create_answer_is_found_by_tags_on_the_next_round(world: World) -> None:
    provider = make_provider()
    Fail(provider.clients, "elbv2", "CreateLoadBalancer", client_error("InternalFailure", 500), times=1, after=True)
    web = spec(tcp(80, node_pool(fake_instances(3), 30080), node_port=30080))

    provider.ensure(web)

    assert len(read_nlbs()) == 1
    assert provider.clients.log.count("CreateLoadBalancer") == 1
    assert provider.plan(web).is_empty


def test_a_5xx_on_a_safe_call_is_retried_in_place(world: World) -> None:
    clients, slept = clients_with_sleep()
    Fail(clients, "elbv2", "DescribeTargetGroups", client_error("InternalFailure", 500), times=1)

    clients.call("elbv2", "DescribeTargetGroups")

    assert clients.log.count("DescribeTargetGroups") == 2 and len(slept) == 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_rate_limits_hold_calls_below_the_configured_rate_with_a_bucket_for_targets(world: World) -> None:
    clock = FakeClock()
    options = AwsOptions.from_kwargs(
        region=REGION, rate_limit=10, rate_burst=2, targets_rate_limit=4, targets_rate_burst=1
    )
    clients = AwsClients(options, sleep=clock.sleep, clock=clock)
    arn = clients.call(
        "elbv2", "CreateTargetGroup", Name="tg", Protocol="TCP", Port=80, VpcId=world.vpc_id, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    for _ in range(3):
        clients.call("elbv2", "DescribeTargetGroups")
    general = list(clock.slept)
    for i in range(3):
        clients.call("elbv2", "RegisterTargets", TargetGroupArn=arn, Targets=[{"Id": f"i-{i:017x}", "Port": 80}])

    # The general bucket: a burst of 2, then 10 a second. The targets bucket: a burst of 1, then 4 a second.
    assert general == pytest.approx([0.1, 0.1])
    assert clock.slept[len(general) :] == pytest.approx([0.25, 0.25])


def test_pages_are_followed_through_the_wrapper(aws: None) -> None:
    clients, _ = clients_with_sleep()
    client = clients.client("elbv2")
    with Stubber(client) as stub:
        stub.add_response("describe_target_groups", {"TargetGroups": [], "NextMarker": "m1"}, {"PageSize": 400})
        stub.add_response("describe_target_groups", {"TargetGroups": []}, {"PageSize": 400, "Marker": "m1"})

        pages = list(clients.pages("elbv2", "DescribeTargetGroups", PageSize=400))

    assert len(pages) == 2
    assert clients.log.operations() == ["DescribeTargetGroups", "DescribeTargetGroups"]


def test_the_mutating_set_and_the_counters(provider: AwsProvider) -> None:
    mutating = provider.clients.mutating_operations

    assert {"CreateLoadBalancer", "RegisterTargets", "AuthorizeSecurityGroupIngress", "AllocateAddress"} <= mutating
    assert {"DescribeTags", "DescribeLoadBalancers", "DescribeSubnets"}.isdisjoint(mutating)
    assert is_mutating("SetSubnets") and not is_mutating("DescribeListeners")

    provider.clients.call("elbv2", "DescribeLoadBalancers")
    provider.clients.call("ec2", "DescribeVpcs")

    log = provider.clients.log
    assert log.count() == 2 and log.count(service="ec2") == 1 and log.count("DescribeLoadBalancers") == 1
    assert log.count(mutating=True) == 0
