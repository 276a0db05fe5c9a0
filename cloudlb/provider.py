"""The Provider protocol, capability checks and the entry-point registry.

Where this sits: every backend is a plugin registered under the ``cloudlb.providers`` entry-point group. The entry
point names a factory (usually the provider class) called as ``factory(**options)``; ``get_provider`` loads it,
validates it at load time, and returns the instance. Nothing here imports a cloud SDK.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol as TypingProtocol
from typing import runtime_checkable

from cloudlb.model import (
    LoadBalancerSpec,
    LoadBalancerStatus,
    OwnedLoadBalancer,
    Feature,
)
from cloudlb.plan import Plan

__all__ = [
    "ENTRY_POINT_GROUP",
    "Provider",
    "ProviderFactory",
    "REQUIRED_MEMBERS",
]

ENTRY_POINT_GROUP = "cloudlb.providers"


@runtime_checkable
class Provider(TypingProtocol):
    """The shape of Kubernetes' cloud-provider ``LoadBalancer`` interface, provider-neutral.

    ``get`` and ``delete`` need only the identity fields of a spec (cluster, namespace, name, uid); ``delete`` also
    accepts an ``OwnedLoadBalancer`` from ``list_owned``, which is how ``gc`` removes orphans.
    """

    name: str

    @property
    def capabilities(self) -> frozenset[Feature]: ...

    def load_balancer_name(self, spec: LoadBalancerSpec) -> str: ...

    def plan(self, spec: LoadBalancerSpec) -> Plan: ...

    def ensure(self, spec: LoadBalancerSpec) -> LoadBalancerStatus: ...

    def update_targets(self, spec: LoadBalancerSpec) -> None: ...

    def get(self, spec: LoadBalancerSpec) -> LoadBalancerStatus | None: ...

    def delete(self, spec: LoadBalancerSpec | OwnedLoadBalancer) -> bool: ...

    def list_owned(self, cluster: str) -> list[OwnedLoadBalancer]: ...


ProviderFactory = Callable[..., Provider]

REQUIRED_MEMBERS: tuple[str, ...] = (
    "capabilities",
    "load_balancer_name",
    "plan",
    "ensure",
    "update_targets",
    "get",
    "delete",
    "list_owned",
)


def get_provider(name: str = "local", /, **options: object) -> Provider:
    raise NotImplementedError


def available_providers() -> tuple[str, ...]:
    raise NotImplementedError
