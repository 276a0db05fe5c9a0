"""cloudlb: one provider-neutral interface that gives a Kubernetes ``Service`` of ``type: LoadBalancer`` a real
load balancer, on AWS, Azure, OpenStack, or the built-in local provider.

The pipeline: manifests --``kube``--> ``LoadBalancerSpec`` --``provider.plan()``--> ``Plan``
--``provider.ensure()``--> cloud, reported back as ``LoadBalancerStatus``.
"""

from cloudlb.errors import (
    CloudLBError,
    ConfigError,
    ConflictError,
    InvalidSpecError,
    NotFoundError,
    PermanentError,
    ProviderError,
    ProviderLoadError,
    TemporaryError,
    UnsupportedFeatureError,
)
from cloudlb.kube import load_manifests, spec_from_manifests
from cloudlb.model import (
    Algorithm,
    Feature,
    FrozenDict,
    HealthCheck,
    HealthCheckProtocol,
    Ingress,
    IPFamily,
    Listener,
    LoadBalancerSpec,
    LoadBalancerStatus,
    OwnedLoadBalancer,
    PortStatus,
    Protocol,
    ProxyProtocol,
    Scheme,
    ServiceRef,
    SessionAffinity,
    Target,
    TargetMode,
    TrafficPolicy,
)
from cloudlb.plan import Action, Change, Plan
from cloudlb.provider import Provider, available_providers, get_provider

__version__ = "0.1.0"

__all__ = [
    "Action",
    "Algorithm",
    "Change",
    "CloudLBError",
    "ConfigError",
    "ConflictError",
    "Feature",
    "FrozenDict",
    "HealthCheck",
    "HealthCheckProtocol",
    "IPFamily",
    "Ingress",
    "InvalidSpecError",
    "Listener",
    "LoadBalancerSpec",
    "LoadBalancerStatus",
    "NotFoundError",
    "OwnedLoadBalancer",
    "PermanentError",
    "Plan",
    "PortStatus",
    "Protocol",
    "Provider",
    "ProviderError",
    "ProviderLoadError",
    "ProxyProtocol",
    "Scheme",
    "ServiceRef",
    "SessionAffinity",
    "Target",
    "TargetMode",
    "TemporaryError",
    "TrafficPolicy",
    "UnsupportedFeatureError",
    "__version__",
    "available_providers",
    "get_provider",
    "load_manifests",
    "spec_from_manifests",
]
