"""The fake Azure Resource Manager (Microsoft.Network) that cloudlb's Azure provider and users' CI run against.

Where this sits: shipped in the provider package and served by ``cloudlb mock-server azure`` (``cloudlb_azure.mock``).
It answers ``azure-mgmt-network`` the way ARM does: resource paths and api-version, bearer authentication,
long-running operations (``Azure-AsyncOperation``, provisioningState ``Updating`` -> ``Succeeded``), ETags with
``If-Match``/``If-None-Match``, ARM error bodies, and the network resource provider's validation of load balancers,
public IPs, network security groups and virtual networks. Modules: ``server`` (HTTPS, request log, injected
failures), ``api`` (routing, preconditions, generic resource operations), ``lro``, ``state``, and one module per
resource type (``loadbalancers`` with ``lb_parts``/``lb_rules``, ``publicips``, ``nsgs``, ``vnets``).
"""

from cloudlb_azure.fake.server import DEFAULT_SUBSCRIPTION, FakeArm, RequestRecord
from cloudlb_azure.fake.state import ArmState, Limits

__all__ = ["DEFAULT_SUBSCRIPTION", "ArmState", "FakeArm", "Limits", "RequestRecord"]
