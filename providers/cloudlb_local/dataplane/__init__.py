"""The local provider's data plane: an asyncio L4 (TCP and UDP) load balancer, driven by the daemon.

Where this sits: ``cloudlb serve`` builds ``ListenerConfig`` values from its stored load balancers and calls
``Dataplane.apply`` with the full desired set whenever anything changes. The data plane binds, reconfigures in
place and drains; it knows nothing of Kubernetes, SQLite or the API.

    dp = Dataplane(metrics_registry=registry)
    errors = await dp.apply([ListenerConfig(lb_id="lb-1", address="127.0.100.1", port=80,
                                            protocol=Protocol.TCP, backends=frozenset({Backend("10.0.0.5", 30080)}))])
    ...
    await dp.close()
"""

from cloudlb.model import Algorithm, HealthCheckProtocol, Protocol, ProxyProtocol

from .config import (
    Backend,
    BackendHealth,
    HealthCheckConfig,
    ListenerConfig,
    ListenerKey,
    ListenerStatus,
)
from .dataplane import Dataplane
from .eventloop import install_event_loop_policy, new_event_loop, run, uvloop_available
from .metrics import METRICS_CONTENT_TYPE, render_metrics
from .proxy_protocol import proxy_header

__all__ = [
    "METRICS_CONTENT_TYPE",
    "Algorithm",
    "Backend",
    "BackendHealth",
    "Dataplane",
    "HealthCheckConfig",
    "HealthCheckProtocol",
    "ListenerConfig",
    "ListenerKey",
    "ListenerStatus",
    "Protocol",
    "ProxyProtocol",
    "install_event_loop_policy",
    "new_event_loop",
    "proxy_header",
    "render_metrics",
    "run",
    "uvloop_available",
]
