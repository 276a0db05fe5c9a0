"""Neutron through openstacksdk: the seeded networks, ports with allocated addresses, floating IPs (allocate,
associate, release) and tags, with Neutron's status codes and fault bodies."""

from __future__ import annotations

import ipaddress
import uuid

import openstack
import pytest
from openstack.connection import Connection

from cloudlb_openstack.fake import FakeOpenStack
from tests.openstack.fake.helpers import active_lb


def private_network_id(cloud: FakeOpenStack, conn: Connection) -> str:
    return str(conn.network.get_subnet(cloud.subnet_id).network_id)


def test_the_seeded_topology(cloud: FakeOpenStack, conn: Connection) -> None:
    public = conn.network.get_network(cloud.external_network_id)
    public_subnet = conn.network.get_subnet(public.subnet_ids[0])
    private_subnet = conn.network.get_subnet(cloud.subnet_id)

    assert (public.name, public.is_router_external, public.project_id) == ("public", True, cloud.state.admin_project.id)
    assert (public_subnet.name, public_subnet.cidr) == ("public-subnet", "172.24.4.0/24")
    assert (private_subnet.name, private_subnet.cidr, private_subnet.gateway_ip) == (
        "private-subnet", "10.0.0.0/24", "10.0.0.1"
    )  # fmt: skip
    assert private_subnet.allocation_pools == [{"start": "10.0.0.2", "end": "10.0.0.254"}]


def test_floating_ip_allocate_associate_release(cloud: FakeOpenStack, conn: Connection) -> None:
    lb = active_lb(cloud, conn)

    fip = conn.network.create_ip(floating_network_id=cloud.external_network_id, description="for web")
    allocated = (fip.floating_ip_address, fip.status, fip.port_id)
    conn.network.update_ip(fip, port_id=lb.vip_port_id)
    associated = conn.network.get_ip(fip.id)
    found_by_port = [ip.id for ip in conn.network.ips(port_id=lb.vip_port_id)]
    found_by_address = [ip.id for ip in conn.network.ips(floating_ip_address=fip.floating_ip_address)]
    conn.network.update_ip(fip, port_id=None)
    detached = conn.network.get_ip(fip.id)
    conn.network.delete_ip(fip)

    assert ipaddress.ip_address(allocated[0]) in ipaddress.ip_network("172.24.4.0/24")
    assert allocated[1:] == ("DOWN", None) and fip.floating_network_id == cloud.external_network_id
    assert (associated.status, associated.port_id) == ("ACTIVE", lb.vip_port_id)
    assert associated.fixed_ip_address == lb.vip_address and associated.router_id is not None
    assert associated.port_details["device_owner"] == "Octavia"
    assert found_by_port == found_by_address == [fip.id]
    assert (detached.status, detached.port_id, detached.fixed_ip_address) == ("DOWN", None, None)
    assert list(conn.network.ips()) == []
    assert allocated[0] not in cloud.state.allocated[fip_subnet(cloud)]


def fip_subnet(cloud: FakeOpenStack) -> str:
    return str(next(s["id"] for s in cloud.state.subnets.values() if s["name"] == "public-subnet"))


def test_a_floating_ip_created_with_a_port_and_a_requested_address(cloud: FakeOpenStack, conn: Connection) -> None:
    lb = active_lb(cloud, conn)

    fip = conn.network.create_ip(
        floating_network_id=cloud.external_network_id, floating_ip_address="172.24.4.99", port_id=lb.vip_port_id
    )
    with pytest.raises(openstack.exceptions.ConflictException, match="already allocated"):
        conn.network.create_ip(floating_network_id=cloud.external_network_id, floating_ip_address="172.24.4.99")
    with pytest.raises(openstack.exceptions.ConflictException, match="already has a floating IP"):
        conn.network.create_ip(floating_network_id=cloud.external_network_id, port_id=lb.vip_port_id)

    assert (fip.floating_ip_address, fip.status, fip.fixed_ip_address) == ("172.24.4.99", "ACTIVE", lb.vip_address)
    assert [ip.floating_ip_address for ip in conn.network.ips()] == ["172.24.4.99"]


def test_floating_ip_tags_and_tag_filters(cloud: FakeOpenStack, conn: Connection) -> None:
    ours = conn.network.create_ip(floating_network_id=cloud.external_network_id)
    theirs = conn.network.create_ip(floating_network_id=cloud.external_network_id)
    conn.network.set_tags(ours, ["cloudlb.io/cluster=prod", "cloudlb.io/service=ns/web"])
    conn.network.set_tags(theirs, ["team=blue"])

    tagged = [ip.id for ip in conn.network.ips(tags="cloudlb.io/cluster=prod,cloudlb.io/service=ns/web")]
    untagged = [ip.id for ip in conn.network.ips(not_any_tags="cloudlb.io/cluster=prod")]
    shown = conn.network.get_ip(ours.id)

    assert (tagged, untagged) == ([ours.id], [theirs.id])
    assert shown.tags == ["cloudlb.io/cluster=prod", "cloudlb.io/service=ns/web"]


def test_tags_can_be_given_at_creation_and_edited_one_by_one(cloud: FakeOpenStack, conn: Connection) -> None:
    fip = conn.network.create_ip(floating_network_id=cloud.external_network_id, tags=["a=1"])
    added = conn.network.put(f"/floatingips/{fip.id}/tags/b=2")
    removed = conn.network.delete(f"/floatingips/{fip.id}/tags/a=1")
    missing = conn.network.delete(f"/floatingips/{fip.id}/tags/zzz")

    assert (added.status_code, removed.status_code, missing.status_code) == (201, 204, 404)
    assert conn.network.get_ip(fip.id).tags == ["b=2"]


def test_floating_ip_refusals(cloud: FakeOpenStack, conn: Connection) -> None:
    cloud.state.set_quota(floatingip=1)
    conn.network.create_ip(floating_network_id=cloud.external_network_id)

    with pytest.raises(
        openstack.exceptions.ConflictException, match="Quota exceeded for resources: \\['floatingip'\\]"
    ):
        conn.network.create_ip(floating_network_id=cloud.external_network_id)
    with pytest.raises(openstack.exceptions.BadRequestException, match="is not a valid external network"):
        conn.network.create_ip(floating_network_id=private_network_id(cloud, conn))
    with pytest.raises(openstack.exceptions.NotFoundException, match="could not be found"):
        conn.network.create_ip(floating_network_id=str(uuid.uuid4()))
    assert len(list(conn.network.ips())) == 1


def test_ports_allocate_addresses_and_free_them(cloud: FakeOpenStack, conn: Connection) -> None:
    network_id = private_network_id(cloud, conn)
    first = conn.network.create_port(network_id=network_id, name="one")
    fixed = conn.network.create_port(network_id=network_id, fixed_ips=[{"ip_address": "10.0.0.50"}])

    with pytest.raises(openstack.exceptions.ConflictException, match="already allocated"):
        conn.network.create_port(network_id=network_id, fixed_ips=[{"ip_address": "10.0.0.50"}])
    conn.network.delete_port(fixed)
    again = conn.network.create_port(network_id=network_id, fixed_ips=[{"ip_address": "10.0.0.50"}])

    assert first.fixed_ips == [{"subnet_id": cloud.subnet_id, "ip_address": "10.0.0.2"}]
    assert again.fixed_ips[0]["ip_address"] == "10.0.0.50"
    assert first.mac_address.startswith("fa:16:3e:") and first.status == "DOWN"


def test_deleting_a_port_disassociates_its_floating_ip(cloud: FakeOpenStack, conn: Connection) -> None:
    port = conn.network.create_port(network_id=private_network_id(cloud, conn))
    fip = conn.network.create_ip(floating_network_id=cloud.external_network_id, port_id=port.id)

    conn.network.delete_port(port)

    after = conn.network.get_ip(fip.id)
    assert (after.port_id, after.status) == (None, "DOWN")


def test_neutron_faults(cloud: FakeOpenStack, conn: Connection) -> None:
    network_id = private_network_id(cloud, conn)
    active_lb(cloud, conn)  # its VIP port holds an address on the private subnet

    missing = conn.network.get(f"/ports/{uuid.uuid4()}")
    unknown = conn.network.post("/ports", json={"port": {"network_id": network_id, "colour": "red"}})
    read_only = conn.network.put(f"/networks/{network_id}", json={"network": {"router:external": True}})
    network_in_use = conn.network.delete(f"/networks/{network_id}")
    subnet_in_use = conn.network.delete(f"/subnets/{cloud.subnet_id}")
    external = conn.network.delete(f"/networks/{cloud.external_network_id}")

    assert missing.status_code == 404 and missing.json()["NeutronError"]["type"] == "PortNotFound"
    assert unknown.status_code == 400
    assert unknown.json()["NeutronError"]["message"] == "Unrecognized attribute(s) 'colour'"
    assert read_only.status_code == 400
    assert network_in_use.status_code == 409 and network_in_use.json()["NeutronError"]["type"] == "NetworkInUse"
    assert subnet_in_use.status_code == 409 and subnet_in_use.json()["NeutronError"]["type"] == "SubnetInUse"
    assert external.status_code == 403
    assert {n["name"] for n in cloud.state.networks.values()} == {"public", "private"}


def test_networks_and_subnets_can_be_created(cloud: FakeOpenStack, conn: Connection) -> None:
    network = conn.network.create_network(name="members")
    subnet = conn.network.create_subnet(network_id=network.id, ip_version=4, cidr="192.168.10.0/24", name="m")
    port = conn.network.create_port(network_id=network.id)

    with pytest.raises(openstack.exceptions.BadRequestException, match="overlaps"):
        conn.network.create_subnet(network_id=network.id, ip_version=4, cidr="192.168.10.128/25")
    with pytest.raises(openstack.exceptions.ConflictException, match="ports still in use"):
        conn.network.delete_network(network)
    with pytest.raises(openstack.exceptions.ForbiddenException):
        conn.network.create_network(name="mine", is_router_external=True)

    assert conn.network.get_network(network.id).subnet_ids == [subnet.id]
    assert port.fixed_ips == [{"subnet_id": subnet.id, "ip_address": "192.168.10.2"}]
