"""Deterministic resource names and THE ownership tag scheme.

Where this sits: every provider names its cloud resources with ``resource_name`` and tags them with
``ownership_tags``; when it observes the cloud it classifies what it finds with ``ownership``. This module is the
one place the scheme is defined.

Ownership, in one comment:
    Every resource cloudlb creates carries three tags: ``cloudlb.io/cluster`` (the cluster name given to cloudlb),
    ``cloudlb.io/service`` (``namespace/name``) and ``cloudlb.io/service-uid`` (the Service's metadata.uid, or ""
    when a manifest came from a file). Resources are found by these tags, never by name. A resource is MINE when
    cluster and service match and the uids do not contradict each other (either may be empty); STALE when cluster
    and service match but both uids are set and differ, i.e. a deleted and recreated Service left it behind; and
    FOREIGN otherwise, including a resource with the same name in another cluster. cloudlb never changes or deletes
    a FOREIGN resource. Clouds that keep tags as strings (Octavia) store each as ``key=value``.

Names are for humans and for the clouds' length and character limits; they are not identity. They still have to
be unique, so each carries a short hash of everything that identifies it.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cloudlb.model import ServiceRef

__all__ = [
    "AWS_NAME_RULES",
    "AZURE_NAME_RULES",
    "AZURE_TAG_KEY_FORBIDDEN",
    "CLUSTER_TAG",
    "OPENSTACK_NAME_RULES",
    "OWNERSHIP_TAGS",
    "SERVICE_TAG",
    "UID_TAG",
    "NameRules",
    "Ownership",
    "decode_tag_key",
    "encode_tag_key",
    "is_owned_by_cluster",
    "owner_of",
    "ownership",
    "ownership_tags",
    "resource_name",
    "tags_from_strings",
    "tags_to_strings",
]

CLUSTER_TAG = "cloudlb.io/cluster"
SERVICE_TAG = "cloudlb.io/service"
UID_TAG = "cloudlb.io/service-uid"
OWNERSHIP_TAGS = frozenset({CLUSTER_TAG, SERVICE_TAG, UID_TAG})

HASH_LENGTH = 8


class Ownership(enum.StrEnum):
    MINE = "mine"
    STALE = "stale"  # same cluster and Service, another uid: left behind by a previous incarnation
    FOREIGN = "foreign"  # not ours: never modified, never deleted


def ownership_tags(ref: ServiceRef) -> dict[str, str]:
    """The three tags every resource created for ``ref`` carries."""
    return {CLUSTER_TAG: ref.cluster, SERVICE_TAG: ref.service, UID_TAG: ref.uid}


def owner_of(tags: Mapping[str, str]) -> ServiceRef | None:
    """The Service a resource's tags name, or None when the cluster or service tag is missing or malformed."""
    cluster = tags.get(CLUSTER_TAG, "")
    namespace, slash, name = tags.get(SERVICE_TAG, "").partition("/")
    if not cluster or not slash or not namespace or not name or "/" in name:
        return None
    return ServiceRef(cluster=cluster, namespace=namespace, name=name, uid=tags.get(UID_TAG, ""))


def ownership(tags: Mapping[str, str], ref: ServiceRef) -> Ownership:
    owner = owner_of(tags)
    if owner is None or (owner.cluster, owner.namespace, owner.name) != (ref.cluster, ref.namespace, ref.name):
        return Ownership.FOREIGN
    if owner.uid and ref.uid and owner.uid != ref.uid:
        return Ownership.STALE
    return Ownership.MINE


def is_owned_by_cluster(tags: Mapping[str, str], cluster: str) -> bool:
    owner = owner_of(tags)
    return owner is not None and owner.cluster == cluster


def tags_to_strings(tags: Mapping[str, str]) -> list[str]:
    """``{"k": "v"}`` -> ``["k=v"]``, sorted. An empty value gives the bare key, the form other tools' plain
    string tags have, so ``tags_from_strings`` and this function round-trip each other's output."""
    out = []
    for key, value in tags.items():
        if not key or "=" in key:
            raise ValueError(f"tag key {key!r} cannot be stored as a key=value string")
        out.append(f"{key}={value}" if value else key)
    return sorted(out)


def tags_from_strings(strings: Iterable[str]) -> dict[str, str]:
    """``["k=v", "plain"]`` -> ``{"k": "v", "plain": ""}``. The first ``=`` splits, so values may contain ``=``.

    A string without ``=`` is a plain tag someone else set: it is kept as a key with an empty value, so it survives
    a read-modify-write of the tag list. A string with an empty key is dropped. The last duplicate wins.
    """
    out: dict[str, str] = {}
    for item in strings:
        key, _, value = item.partition("=")
        if key:
            out[key] = value
    return out


# Azure refuses these characters in tag names, so ``cloudlb.io/cluster`` cannot be stored as it is.
AZURE_TAG_KEY_FORBIDDEN = "<>%&\\?/"
_TAG_KEY_ESCAPE = "~"
_ESCAPED = re.compile(r"~([0-9a-f]{2})")


def encode_tag_key(key: str, forbidden: str = AZURE_TAG_KEY_FORBIDDEN) -> str:
    """A tag key in a form a cloud that forbids some characters in tag names accepts (Azure by default).

    The scheme: each forbidden character, and the escape character ``~`` itself, becomes ``~`` and its two
    lowercase hex digits, so ``cloudlb.io/cluster`` is stored as ``cloudlb.io~2fcluster``. Keys without those
    characters are unchanged, and ``decode_tag_key`` reverses it exactly. Only code points below 256 can be
    forbidden, which covers every character a cloud rejects today.
    """
    escaped = set(forbidden) | {_TAG_KEY_ESCAPE}
    if any(ord(c) > 0xFF for c in escaped):
        raise ValueError(f"cannot escape {forbidden!r}: only characters below U+0100 have a two-digit code")
    return "".join(f"{_TAG_KEY_ESCAPE}{ord(c):02x}" if c in escaped else c for c in key)


def decode_tag_key(key: str) -> str:
    """The inverse of ``encode_tag_key``. A ``~`` not followed by two lowercase hex digits is kept as it is, so a
    key someone else wrote with a literal ``~`` decodes to itself (it is never re-encoded: tag diffs compare the
    stored form)."""
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), key)


@dataclass(frozen=True, slots=True)
class NameRules:
    """A cloud's naming limits. The character classes are bodies of a regex ``[...]``, ASCII only."""

    max_length: int
    allowed: str = "A-Za-z0-9-"
    first: str = "A-Za-z0-9"
    last: str = "A-Za-z0-9"
    forbidden_prefixes: tuple[str, ...] = ()
    separator: str = "-"

    def __post_init__(self) -> None:
        if self.max_length < HASH_LENGTH:
            raise ValueError(f"max_length must leave room for the {HASH_LENGTH}-character hash")
        if not re.fullmatch(f"[{self.allowed}]", self.separator):
            raise ValueError(f"separator {self.separator!r} is not an allowed character")

    def is_valid(self, name: str) -> bool:
        if not 0 < len(name) <= self.max_length:
            return False
        if not re.fullmatch(f"[{self.allowed}]*", name, flags=re.ASCII):
            return False
        if not (re.fullmatch(f"[{self.first}]", name[0]) and re.fullmatch(f"[{self.last}]", name[-1])):
            return False
        return not self.forbids(name)

    def forbids(self, name: str) -> bool:
        """True when ``name`` starts with a prefix the cloud reserves (compared case-insensitively)."""
        return any(name.lower().startswith(prefix.lower()) for prefix in self.forbidden_prefixes)


# ELBv2 and classic ELB names; AWS itself reserves the "internal-" prefix for internal balancers' DNS names.
AWS_NAME_RULES = NameRules(max_length=32, forbidden_prefixes=("internal-",))
# Azure Network resource names: start alphanumeric, end alphanumeric or underscore.
AZURE_NAME_RULES = NameRules(max_length=80, allowed="A-Za-z0-9_.-", last="A-Za-z0-9_")
# Octavia accepts any 255 characters; cloudlb keeps to a tidy subset.
OPENSTACK_NAME_RULES = NameRules(max_length=255, allowed="A-Za-z0-9_.-")


def resource_name(ref: ServiceRef, rules: NameRules, *parts: str, prefix: str = "k8s") -> str:
    """A deterministic, readable name such as ``k8s-default-web-tcp-80-1a2b3c4d``, valid under ``rules``.

    Sanitising and shortening map many inputs onto one readable stem, so uniqueness comes from the hash of cluster,
    namespace, name and parts, which is always appended. The uid is left out of it on purpose: a manifest applied
    from a file has none, and its name must not change once the Service exists in a cluster. Namespace and
    name are shortened first, so that a long namespace does not cut the port out of the name.
    """
    digest = _digest(ref.cluster, ref.namespace, ref.name, *parts)
    flexible = (False, True, True, *(False for _ in parts))
    raw = zip((prefix, ref.namespace, ref.name, *parts), flexible, strict=True)
    components = [(text, flex) for text, flex in ((_sanitize(t, rules), f) for t, f in raw) if text]
    sep = rules.separator
    budget = rules.max_length - HASH_LENGTH - len(sep)
    stem = sep.join(_shorten(components, budget, len(sep)))
    name = f"{stem}{sep}{digest}" if stem else digest
    if rules.forbids(name):
        # Leading with the hash keeps the readable stem without the reserved prefix at the start.
        name = f"{digest}{sep}{stem}" if stem else digest
    if not rules.is_valid(name):
        raise ValueError(f"cannot build a name for {ref} under {rules}")
    return name


def _digest(*fields: str) -> str:
    # JSON encodes the list unambiguously: ("a-b", "c") and ("a", "b-c") hash differently.
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:HASH_LENGTH]


def _sanitize(text: str, rules: NameRules) -> str:
    # A run of disallowed characters becomes one separator; the input's own separators are kept as they are.
    return _trim(re.sub(f"[^{rules.allowed}]+", rules.separator, text.lower()))


def _trim(text: str) -> str:
    # Every cloud's first and last character classes include letters and digits, so a component trimmed to them
    # can start or end the whole name.
    return re.sub(r"^[^a-z0-9]+|[^a-z0-9]+$", "", text)


def _shorten(components: list[tuple[str, bool]], budget: int, sep_len: int) -> list[str]:
    """Fit ``(text, flexible)`` components into ``budget`` characters, joined by separators.

    Flexible components (namespace and name) are cut first, all to one common length as high as the budget
    allows; only when that is not enough are the prefix and parts cut too, since a port cut to ``tcp-8`` misleads.
    """
    texts = [text for text, _ in components]
    if sum(map(len, texts)) + sep_len * (len(texts) - 1) <= budget:
        return texts
    for cut_all in (False, True):
        group = [cut_all or flexible for _, flexible in components]
        cap = _cap(texts, group, budget - sep_len * (len(texts) - 1))
        if cap:
            # Trimming after the cut, or dropping a component left empty, only makes the stem shorter.
            cut = (_trim(text[:cap]) if cut else text for text, cut in zip(texts, group, strict=True))
            return [text for text in cut if text]
    return []


def _cap(texts: list[str], group: list[bool], budget: int) -> int:
    """The largest length to cut the grouped texts to so that all fit ``budget``; 0 when none does."""
    fixed = sum(len(text) for text, cut in zip(texts, group, strict=True) if not cut)
    flexible = [len(text) for text, cut in zip(texts, group, strict=True) if cut]
    for cap in range(max(flexible, default=0), 0, -1):
        if fixed + sum(min(length, cap) for length in flexible) <= budget:
            return cap
    return 0
