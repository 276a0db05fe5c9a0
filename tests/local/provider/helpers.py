"""Specs and call counting for the local provider's tests."""

from __future__ import annotations

from dataclasses import dataclass

from cloudlb_local.client import LocalClient

from cloudlb.model import HealthCheck, Listener, LoadBalancerSpec, Protocol, Target

__all__ = ["FAST_CHECKS", "CallCounter", "make_spec", "tcp", "udp"]

# Short checks so that failover happens within a test's patience; thresholds of 1 react to the first probe.
FAST_CHECKS = HealthCheck(interval=0.3, timeout=0.2, healthy_threshold=1, unhealthy_threshold=1)
MUTATING = ("POST", "PATCH", "DELETE")


@dataclass
class CallCounter:
    """API calls the daemon served between ``start()`` and ``delta()``, not counting the counter's own reads."""

    client: LocalClient
    _before: dict[str, int] | None = None

    def start(self) -> None:
        self._before = dict(self.client.info()["calls"])

    def delta(self) -> dict[str, int]:
        assert self._before is not None, "call start() first"
        after = self.client.info()["calls"]
        out = {method: after[method] - self._before.get(method, 0) for method in after}
        out["GET"] -= 1  # the info call that read ``after``
        return out

    def mutating(self) -> int:
        delta = self.delta()
        return sum(delta[m] for m in MUTATING)


def make_spec(
    *listeners: Listener, name: str = "web", uid: str = "uid-1", cluster: str = "test", **fields: object
) -> LoadBalancerSpec:
    fields.setdefault("health_check", FAST_CHECKS)
    return LoadBalancerSpec(cluster, "demo", name, uid, listeners=listeners, **fields)  # type: ignore[arg-type]


def tcp(port: int, pool: frozenset[Target], name: str = "http") -> Listener:
    return Listener(name, Protocol.TCP, port, targets=pool)


def udp(port: int, pool: frozenset[Target], name: str = "dns") -> Listener:
    return Listener(name, Protocol.UDP, port, targets=pool)
