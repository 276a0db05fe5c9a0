"""Where a new load balancer goes: its subnets and VPC, from configuration or discovered by the conventional tags.

Where this sits: ``nlb`` (and ``classic``) call ``Subnets.resolve`` only when they are about to create a balancer, so
a converged Service pays no read for it. Explicit subnets come from the ``-subnets`` annotation or the provider's
``subnets`` option, as ids or Name tags. Otherwise the subnets tagged ``kubernetes.io/cluster/<cluster>`` (owned or
shared) and ``kubernetes.io/role/elb`` (internet-facing) or ``kubernetes.io/role/internal-elb`` (internal) are
used, one per availability zone, as the Kubernetes ecosystem does.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from cloudlb.errors import PermanentError
from cloudlb_aws.clients import AwsClients
from cloudlb_aws.options import AwsOptions
from cloudlb_aws.tagging import from_aws, k8s_cluster_tag

__all__ = ["ELB_ROLE_TAG", "INTERNAL_ELB_ROLE_TAG", "ResolvedSubnets", "Subnets"]

ELB_ROLE_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_ROLE_TAG = "kubernetes.io/role/internal-elb"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ResolvedSubnets:
    """Subnet ids, in a stable order, and the one VPC they are in."""

    ids: tuple[str, ...]
    vpc_id: str


class Subnets:
    """Resolves subnets and remembers each VPC's CIDRs (they do not change under a load balancer)."""

    def __init__(self, clients: AwsClients, options: AwsOptions) -> None:
        self.clients = clients
        self.options = options
        self._cidrs: dict[str, tuple[Network, ...]] = {}
        self._lock = threading.Lock()

    def resolve(self, cluster: str, *, internal: bool, explicit: Sequence[str] = ()) -> ResolvedSubnets:
        """The subnets for a new balancer: ``explicit`` ids or Name tags, else discovered by tags.

        Explicit ids with the ``vpc_id`` option set cost no read; names, or a missing ``vpc_id``, one
        DescribeSubnets; discovery one DescribeSubnets. Raises ``PermanentError`` when none is found, or when they
        span several VPCs.
        """
        if explicit:
            ids = [s for s in explicit if s.startswith("subnet-")]
            names = [s for s in explicit if not s.startswith("subnet-")]
            if not names and self.options.vpc_id:
                return ResolvedSubnets(tuple(ids), self.options.vpc_id)
            found = self._describe(ids=ids, names=names)
            # In the order given: EIP allocations pair with subnets by position.
            ordered = [_find(found, item) for item in explicit]
            missing = [item for item, sub in zip(explicit, ordered, strict=True) if sub is None]
            if missing:
                raise PermanentError(f"subnets not found: {', '.join(missing)}")
            return self._result([sub for sub in ordered if sub is not None], f"the subnets {', '.join(explicit)}")
        role = INTERNAL_ELB_ROLE_TAG if internal else ELB_ROLE_TAG
        filters = [
            {"Name": f"tag:{k8s_cluster_tag(cluster)}", "Values": ["owned", "shared"]},
            {"Name": "tag-key", "Values": [role]},
        ]
        if self.options.vpc_id:
            filters.append({"Name": "vpc-id", "Values": [self.options.vpc_id]})
        found = self._subnets(Filters=filters)
        if not found:
            raise PermanentError(
                f"no subnet is tagged {k8s_cluster_tag(cluster)} (owned or shared) and {role}: tag the subnets, "
                "or name them with the -subnets annotation or the aws option 'subnets'"
            )
        # One subnet per zone, the lowest id: the same subnets on every run.
        per_zone: dict[str, dict[str, str]] = {}
        for subnet in sorted(found, key=lambda s: s["SubnetId"]):
            per_zone.setdefault(subnet["Zone"], subnet)
        return self._result(list(per_zone.values()), f"the subnets tagged {role}")

    def vpc_cidrs(self, vpc_id: str) -> tuple[Network, ...]:
        """The VPC's CIDR blocks (one DescribeVpcs, the first time a VPC is asked about)."""
        with self._lock:
            known = self._cidrs.get(vpc_id)
        if known is not None:
            return known
        answer = self.clients.call("ec2", "DescribeVpcs", VpcIds=[vpc_id])
        blocks: list[Network] = []
        for vpc in answer.get("Vpcs", []):
            for assoc in vpc.get("CidrBlockAssociationSet") or [{"CidrBlock": vpc.get("CidrBlock")}]:
                if assoc.get("CidrBlock"):
                    blocks.append(ipaddress.ip_network(assoc["CidrBlock"]))
            for assoc in vpc.get("Ipv6CidrBlockAssociationSet") or []:
                if assoc.get("Ipv6CidrBlock"):
                    blocks.append(ipaddress.ip_network(assoc["Ipv6CidrBlock"]))
        cidrs = tuple(blocks)
        with self._lock:
            self._cidrs[vpc_id] = cidrs
        return cidrs

    def _describe(self, *, ids: Sequence[str], names: Sequence[str]) -> list[dict[str, str]]:
        found: list[dict[str, str]] = []
        if ids:
            found += self._subnets(SubnetIds=list(ids))
        if names:
            found += self._subnets(Filters=[{"Name": "tag:Name", "Values": list(names)}])
        return found

    def _subnets(self, **params: object) -> list[dict[str, str]]:
        out = []
        for page in self.clients.pages("ec2", "DescribeSubnets", **params):
            for subnet in page.get("Subnets", []):
                out.append(
                    {
                        "SubnetId": subnet["SubnetId"],
                        "VpcId": subnet["VpcId"],
                        "Zone": subnet.get("AvailabilityZone", ""),
                        "Name": from_aws(subnet.get("Tags")).get("Name", ""),
                    }
                )
        return out

    @staticmethod
    def _result(found: Sequence[dict[str, str]], what: str) -> ResolvedSubnets:
        vpcs = sorted({s["VpcId"] for s in found})
        if len(vpcs) != 1:
            raise PermanentError(f"{what} are in {len(vpcs)} VPCs ({', '.join(vpcs)}); a balancer lives in one")
        return ResolvedSubnets(tuple(dict.fromkeys(s["SubnetId"] for s in found)), vpcs[0])


def _find(found: Sequence[dict[str, str]], item: str) -> dict[str, str] | None:
    return next((sub for sub in found if item in (sub["SubnetId"], sub["Name"])), None)
