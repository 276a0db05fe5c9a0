"""Which security group of each node instance admits its load balancers, remembered for a while.

Where this sits: ``security_groups.SecurityGroups`` asks ``NodeGroups.resolve`` for the groups to put its backend
rules on. The convention is Kubernetes': of an instance's groups, the one tagged ``kubernetes.io/cluster/<cluster>``,
else its first. That takes DescribeInstances (200 ids a call), plus one DescribeSecurityGroups when an instance has
several groups. An instance's groups seldom change, and every Service of a cluster asks about the same nodes on
every sync, so each answer is kept for ``ttl`` seconds: a converged ensure then reads nothing here, and a node
moved to another group is noticed within ``ttl``. An instance not found is not remembered (it may be starting).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping

from cloudlb.plan import batched
from cloudlb_aws.clients import AwsClients
from cloudlb_aws.tagging import from_aws, k8s_cluster_tag

__all__ = ["INSTANCES_PER_DESCRIBE", "NODE_GROUP_TTL", "NodeGroups"]

INSTANCES_PER_DESCRIBE = 200  # values of one EC2 filter
NODE_GROUP_TTL = 300.0
_GONE = ("terminated", "shutting-down")


class NodeGroups:
    """The node group of each instance (module docstring). Thread-safe; ``clock`` is for tests."""

    def __init__(
        self, clients: AwsClients, *, ttl: float = NODE_GROUP_TTL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.clients = clients
        self.ttl = ttl
        self._clock = clock
        self._known: dict[tuple[str, str], tuple[str, float]] = {}  # (cluster, instance) -> (group, when read)
        self._lock = threading.Lock()

    def resolve(self, cluster: str, instance_ids: Iterable[str]) -> tuple[str, ...]:
        """The distinct node groups of ``instance_ids``, sorted; reads only for instances not known or expired."""
        ids = sorted(set(instance_ids))
        now = self._clock()
        with self._lock:
            known = {i: e[0] for i in ids if (e := self._known.get((cluster, i))) and now - e[1] < self.ttl}
        missing = [i for i in ids if i not in known]
        if missing:
            found = self._read(cluster, missing)
            with self._lock:
                self._known.update({(cluster, i): (g, now) for i, g in found.items()})
            known.update(found)
        return tuple(sorted(set(known.values())))

    def forget(self) -> None:
        """Drop everything remembered."""
        with self._lock:
            self._known.clear()

    def _read(self, cluster: str, ids: list[str]) -> dict[str, str]:
        groups_of: dict[str, list[str]] = {}
        for chunk in batched(ids, INSTANCES_PER_DESCRIBE):
            filters = [{"Name": "instance-id", "Values": list(chunk)}]
            for page in self.clients.pages("ec2", "DescribeInstances", Filters=filters):
                for reservation in page.get("Reservations", []):
                    for instance in reservation.get("Instances", []):
                        if (instance.get("State") or {}).get("Name") not in _GONE:
                            groups = [g["GroupId"] for g in instance.get("SecurityGroups") or []]
                            groups_of[instance["InstanceId"]] = groups
        tagged = self._tagged(cluster, sorted({g for groups in groups_of.values() if len(groups) > 1 for g in groups}))
        return {i: ([g for g in groups if g in tagged] or groups)[0] for i, groups in groups_of.items() if groups}

    def _tagged(self, cluster: str, groups: list[str]) -> set[str]:
        """Which of ``groups`` carry the cluster tag (no read when there is no choice to make)."""
        if not groups:
            return set()
        key = k8s_cluster_tag(cluster)
        found: set[str] = set()
        for page in self.clients.pages(
            "ec2", "DescribeSecurityGroups", Filters=[{"Name": "group-id", "Values": groups}]
        ):
            found |= {g["GroupId"] for g in page.get("SecurityGroups", []) if _has(g, key)}
        return found


def _has(group: Mapping[str, object], key: str) -> bool:
    tags = group.get("Tags")
    return isinstance(tags, list) and key in from_aws(tags)
