"""The provider's options and credentials, the tag-key encoding Azure needs, and Azure's limits checked before
any call."""

from __future__ import annotations

import time
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from cloudlb.errors import ConfigError, InvalidSpecError, PermanentError
from cloudlb.naming import AZURE_TAG_KEY_FORBIDDEN, CLUSTER_TAG, decode_tag_key, encode_tag_key
from cloudlb_azure.fake import FakeArm
from cloudlb_azure.lb import AzureLimits
from cloudlb_azure.options import AzureOptions
from cloudlb_azure.provider import AzureProvider
from tests.azure.conftest import MakeProvider, provider_options
from tests.azure.helpers import service, spec

REQUIRED = {"subscription_id": "sub", "resource_group": "rg", "location": "eastus"}


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(CLUSTER_TAG, id="cloudlb-tag"),
        pytest.param("plain", id="plain"),
        pytest.param("a~b", id="escape-character"),
        pytest.param("x" + AZURE_TAG_KEY_FORBIDDEN + "y", id="every-forbidden-character"),
        pytest.param("~2f", id="looks-escaped"),
    ],
)
def test_tag_keys_round_trip_and_hold_no_forbidden_character(key: str) -> None:
    stored = encode_tag_key(key)

    assert decode_tag_key(stored) == key
    assert not set(stored) & set(AZURE_TAG_KEY_FORBIDDEN)
    assert encode_tag_key(CLUSTER_TAG) == "cloudlb.io~2fcluster"


def test_a_stored_key_that_is_not_an_escape_decodes_to_itself() -> None:
    assert decode_tag_key("a~zz") == "a~zz"


def test_options_from_a_config_file_or_flags_are_converted() -> None:
    options = AzureOptions.build(**REQUIRED, use_mock_credential="true", write_rate_limit="2.5", retry_attempts="3")

    assert (options.use_mock_credential, options.write_rate_limit, options.retry_attempts) == (True, 2.5, 3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"write_rate_limit": 0}, "must be positive", id="zero-rate"),
        pytest.param({"read_rate_burst": 0.5}, "at least 1", id="small-burst"),
        pytest.param({"use_mock_credential": "maybe"}, "true or false", id="not-a-boolean"),
        pytest.param({"subnet_name": "s"}, "needs 'vnet_name'", id="subnet-without-vnet"),
        pytest.param({"retry_attempts": "many"}, "must be a number", id="not-a-number"),
        pytest.param({"location": ""}, "must not be empty", id="empty-location"),
    ],
)
def test_bad_options_are_a_config_error(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AzureOptions.build(**{**REQUIRED, **options})


def test_an_unknown_option_is_refused_with_a_suggestion() -> None:
    with pytest.raises(ConfigError, match="did you mean 'write_rate_limit'"):
        AzureProvider("sub", "rg", "eastus", write_rate_limt=1)


def test_production_uses_default_azure_credential_through_the_bearer_policy(
    fake: FakeArm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without use_mock_credential the provider asks azure-identity's DefaultAzureCredential for an ARM token, and
    the SDK's bearer policy sends it (here the class is replaced by one the fake accepts)."""
    scopes: list[tuple[str, ...]] = []

    class Default:
        def get_token(self, *asked: str, **_: Any) -> AccessToken:
            scopes.append(asked)
            return AccessToken("from-default-credential", int(time.time()) + 3600)

    monkeypatch.setattr("azure.identity.DefaultAzureCredential", Default)
    provider = AzureProvider(**provider_options(fake, use_mock_credential=False))

    assert provider.list_owned("prod") == []
    assert scopes and scopes[0] == ("https://management.azure.com/.default",)


def test_azures_limits_are_checked_before_a_write(make_provider: MakeProvider, fake: FakeArm) -> None:
    provider = make_provider(limits=AzureLimits(frontends_per_lb=2))
    for name in ("a", "b"):
        provider.ensure(spec(service(name, ports=((80, "TCP", 30000 + ord(name)),))))
    writes = len(fake.writes())

    with pytest.raises(PermanentError, match="3 frontend IP configurations; Azure allows 2"):
        provider.ensure(spec(service("c", ports=((80, "TCP", 30100),))))

    assert len(fake.writes()) == writes  # refused while planning: not even the new Service's public IP was made


@pytest.mark.parametrize(
    ("cluster", "where"),
    [
        pytest.param("bad/name", "cluster", id="invalid-characters"),
        pytest.param("c" * 72, "cluster", id="too-long-with-internal"),
    ],
)
def test_names_beyond_azures_rules_are_refused_before_any_call(
    provider: AzureProvider, fake: FakeArm, cluster: str, where: str
) -> None:
    with pytest.raises(InvalidSpecError, match=where):
        provider.plan(spec(service(), cluster=cluster))
    assert fake.requests == []


def test_every_generated_name_fits_azures_80_characters(provider: AzureProvider) -> None:
    uid = "0f8e5a2c-7b1d-4c3e-9a6f-2d4b8c1e5f70"
    long = spec(service("n" * 63, namespace="s" * 63, uid=uid, ports=((65534, "UDP", 32767),)))

    plan = provider.plan(long)

    assert all(len(change.name.rsplit("/", 1)[-1]) <= 80 for change in plan)
    provider.ensure(long)  # and Azure takes them: the fake checks every name and tag


def test_port_65535_is_refused_as_azure_does(provider: AzureProvider, fake: FakeArm) -> None:
    with pytest.raises(InvalidSpecError, match=r"spec.ports\[0\].port"):
        provider.plan(spec(service(ports=((65535, "TCP", 30080),))))
    assert fake.requests == []


def test_a_uid_too_long_to_record_is_refused_before_any_call(provider: AzureProvider, fake: FakeArm) -> None:
    with pytest.raises(InvalidSpecError, match=r"metadata\.uid"):
        provider.plan(spec(service("n" * 63, namespace="s" * 63, uid="u" * 200)))
    assert fake.requests == []


def test_none_turns_a_rate_limit_off_and_means_the_default_elsewhere() -> None:
    options = AzureOptions.build(**REQUIRED, read_rate_limit=None, retry_deadline=None, use_mock_credential=None)

    assert (options.read_rate_limit, options.retry_deadline, options.use_mock_credential) == (None, None, False)
    assert options.write_rate_limit == 8.0
