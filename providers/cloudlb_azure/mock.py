"""``cloudlb mock-server azure``: the fake ARM, seeded with the network a cluster's load balancers live in.

Where this sits: registered under the ``cloudlb.mock_servers`` entry-point group as ``azure``, and built by
``cloudlb.testing.mockserver`` (the command and the pytest plugin). ``start()`` serves a ``FakeArm`` over HTTPS on
loopback, seeds a resource group with a virtual network, a subnet for internal load balancers and a network
security group on that subnet (none of them carries cloudlb's ownership tags: they are the cluster's, not
cloudlb's), and returns the config whose ``options`` are the Azure provider's keyword arguments.

Seeded Node manifests need nothing on this cloud: backend pools are IP-based, and the virtual network's address
space (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) holds any private node address.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cloudlb_azure.fake import DEFAULT_SUBSCRIPTION, FakeArm

__all__ = ["ADDRESS_SPACE", "AzureMockServer", "seed_network"]

log = logging.getLogger(__name__)

ADDRESS_SPACE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
SUBNET_PREFIX = "10.240.0.0/16"
SEED_TAGS = {"created-by": "cloudlb-mock-server"}


def seed_network(
    fake: FakeArm,
    *,
    resource_group: str,
    location: str,
    vnet_name: str,
    subnet_name: str,
    security_group_name: str,
) -> None:
    """Create the resource group, NSG, vnet and subnet (with the NSG attached) a cluster's balancers use."""
    fake.state.create_group(resource_group, location)
    nsg = fake.create(
        "networkSecurityGroups",
        resource_group,
        security_group_name,
        {"location": location, "tags": SEED_TAGS, "properties": {"securityRules": []}},
    )
    subnet = {
        "name": subnet_name,
        "properties": {"addressPrefix": SUBNET_PREFIX, "networkSecurityGroup": {"id": nsg["id"]}},
    }
    fake.create(
        "virtualNetworks",
        resource_group,
        vnet_name,
        {
            "location": location,
            "tags": SEED_TAGS,
            "properties": {"addressSpace": {"addressPrefixes": list(ADDRESS_SPACE)}, "subnets": [subnet]},
        },
    )


class AzureMockServer:
    """The ``azure`` mock server. Options (strings from ``-o KEY=VALUE`` are accepted): ``subscription_id``,
    ``resource_group``, ``location``, ``vnet_name``, ``subnet_name``, ``security_group_name``, ``lro_delay``."""

    url_option = "base_url"  # where a fault proxy can be put in front

    def __init__(
        self,
        *,
        port: int | None = None,
        seed: Sequence[Path] = (),
        cluster: str = "default",
        work_dir: Path | None = None,
        subscription_id: str = DEFAULT_SUBSCRIPTION,
        resource_group: str = "cloudlb-mock",
        location: str = "eastus",
        vnet_name: str = "cloudlb-vnet",
        subnet_name: str = "cloudlb-subnet",
        security_group_name: str = "cloudlb-nsg",
        lro_delay: float | str = 0.05,
    ) -> None:
        self.cluster = cluster
        self.seed = tuple(seed)
        self.work_dir = work_dir
        self.names = {
            "resource_group": resource_group,
            "location": location,
            "vnet_name": vnet_name,
            "subnet_name": subnet_name,
            "security_group_name": security_group_name,
        }
        self.fake = FakeArm(
            port=port or 0, subscription_id=subscription_id, lro_delay=float(lro_delay), ca_dir=work_dir
        )

    def start(self) -> dict[str, Any]:
        self.fake.start()
        try:
            seed_network(self.fake, **self.names)
        except BaseException:
            self.fake.stop()
            raise
        log.info(
            "fake ARM on %s: subscription %s, resource group %s, vnet %s/%s, NSG %s",
            self.fake.url,
            self.fake.subscription_id,
            self.names["resource_group"],
            self.names["vnet_name"],
            self.names["subnet_name"],
            self.names["security_group_name"],
        )
        return {"provider": "azure", "cluster": self.cluster, "options": self.options()}

    def options(self) -> dict[str, Any]:
        """The Azure provider's keyword arguments for this fake."""
        return {
            "subscription_id": self.fake.subscription_id,
            "resource_group": self.names["resource_group"],
            "location": self.names["location"],
            "base_url": self.fake.url,
            "ca_bundle": self.fake.ca_path,
            "use_mock_credential": True,
            "vnet_name": self.names["vnet_name"],
            "subnet_name": self.names["subnet_name"],
            "security_group_name": self.names["security_group_name"],
        }

    def stop(self) -> None:
        self.fake.stop()
