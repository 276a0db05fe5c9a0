"""Up-front checks of what Azure would refuse: all run before the first call, so an invalid spec costs none.

Where this sits: ``AzureProvider`` calls ``check_spec`` right after ``check_supported`` and ``ServiceOptions.parse``
in ``plan``/``ensure``/``update_targets``. Names are built within Azure's 80 characters (names.py) and checked;
what depends on the cloud's state (frontends, rules and tags on a shared balancer, rules in a security group) is
checked by ``lb.converge`` and ``nsg.nsg_converge`` before each write. Azure's published limits used here: 50 tags
a resource, tag names up to 512 characters and values up to 256, security rule descriptions up to 140.
"""

from __future__ import annotations

from cloudlb.annotations import TAGS, annotation_path
from cloudlb.errors import InvalidSpecError
from cloudlb.model import LoadBalancerSpec, Scheme
from cloudlb.naming import encode_tag_key
from cloudlb_azure.desired import Scope, pool_ips
from cloudlb_azure.names import MAX_TAGS, lb_name, nsg_description
from cloudlb_azure.options import AzureOptions, ServiceOptions

__all__ = ["MAX_DESCRIPTION", "MAX_TAG_KEY", "MAX_TAG_VALUE", "check_spec"]

MAX_TAG_KEY = 512
MAX_TAG_VALUE = 256
MAX_DESCRIPTION = 140
_OWN_TAGS = 4  # the three ownership tags and the record of user tag keys


def check_spec(spec: LoadBalancerSpec, service: ServiceOptions, options: AzureOptions) -> None:
    for scheme in Scheme:
        lb_name(spec.cluster, scheme)  # both: a Service may move from one balancer to the other
    if len(spec.cluster) > MAX_TAG_VALUE:
        raise InvalidSpecError(
            "cluster", f"is {len(spec.cluster)} characters; an Azure tag value holds {MAX_TAG_VALUE}"
        )
    where = annotation_path(TAGS)
    if len(spec.tags) + _OWN_TAGS > MAX_TAGS:
        raise InvalidSpecError(
            where, f"{len(spec.tags)} tags; an Azure resource holds {MAX_TAGS}, {_OWN_TAGS} are cloudlb's"
        )
    for key, value in spec.tags.items():
        if len(encode_tag_key(key)) > MAX_TAG_KEY or len(value) > MAX_TAG_VALUE:
            raise InvalidSpecError(
                where, f"tag {key!r}: Azure takes names up to {MAX_TAG_KEY} and values up to {MAX_TAG_VALUE}"
            )
    if options.security_group_name and len(nsg_description(spec.ref)) > MAX_DESCRIPTION:
        raise InvalidSpecError(
            "metadata",
            f"cluster, namespace, name and uid take more than the {MAX_DESCRIPTION} characters of a security rule's "
            "description, where cloudlb records whose rule it is",
        )
    scope = Scope(options)
    if pool_ips(spec):
        scope.vnet_id()  # raises ConfigError when no vnet is configured
    if spec.scheme is Scheme.INTERNAL and spec.listeners:
        scope.subnet_id(service.internal_subnet)
