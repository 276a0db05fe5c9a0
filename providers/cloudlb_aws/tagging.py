"""Tags on AWS resources: what cloudlb puts there, which keys it manages, and who owns what it observes.

Where this sits: every resource the AWS provider creates (load balancers, target groups, security groups) carries
``desired_tags``: the user's tags, under the Kubernetes conventions (``kubernetes.io/cluster/<cluster>: owned``,
``kubernetes.io/service-name``), under cloudlb's ownership tags (``cloudlb.io/*``, naming.py), which always win.
The keys of the user's tags are recorded in ``cloudlb.io/user-tags``, so that a tag dropped from the annotations
can be removed; ``managed`` says which keys a tag diff may touch, and other tools' tags are left alone.
``OwnerIndex`` remembers whose each resource is, so that observing one Service reads the tags of that Service's
resources only, not those of every balancer in the region on every sync.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence

from cloudlb.annotations import PREFIX as CLOUDLB_PREFIX
from cloudlb.model import LoadBalancerSpec, ServiceRef
from cloudlb.naming import UID_TAG, owner_of, ownership_tags
from cloudlb.plan import batched
from cloudlb_aws.options import ServiceOptions

__all__ = [
    "CLUSTER_TAG_PREFIX",
    "SERVICE_NAME_TAG",
    "TAGS_PER_DESCRIBE",
    "USER_TAGS_TAG",
    "OwnerIndex",
    "desired_tags",
    "from_aws",
    "k8s_cluster_tag",
    "managed",
    "to_aws",
    "user_tags",
]

CLUSTER_TAG_PREFIX = "kubernetes.io/cluster/"
SERVICE_NAME_TAG = "kubernetes.io/service-name"
TAGS_PER_DESCRIBE = 20  # ELBv2 and classic DescribeTags take at most 20 resources a call
USER_TAGS_TAG = "cloudlb.io/user-tags"  # the user tag keys cloudlb set, comma-separated (AWS keys have no comma)


def k8s_cluster_tag(cluster: str) -> str:
    """``kubernetes.io/cluster/<cluster>``, the key the Kubernetes ecosystem marks a cluster's resources with."""
    return CLUSTER_TAG_PREFIX + cluster


def user_tags(spec: LoadBalancerSpec, service: ServiceOptions) -> dict[str, str]:
    """The user's tags: ``cloudlb.io/tags`` over ``-additional-resource-tags``."""
    return {**service.additional_tags, **spec.tags}


def desired_tags(spec: LoadBalancerSpec, service: ServiceOptions, *, recorded_uid: str | None = None) -> dict[str, str]:
    """The tags of every resource made for ``spec``. ``recorded_uid`` is the uid tag already on the resource: a
    spec from a file has no uid, and then the one a controller recorded stays, since it still names the Service."""
    tags = user_tags(spec, service)
    if tags:
        tags[USER_TAGS_TAG] = ",".join(sorted(tags))
    tags[k8s_cluster_tag(spec.cluster)] = "owned"
    tags[SERVICE_NAME_TAG] = spec.ref.service
    tags.update(ownership_tags(spec.ref))
    if not spec.uid and recorded_uid:
        tags[UID_TAG] = recorded_uid
    return tags


def managed(desired: Mapping[str, str], actual: Mapping[str, str]) -> Callable[[str], bool]:
    """Which keys a tag diff from ``actual`` to ``desired`` may set or remove: the desired ones, cloudlb's own
    (``cloudlb.io/*``, the service-name tag) and the user keys cloudlb recorded setting. Every other key belongs to
    someone else (a cost-allocation tool, AWS Config) and is never touched."""
    recorded = frozenset(k for k in actual.get(USER_TAGS_TAG, "").split(",") if k)

    def ours(key: str) -> bool:
        return key in desired or key.startswith(CLOUDLB_PREFIX) or key == SERVICE_NAME_TAG or key in recorded

    return ours


def to_aws(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """``{"k": "v"}`` -> ``[{"Key": "k", "Value": "v"}]``, sorted, as every AWS API takes tags."""
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def from_aws(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    """The inverse of ``to_aws``; a tag without a value reads as ``""``."""
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags or ()}


Fetch = Callable[[Sequence[str]], Mapping[str, Mapping[str, str]]]


class OwnerIndex:
    """Who owns each resource id (an ARN, or a classic ELB's name), learnt from its tags.

    Ownership tags are written when a resource is created and cloudlb never changes them, so the owner of an id is
    remembered once read. ``tags_for`` then fetches fresh tags only for ids it has not seen and for ids owned by the
    Service asked about (whose tags are diffed, so they must be current). A foreign resource later re-tagged as one
    of ours is seen once the index forgets it (``retain`` drops ids no longer listed) or a new provider starts.
    ``fetch`` reads tags for at most ``batch`` ids a call. Thread-safe.
    """

    def __init__(self, fetch: Fetch, *, batch: int = TAGS_PER_DESCRIBE) -> None:
        self._fetch = fetch
        self._batch = batch
        self._owners: dict[str, ServiceRef | None] = {}
        self._lock = threading.Lock()

    def tags_for(self, ids: Iterable[str], ref: ServiceRef) -> dict[str, dict[str, str]]:
        """Fresh tags of every id among ``ids`` that may belong to ``ref``'s Service (any uid); others are left out."""
        wanted = []
        with self._lock:
            for rid in ids:
                if rid not in self._owners or _same_service(self._owners[rid], ref):
                    wanted.append(rid)
        fetched = self._read(wanted)
        return {rid: tags for rid, tags in fetched.items() if _same_service(owner_of(tags), ref)}

    def owners(self, ids: Iterable[str]) -> dict[str, ServiceRef | None]:
        """The owner of each id (None: not cloudlb's), reading tags only for ids not seen before."""
        ids = list(ids)
        with self._lock:
            unknown = [rid for rid in ids if rid not in self._owners]
        self._read(unknown)
        with self._lock:
            return {rid: self._owners.get(rid) for rid in ids}

    def retain(self, ids: Iterable[str]) -> None:
        """Forget every id not in ``ids`` (what a full listing no longer shows is gone)."""
        keep = set(ids)
        with self._lock:
            for rid in [rid for rid in self._owners if rid not in keep]:
                del self._owners[rid]

    def forget(self, rid: str) -> None:
        """Drop one id, e.g. after deleting it."""
        with self._lock:
            self._owners.pop(rid, None)

    def _read(self, ids: Sequence[str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for chunk in batched(list(dict.fromkeys(ids)), self._batch):
            for rid, tags in self._fetch(chunk).items():
                out[rid] = dict(tags)
        with self._lock:
            for rid, tags in out.items():
                self._owners[rid] = owner_of(tags)
        return out


def _same_service(owner: ServiceRef | None, ref: ServiceRef) -> bool:
    return owner is not None and (owner.cluster, owner.namespace, owner.name) == (ref.cluster, ref.namespace, ref.name)
