"""ARM's protocol as the fake serves it: bearer authentication over HTTPS, the api-version parameter, error bodies,
resource-group scoping and case-insensitive names, seen through azure-mgmt-network."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.mgmt.network import NetworkManagementClient

from cloudlb_azure.credentials import FakeArmCredential
from cloudlb_azure.fake import FakeArm
from tests.azure.fake.builders import GROUP_ID, RG, VNET, create_public_ip, public_ip

API = "api-version=2024-05-01"


def raw_get(fake: FakeArm, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    """A GET without the SDK, trusting only the fake's CA."""
    context = ssl.create_default_context(cafile=fake.ca_path)
    request = urllib.request.Request(fake.url + path, headers=headers or {})
    try:
        with urllib.request.urlopen(request, context=context) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_request_without_a_bearer_token_is_refused_with_401(fake: FakeArm) -> None:
    status, body = raw_get(fake, f"{GROUP_ID}/virtualNetworks/{VNET}?{API}")

    assert status == 401
    assert body["error"]["code"] == "AuthenticationFailed"  # type: ignore[index]


def test_the_same_request_with_a_bearer_token_succeeds(fake: FakeArm) -> None:
    status, body = raw_get(fake, f"{GROUP_ID}/virtualNetworks/{VNET}?{API}", {"Authorization": "Bearer x"})

    assert status == 200
    assert body["name"] == VNET


def test_the_sdk_sees_a_rejected_token_as_an_authentication_error() -> None:
    with FakeArm(token="the-only-token") as fake:
        fake.state.create_group(RG)
        wrong = FakeArmCredential("another-token")
        with (
            NetworkManagementClient(
                wrong, fake.subscription_id, base_url=fake.url, connection_verify=fake.ca_path
            ) as c,
            pytest.raises(ClientAuthenticationError) as caught,
        ):
            c.public_ip_addresses.get(RG, "any")
        right = FakeArmCredential("the-only-token")
        with (
            NetworkManagementClient(
                right, fake.subscription_id, base_url=fake.url, connection_verify=fake.ca_path
            ) as c,
            pytest.raises(ResourceNotFoundError),
        ):
            c.public_ip_addresses.get(RG, "any")

    assert caught.value.status_code == 401


def test_the_api_version_parameter_is_required(client: NetworkManagementClient) -> None:
    response = client.send_request(HttpRequest("GET", f"{GROUP_ID}/virtualNetworks/{VNET}"))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "MissingApiVersionParameter"


def test_a_missing_resource_is_a_404_resource_not_found(client: NetworkManagementClient) -> None:
    with pytest.raises(ResourceNotFoundError) as caught:
        client.load_balancers.get(RG, "absent")

    assert caught.value.error is not None
    assert caught.value.error.code == "ResourceNotFound"


def test_a_missing_resource_group_is_a_404_resource_group_not_found(client: NetworkManagementClient) -> None:
    with pytest.raises(ResourceNotFoundError) as caught:
        client.load_balancers.get("no-such-group", "any")

    assert caught.value.error is not None
    assert caught.value.error.code == "ResourceGroupNotFound"


def test_another_subscription_is_not_found(fake: FakeArm) -> None:
    other = "11111111-1111-1111-1111-111111111111"
    client = NetworkManagementClient(FakeArmCredential(), other, base_url=fake.url, connection_verify=fake.ca_path)
    with client, pytest.raises(HttpResponseError) as caught:
        client.virtual_networks.get(RG, VNET)

    assert caught.value.status_code == 404
    assert caught.value.error is not None
    assert caught.value.error.code == "SubscriptionNotFound"


def test_names_are_case_insensitive_and_keep_the_case_they_were_created_with(client: NetworkManagementClient) -> None:
    create_public_ip(client, "Web-IP")

    read = client.public_ip_addresses.get(RG.upper(), "WEB-ip")
    client.public_ip_addresses.begin_create_or_update(RG, "web-ip", public_ip(tags={"v": "2"})).result()
    listed = list(client.public_ip_addresses.list(RG))

    assert read.name == "Web-IP"
    assert [(p.name, p.tags) for p in listed] == [("Web-IP", {"v": "2"})]


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("x" * 81, id="longer-than-80"),
        pytest.param("-leading-hyphen", id="leading-hyphen"),
        pytest.param("trailing.", id="trailing-period"),
        pytest.param("has space", id="space"),
    ],
)
def test_invalid_names_are_refused(client: NetworkManagementClient, name: str) -> None:
    with pytest.raises(HttpResponseError) as caught:
        client.public_ip_addresses.begin_create_or_update(RG, name, public_ip()).result()

    assert caught.value.status_code == 400
    assert caught.value.error is not None
    assert caught.value.error.code == "InvalidResourceName"
    assert list(client.public_ip_addresses.list(RG)) == []


def test_an_80_character_name_is_accepted(client: NetworkManagementClient) -> None:
    name = "a" * 79 + "_"

    create_public_ip(client, name)

    assert client.public_ip_addresses.get(RG, name).name == name


def test_tags_are_stored_on_every_resource_type_and_patched_with_update_tags(client: NetworkManagementClient) -> None:
    client.virtual_networks.update_tags(RG, VNET, {"tags": {"team": "net"}})
    client.network_security_groups.update_tags(RG, "nsg", {"tags": {"team": "sec"}})

    assert client.virtual_networks.get(RG, VNET).tags == {"team": "net"}
    assert client.network_security_groups.get(RG, "nsg").tags == {"team": "sec"}


@pytest.mark.parametrize("key", ["cloudlb.io/cluster", "a<b", "50%", "what?"])
def test_tag_names_with_characters_azure_forbids_are_refused(client: NetworkManagementClient, key: str) -> None:
    """Azure forbids < > % & \\ ? / in tag names, so "cloudlb.io/cluster" cannot be a tag name as it is."""
    with pytest.raises(HttpResponseError) as caught:
        client.virtual_networks.update_tags(RG, VNET, {"tags": {key: "x"}})

    assert caught.value.status_code == 400
    assert caught.value.error is not None and caught.value.error.code == "InvalidTagNameCharacters"
    assert client.virtual_networks.get(RG, VNET).tags == {"created-by": "cloudlb-mock-server"}


def test_a_list_covers_one_group_and_list_all_the_subscription(client: NetworkManagementClient, fake: FakeArm) -> None:
    fake.state.create_group("rg-other")
    create_public_ip(client, "here")
    client.public_ip_addresses.begin_create_or_update("rg-other", "there", public_ip()).result()

    in_group = sorted(p.name or "" for p in client.public_ip_addresses.list(RG))
    everywhere = sorted(p.name or "" for p in client.public_ip_addresses.list_all())

    assert in_group == ["here"]
    assert everywhere == ["here", "there"]
