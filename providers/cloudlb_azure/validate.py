"""Up-front checks of what Azure would refuse: all run before the first call, so an invalid spec costs none.

Where this sits: ``AzureProvider`` calls ``check_spec`` right after ``check_supported`` and ``ServiceOptions.parse``
in ``plan``/``ensure``/``update_targets``. Names are built within Azure's 80 characters (names.py) and checked;
what depends on the cloud's state (frontends, rules and tags on a shared balancer, rules in a security group) is
checked by ``lb.converge`` and ``nsg.nsg_converge`` before each write. Azure's published limits used here: 50 tags
a resource, tag names up to 512 characters and values up to 256, frontend ports up to 65534.
"""

from __future__ import annotations

from cloudlb.annotations import TAGS, annotation_path
from cloudlb.errors import InvalidSpecError
from cloudlb.fields import index
from cloudlb.model import LoadBalancerSpec, Scheme
from cloudlb.naming import encode_tag_key
from cloudlb_azure.desired import Scope, pool_ips
from cloudlb_azure.names import MAX_TAGS, lb_name, record
from cloudlb_azure.options import AzureOptions, ServiceOptions

__all__ = ["MAX_FRONTEND_PORT", "MAX_TAG_KEY", "MAX_TAG_VALUE", "check_spec"]

MAX_TAG_KEY = 512
MAX_TAG_VALUE = 256
MAX_FRONTEND_PORT = 65534
_OWN_TAGS = 4  # the three ownership tags and the record of user tag keys


def check_spec(spec: LoadBalancerSpec, service: ServiceOptions, options: AzureOptions) -> None:
    for scheme in Scheme:
        lb_name(spec.cluster, scheme)  # both: a Service may move from one balancer to the other
    if len(spec.cluster) > MAX_TAG_VALUE:
        raise InvalidSpecError(
            "cluster", f"is {len(spec.cluster)} characters; an Azure tag value holds {MAX_TAG_VALUE}"
        )
    if len(record(spec.ref, "")[1]) > MAX_TAG_VALUE:
        raise InvalidSpecError(
            "metadata.uid", f"namespace, name and uid pass the {MAX_TAG_VALUE} characters of the tag that records them"
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
    for i, listener in enumerate(spec.listeners):
        if listener.port > MAX_FRONTEND_PORT:
            raise InvalidSpecError(
                index("spec.ports", i) + ".port",
                f"{listener.port}: an Azure rule's frontend port ends at {MAX_FRONTEND_PORT}",
            )
    scope = Scope(options)
    if pool_ips(spec):
        scope.vnet_id()  # raises ConfigError when no vnet is configured
    if spec.scheme is Scheme.INTERNAL and spec.listeners:
        scope.subnet_id(service.internal_subnet)
