"""The address pool: which address each local load balancer gets, like a MetalLB address pool.

Where this sits: ``cloud.py`` asks the pool for an address when a load balancer is created. The pool keeps no state
of its own: the addresses in use are the ``address`` column of the load balancer rows (``state.py``), so an
address is freed exactly when its row is deleted and nothing can drift between two records.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterator

__all__ = ["AddressPool", "AddressTaken", "AddressUnavailable", "PoolExhausted"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressUnavailable(ValueError):
    """The requested address is not one the pool hands out."""


class AddressTaken(ValueError):
    """The requested address belongs to another load balancer."""


class PoolExhausted(RuntimeError):
    """Every address in the pool is in use."""


class AddressPool:
    """The usable addresses of one CIDR: the network and broadcast addresses are skipped (except in /31 and /32,
    where every address is a host, as RFC 3021 has it)."""

    def __init__(self, cidr: str) -> None:
        try:
            self.network = ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            raise ValueError(f"address pool {cidr!r} is not a CIDR: {exc}") from None

    def __str__(self) -> str:
        return str(self.network)

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, str):
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return self._usable(ip)

    def _usable(self, ip: IPAddress) -> bool:
        net = self.network
        if ip.version != net.version or ip not in net:
            return False
        if net.num_addresses <= 2:
            return True
        # The same addresses hosts() skips: IPv6 has no broadcast, only the subnet-router anycast address.
        skipped = (net.network_address,) if net.version == 6 else (net.network_address, net.broadcast_address)
        return ip not in skipped

    def _hosts(self) -> Iterator[IPAddress]:
        # hosts() is lazy, so the lowest free address of a large pool is found without listing the pool.
        yield from self.network.hosts()

    def allocate(self, in_use: Collection[str], requested: str | None = None) -> str:
        """The requested address if it is usable and free, else the lowest free one."""
        taken = {str(ipaddress.ip_address(a)) for a in in_use}
        if requested is not None:
            canonical = str(ipaddress.ip_address(requested))
            if canonical not in self:
                raise AddressUnavailable(f"address {canonical} is not in the pool {self.network}")
            if canonical in taken:
                raise AddressTaken(f"address {canonical} is already in use by another load balancer")
            return canonical
        for ip in self._hosts():
            text = str(ip)
            if text not in taken:
                return text
        raise PoolExhausted(f"the address pool {self.network} has no free address")
