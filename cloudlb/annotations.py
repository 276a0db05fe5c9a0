"""The annotation table: cloudlb's neutral ``cloudlb.io/*`` keys and the anchors' own names.

Where this sits: ``kube.py`` reads annotations through the helpers here while it builds a ``LoadBalancerSpec``;
``cloudlb render`` and the CLI help print the table; ``explain`` tells a user, key by key, who acts on each
annotation of a Service. Core applies the neutral keys plus the few anchor keys that mean the same on every cloud
(source ranges, "internal", the AWS target type); every other anchor key is carried in ``spec.annotations`` for its
provider to validate and honour. An unknown ``cloudlb.io/`` key is an error, since a typo there would otherwise be
silently ignored.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cloudlb.errors import InvalidSpecError
from cloudlb.fields import EMPTY_MAP, child, opt_map, show
from cloudlb.model import FrozenDict

__all__ = [
    "ANNOTATIONS_PATH",
    "CLOUDLB_ANNOTATIONS",
    "CORE_ANCHOR_ANNOTATIONS",
    "PREFIX",
    "PROVIDER_PREFIXES",
    "AnnotationUse",
    "Use",
    "annotation_path",
    "explain",
    "parse_bool",
    "parse_choice",
    "parse_tags",
    "provider_for",
    "read_annotations",
    "suggest",
]

PREFIX = "cloudlb.io/"
ANNOTATIONS_PATH = "metadata.annotations"

TARGET_TYPE = "cloudlb.io/target-type"
INTERNAL = "cloudlb.io/internal"
ALGORITHM = "cloudlb.io/algorithm"
HC_PROTOCOL = "cloudlb.io/health-check-protocol"
HC_PORT = "cloudlb.io/health-check-port"
HC_PATH = "cloudlb.io/health-check-path"
HC_INTERVAL = "cloudlb.io/health-check-interval"
HC_TIMEOUT = "cloudlb.io/health-check-timeout"
HC_HEALTHY = "cloudlb.io/health-check-healthy-threshold"
HC_UNHEALTHY = "cloudlb.io/health-check-unhealthy-threshold"
PROXY_PROTOCOL = "cloudlb.io/proxy-protocol"
TAGS = "cloudlb.io/tags"

SOURCE_RANGES = "service.beta.kubernetes.io/load-balancer-source-ranges"
AWS_INTERNAL = "service.beta.kubernetes.io/aws-load-balancer-internal"
AWS_SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"
AWS_TARGET_TYPE = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"
AZURE_INTERNAL = "service.beta.kubernetes.io/azure-load-balancer-internal"
OPENSTACK_INTERNAL = "service.beta.kubernetes.io/openstack-internal-load-balancer"

CLOUDLB_ANNOTATIONS: Mapping[str, str] = {
    TARGET_TYPE: "node (default: nodes' InternalIPs at the nodePort) or pod (ready EndpointSlice endpoints)",
    INTERNAL: "true: a private address only reachable inside the network; false (default): public",
    ALGORITHM: "round-robin (default), random, least-connections or source-ip",
    HC_PROTOCOL: "health check protocol: TCP (default), HTTP or HTTPS",
    HC_PORT: "health check port (1..65535) or traffic-port (default: each listener's own target port)",
    HC_PATH: "health check path for HTTP/HTTPS, starting with / (default /)",
    HC_INTERVAL: "seconds between health checks (default 10)",
    HC_TIMEOUT: "seconds before a health check fails, less than the interval (default 5)",
    HC_HEALTHY: "consecutive successes before a target is healthy, 1..10 (default 2)",
    HC_UNHEALTHY: "consecutive failures before a target is unhealthy, 1..10 (default 3)",
    PROXY_PROTOCOL: "send the PROXY protocol header to targets: v1, v2, true (= v2) or false (default)",
    TAGS: "extra tags on every cloud resource, as k1=v1,k2=v2",
}

# Anchor keys core applies itself, with the provider that also reads them (None: every provider, through core).
CORE_ANCHOR_ANNOTATIONS: Mapping[str, tuple[str | None, str]] = {
    SOURCE_RANGES: (None, "comma-separated CIDRs allowed in, when spec.loadBalancerSourceRanges is empty"),
    AWS_INTERNAL: ("aws", "true or a CIDR: internal scheme"),
    AWS_SCHEME: ("aws", "internal or internet-facing"),
    AWS_TARGET_TYPE: ("aws", "instance (node targets) or ip (pod targets)"),
    AZURE_INTERNAL: ("azure", "true: internal scheme"),
    OPENSTACK_INTERNAL: ("openstack", "true: internal scheme"),
}

# Longest prefix first is not needed: none of these is a prefix of another.
PROVIDER_PREFIXES: tuple[tuple[str, str], ...] = (
    ("service.beta.kubernetes.io/aws-load-balancer-", "aws"),
    ("service.beta.kubernetes.io/azure-", "azure"),
    ("loadbalancer.openstack.org/", "openstack"),
)


class Use(enum.StrEnum):
    """Who acts on an annotation."""

    CORE = "core"  # applied while building the spec, so it works on every provider
    PROVIDER = "provider"  # carried in spec.annotations for the named provider
    IGNORED = "ignored"  # not a load-balancer annotation (kubectl's, a tool's, the user's own)
    UNKNOWN = "unknown"  # a cloudlb.io/ key cloudlb does not know: an error when building the spec


@dataclass(frozen=True, slots=True)
class AnnotationUse:
    """One annotation of a Service and what becomes of it. ``provider`` names the provider that honours it."""

    key: str
    value: str
    use: Use
    provider: str | None = None
    description: str = ""


def annotation_path(key: str) -> str:
    """The field path of one annotation, e.g. ``metadata.annotations["cloudlb.io/algorithm"]``."""
    return child(ANNOTATIONS_PATH, key)


def provider_for(key: str) -> str | None:
    """The provider whose anchor annotations include ``key``, or None."""
    core = CORE_ANCHOR_ANNOTATIONS.get(key)
    if core is not None:
        return core[0]
    for prefix, provider in PROVIDER_PREFIXES:
        if key.startswith(prefix):
            return provider
    return None


def suggest(key: str) -> str:
    """The error message for an unknown ``cloudlb.io/`` key, with the nearest known key when one is close."""
    # Compare without the shared prefix, which would otherwise make every key look close to every other.
    names = {known[len(PREFIX) :]: known for known in CLOUDLB_ANNOTATIONS}
    close = difflib.get_close_matches(key[len(PREFIX) :], list(names), n=1, cutoff=0.6)
    if close:
        return f'unknown cloudlb.io annotation; did you mean "{names[close[0]]}"?'
    return f"unknown cloudlb.io annotation; known keys: {', '.join(sorted(CLOUDLB_ANNOTATIONS))}"


def explain(service: Mapping[str, Any]) -> list[AnnotationUse]:
    """For each annotation on ``service``, in key order: applied by core, honoured by a provider, or ignored.

    Unlike ``spec_from_manifests`` this does not stop at an unknown ``cloudlb.io/`` key: it reports it as
    ``Use.UNKNOWN`` with the suggestion, so ``render`` can show every problem at once.
    """
    if not isinstance(service, Mapping):
        raise InvalidSpecError("", "a Service must be a mapping")
    annotations = opt_map(opt_map(service, "metadata", ""), "annotations", "metadata")
    out: list[AnnotationUse] = []
    for key in sorted(annotations, key=str):
        value = annotations[key]
        text = value if isinstance(value, str) else show(value)
        out.append(_explain_one(str(key), text))
    return out


def _explain_one(key: str, value: str) -> AnnotationUse:
    if key.startswith(PREFIX):
        if key in CLOUDLB_ANNOTATIONS:
            return AnnotationUse(key, value, Use.CORE, None, CLOUDLB_ANNOTATIONS[key])
        return AnnotationUse(key, value, Use.UNKNOWN, None, suggest(key))
    core = CORE_ANCHOR_ANNOTATIONS.get(key)
    if core is not None:
        return AnnotationUse(key, value, Use.CORE, core[0], core[1])
    provider = provider_for(key)
    if provider is not None:
        return AnnotationUse(key, value, Use.PROVIDER, provider, f"honoured by the {provider} provider")
    return AnnotationUse(key, value, Use.IGNORED, None, "not a load-balancer annotation")


def read_annotations(metadata: Mapping[str, Any]) -> FrozenDict:
    """``metadata.annotations`` as a FrozenDict, refusing non-string values and unknown ``cloudlb.io/`` keys."""
    raw = opt_map(metadata, "annotations", "metadata")
    if raw is EMPTY_MAP:
        return FrozenDict()
    for key, value in raw.items():
        if not isinstance(key, str):
            raise InvalidSpecError(ANNOTATIONS_PATH, f"keys must be strings, not {show(key)}")
        if not isinstance(value, str):
            raise InvalidSpecError(
                annotation_path(key), f'must be a string, not {show(value)}; quote it in YAML, e.g. "true"'
            )
        if key.startswith(PREFIX) and key not in CLOUDLB_ANNOTATIONS:
            raise InvalidSpecError(annotation_path(key), suggest(key))
    return FrozenDict(raw)


def parse_bool(annotations: Mapping[str, str], key: str) -> bool | None:
    """``true``/``false`` in any case; None when absent."""
    value = annotations.get(key)
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise InvalidSpecError(annotation_path(key), f'{show(value)} is not a boolean; use "true" or "false"')


def parse_choice(annotations: Mapping[str, str], key: str, choices: Mapping[str, Any]) -> Any:
    """One of ``choices`` (matched case-insensitively), mapped to its value; None when absent."""
    value = annotations.get(key)
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in choices:
        return choices[lowered]
    allowed = ", ".join(choices)
    raise InvalidSpecError(annotation_path(key), f"{show(value)} is not one of: {allowed}")


def parse_tags(annotations: Mapping[str, str], key: str = TAGS) -> FrozenDict:
    """``k1=v1,k2=v2`` -> FrozenDict. Blank items are skipped; a key must be non-empty and appear once."""
    value = annotations.get(key)
    if value is None:
        return FrozenDict()
    path = annotation_path(key)
    tags: dict[str, str] = {}
    for item in value.split(","):
        if not item.strip():
            continue
        name, sep, tag_value = item.partition("=")
        name = name.strip()
        if not sep:
            raise InvalidSpecError(path, f"{show(item.strip())} is not key=value")
        if not name:
            raise InvalidSpecError(path, f"{show(item.strip())} has an empty key")
        if name in tags:
            raise InvalidSpecError(path, f"tag {show(name)} is given twice")
        tags[name] = tag_value.strip()
    return FrozenDict(tags)
