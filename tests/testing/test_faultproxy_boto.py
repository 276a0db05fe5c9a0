"""The fault proxy in front of moto's server, seen by boto3: each fault is what botocore expects of AWS, and with
botocore's standard retries a 30%-throttled moto still answers every call."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config
from botocore.retries.standard import ExponentialBackoff
from moto.server import ThreadedMotoServer

from cloudlb.testing import AWS_QUERY_THROTTLING, Fault, FaultKind, FaultProxy, FaultRule, Match

# total_max_attempts counts the first call; botocore's max_attempts counts retries only.
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto(moto_url: str) -> str:
    """moto's server, emptied for this test."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=10).read()
    return moto_url


def client(service: str, url: str, config: Config = NO_RETRIES) -> Any:
    return boto3.client(service, endpoint_url=url, config=config, **CREDENTIALS)


def read_only_call(service: str, url: str) -> Any:
    if service == "elbv2":
        return client(service, url).describe_load_balancers()
    return client(service, url).describe_vpcs()


@pytest.mark.parametrize("service", ["elbv2", "ec2"])
def test_throttling_is_a_throttling_client_error(moto: str, service: str) -> None:
    with FaultProxy(moto, rules=[FaultRule(Fault.throttling(), nth=[1])]) as proxy:
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            read_only_call(service, proxy.url)
        read_only_call(service, proxy.url)  # the next one goes through

    error = caught.value.response
    assert error["Error"]["Code"] == "Throttling"
    assert error["Error"]["Message"] == "Rate exceeded"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_too_many_requests_reaches_boto3_with_retry_after(moto: str) -> None:
    # A query-protocol client needs an XML body to read any error; the status and header are the point here.
    fault = Fault.too_many_requests(retry_after=3, body=AWS_QUERY_THROTTLING, content_type="text/xml")
    with (
        FaultProxy(moto, rules=[FaultRule(fault, rate=1.0)]) as proxy,
        pytest.raises(botocore.exceptions.ClientError) as caught,
    ):
        read_only_call("elbv2", proxy.url)

    metadata = caught.value.response["ResponseMetadata"]
    assert caught.value.response["Error"]["Code"] == "Throttling"
    assert metadata["HTTPStatusCode"] == 429
    assert metadata["HTTPHeaders"]["retry-after"] == "3"


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_reaches_boto3(moto: str, status: int) -> None:
    with (
        FaultProxy(moto, rules=[FaultRule(Fault.server_error(status), rate=1.0)]) as proxy,
        pytest.raises(botocore.exceptions.ClientError) as caught,
    ):
        read_only_call("ec2", proxy.url)

    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert caught.value.response["Error"]["Code"] == str(status)


def test_reset_is_a_connection_error_to_boto3(moto: str) -> None:
    with FaultProxy(moto, rules=[FaultRule(Fault.reset(), rate=1.0)]) as proxy:
        with pytest.raises(botocore.exceptions.HTTPClientError):  # ConnectionClosedError and its kin
            read_only_call("elbv2", proxy.url)
        assert proxy.counts.injected == {FaultKind.RESET: 1}


def test_latency_is_served_and_the_call_succeeds(moto: str) -> None:
    slept: list[float] = []
    with FaultProxy(moto, rules=[FaultRule(Fault.latency(2.0), rate=1.0)], sleep=slept.append) as proxy:
        assert read_only_call("ec2", proxy.url)["Vpcs"]  # moto's default VPC

    assert slept == [2.0]


def test_botocore_retries_an_injected_throttle(moto: str) -> None:
    retrying = Config(retries={"mode": "standard", "max_attempts": 3})
    with FaultProxy(moto, rules=[FaultRule(Fault.throttling(), nth=[1])]) as proxy:
        client("elbv2", proxy.url, retrying).describe_load_balancers()
        counts = proxy.counts

    assert (counts.received, counts.forwarded) == (2, 1)


def test_only_mutating_calls_are_faulted(moto: str) -> None:
    mutating = Match(action=lambda action: not action.startswith("Describe"))
    with FaultProxy(moto, rules=[FaultRule(Fault.throttling(), rate=1.0, when=mutating)]) as proxy:
        ec2 = client("ec2", proxy.url)
        ec2.describe_vpcs()
        with pytest.raises(botocore.exceptions.ClientError, match="Throttling"):
            ec2.create_vpc(CidrBlock="10.9.0.0/16")

    cidrs = {vpc["CidrBlock"] for vpc in client("ec2", moto).describe_vpcs()["Vpcs"]}
    assert "10.9.0.0/16" not in cidrs


def test_thirty_percent_throttling_converges_with_standard_retries(moto: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # botocore waits up to 1 s * 2**attempt after a throttle; the waits are not what is tested here.
    scales = {"throttling_base_scale": 0.001, "non_throttling_base_scale": 0.001}
    monkeypatch.setattr(ExponentialBackoff, "_DEFAULT_BACKOFF_CONFIG", scales)
    retrying = Config(retries={"mode": "standard", "max_attempts": 10})
    rules = [FaultRule(Fault.throttling(), rate=0.3)]
    names = sorted(f"tg-{i:02}" for i in range(12))

    with FaultProxy(moto, rules=rules, seed=2024) as proxy:
        ec2, elbv2 = client("ec2", proxy.url, retrying), client("elbv2", proxy.url, retrying)
        vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        for name in names:
            arn = elbv2.create_target_group(Name=name, Protocol="TCP", Port=80, VpcId=vpc_id)["TargetGroups"][0]
            elbv2.add_tags(ResourceArns=[arn["TargetGroupArn"]], Tags=[{"Key": "cloudlb.io/cluster", "Value": "c"}])
            elbv2.describe_target_groups(Names=[name])
        counts = proxy.counts

    # Read back past the proxy: every call took effect exactly once.
    direct = client("elbv2", moto)
    groups = direct.describe_target_groups()["TargetGroups"]
    assert sorted(group["TargetGroupName"] for group in groups) == names
    tags = direct.describe_tags(ResourceArns=[group["TargetGroupArn"] for group in groups])["TagDescriptions"]
    assert all(description["Tags"] == [{"Key": "cloudlb.io/cluster", "Value": "c"}] for description in tags)
    assert [vpc["VpcId"] for vpc in client("ec2", moto).describe_vpcs()["Vpcs"] if vpc["CidrBlock"] == "10.20.0.0/16"]
    calls = 1 + 3 * len(names)
    assert counts.forwarded == calls
    assert counts.injected[FaultKind.THROTTLING] == counts.received - calls > 0
