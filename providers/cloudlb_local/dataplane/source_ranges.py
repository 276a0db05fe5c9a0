"""``loadBalancerSourceRanges`` enforcement: which client addresses a listener accepts.

Where this sits: checked once per new TCP connection and once per new UDP flow, before a backend is picked. An
empty range list means everyone, as in Kubernetes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

__all__ = ["SourceRanges"]

_Net = ipaddress.IPv4Network | ipaddress.IPv6Network


class SourceRanges:
    __slots__ = ("_v4", "_v6", "cidrs")

    def __init__(self, cidrs: Iterable[str]) -> None:
        self.cidrs = tuple(cidrs)
        nets: list[_Net] = [ipaddress.ip_network(c, strict=False) for c in self.cidrs]
        self._v4 = tuple(n for n in nets if isinstance(n, ipaddress.IPv4Network))
        self._v6 = tuple(n for n in nets if isinstance(n, ipaddress.IPv6Network))

    @property
    def everyone(self) -> bool:
        return not self.cidrs

    def allows(self, host: str) -> bool:
        if not self.cidrs:
            return True
        try:
            ip = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address):
            # A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; they must match IPv4 ranges too.
            mapped = ip.ipv4_mapped
            if mapped is not None and any(mapped in n for n in self._v4):
                return True
            return any(ip in n for n in self._v6)
        return any(ip in n for n in self._v4)
