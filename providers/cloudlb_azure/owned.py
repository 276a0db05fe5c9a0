"""``list_owned`` for Azure: every Service of a cluster that holds anything, found by records, tags and descriptions.

Where this sits: ``AzureProvider.list_owned`` (what ``cloudlb list`` and ``gc`` use). A Service normally shows on its
balancer's record, and is listed with its frontend as the cloud id, the same id ``ensure`` reports. Anything else
of a cluster's (a public IP or a security rule whose Service has no frontend, left by a crash between two writes)
is listed too, under the Service its tags or description name, so ``gc`` finds it; ``delete`` of any entry
removes every part of that exact Service.
"""

from __future__ import annotations

from cloudlb.model import OwnedLoadBalancer
from cloudlb.naming import owner_of
from cloudlb_azure.arm import Kind
from cloudlb_azure.lb import records
from cloudlb_azure.lb_write import frontend_of
from cloudlb_azure.names import decoded, description_owner, record_owner
from cloudlb_azure.observe import Observer

__all__ = ["list_owned"]


def list_owned(observer: Observer, cluster: str) -> list[OwnedLoadBalancer]:
    found: dict[tuple[str, str, str], OwnedLoadBalancer] = {}

    def add(tags: dict[str, str], cloud_name: str, cloud_id: str) -> None:
        owner = owner_of(tags)
        if owner is None or owner.cluster != cluster:
            return
        key = (owner.namespace, owner.name, owner.uid)
        found.setdefault(key, OwnedLoadBalancer(cluster, owner.namespace, owner.name, owner.uid, cloud_name, cloud_id))

    scope = observer.scope
    for lb in observer.balancers(cluster).lbs.values():
        for base, value in records(lb).items():
            frontend = frontend_of(lb, base) or {}
            lb_name = str((lb or {}).get("name"))
            cloud_id = str(frontend.get("id") or scope.child_id(lb_name, "frontendIPConfigurations", base))
            add(record_owner(cluster, value), f"{lb_name}/{base}", cloud_id)
    for pip in observer.arm.list(Kind.PUBLIC_IPS, scope.group):
        add(decoded(pip.get("tags")), str(pip.get("name")), str(pip.get("id")))
    name = scope.options.security_group_name
    nsg = observer.arm.get(Kind.SECURITY_GROUPS, scope.network_group, name) if name else None
    for rule in ((nsg or {}).get("properties") or {}).get("securityRules") or []:
        description = (rule.get("properties") or {}).get("description")
        add(description_owner(description), str(rule.get("name")), str(rule.get("id")))
    return sorted(found.values(), key=lambda o: (o.namespace, o.name, o.cloud_id))
