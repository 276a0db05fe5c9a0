"""Tags on OpenStack resources: what cloudlb puts on each, which keys it manages, and floating IP provenance.

Where this sits: desired.py tags every Octavia resource (load balancer, listeners, pools, monitors, members) with
``desired_tags``: the user's tags (``cloudlb.io/tags``) under cloudlb's ownership tags (naming.py), which always
win, stored as ``key=value`` strings. The keys of the user's tags are recorded in ``cloudlb.io/user-tags`` so that
a tag dropped from the annotation can be removed later; every other key someone else put on a resource is left
alone (``tag_drift``).

Floating IPs carry the ownership tags only when cloudlb allocated them, plus ``cloudlb.io/floating-ip``: ``release``
(delete it with the load balancer) or ``keep`` (the Service asked for ``keep-floatingip``). That tag is the
provenance: a floating IP without cloudlb's tags (one a user allocated and named in ``loadBalancerIP``) is never
released, only detached when the load balancer stops using it.
"""

from __future__ import annotations

from collections.abc import Mapping

from cloudlb.annotations import PREFIX as CLOUDLB_PREFIX
from cloudlb.annotations import TAGS as TAGS_ANNOTATION
from cloudlb.annotations import annotation_path
from cloudlb.errors import InvalidSpecError
from cloudlb.model import FrozenDict, LoadBalancerSpec, ServiceRef
from cloudlb.naming import ownership_tags, tags_to_strings
from cloudlb.plan import MapDiff, map_diff

__all__ = [
    "FLOATING_IP_TAG",
    "KEEP",
    "MAX_TAG_LENGTH",
    "RELEASE",
    "USER_TAGS_TAG",
    "desired_tags",
    "floating_ip_tags",
    "tag_drift",
]

USER_TAGS_TAG = "cloudlb.io/user-tags"  # the user's tag keys cloudlb set, comma-separated
FLOATING_IP_TAG = "cloudlb.io/floating-ip"
RELEASE, KEEP = "release", "keep"
MAX_TAG_LENGTH = 255  # Octavia's and Neutron's limit on one tag string


def desired_tags(spec: LoadBalancerSpec, uid: str) -> FrozenDict:
    """The tags of every Octavia resource made for ``spec``. ``uid`` is the spec's, or for a spec from a file (no
    uid) the one a controller recorded on the load balancer, which still names the Service."""
    tags = dict(spec.tags)
    if tags:
        tags[USER_TAGS_TAG] = ",".join(sorted(tags))
    tags.update(ownership_tags(_with_uid(spec.ref, uid)))
    for text in tags_to_strings(tags):
        if len(text) > MAX_TAG_LENGTH:
            raise InvalidSpecError(
                annotation_path(TAGS_ANNOTATION), f"the tag {text[:40]!r}... is longer than {MAX_TAG_LENGTH} characters"
            )
    return FrozenDict(tags)


def floating_ip_tags(ref: ServiceRef, uid: str, *, keep: bool) -> FrozenDict:
    """The tags of a floating IP cloudlb allocates: ownership and provenance."""
    return FrozenDict({**ownership_tags(_with_uid(ref, uid)), FLOATING_IP_TAG: KEEP if keep else RELEASE})


def tag_drift(desired: Mapping[str, str], actual: Mapping[str, str]) -> MapDiff:
    """What to change on a resource's tags: the desired keys, cloudlb's own and the user keys cloudlb recorded
    setting. Keys other tools set are ignored, so rewriting the tag list keeps them."""
    recorded = frozenset(k for k in actual.get(USER_TAGS_TAG, "").split(",") if k)

    def foreign(key: str) -> bool:
        return not (key in desired or key.startswith(CLOUDLB_PREFIX) or key in recorded)

    return map_diff(desired, actual, ignore=foreign)


def _with_uid(ref: ServiceRef, uid: str) -> ServiceRef:
    return ServiceRef(ref.cluster, ref.namespace, ref.name, uid)
