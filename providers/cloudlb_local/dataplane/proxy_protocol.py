"""PROXY protocol headers (HAProxy's spec, versions 1 and 2) that tell a backend who the real client was.

Where this sits: the TCP relay writes one header to the backend before any client byte when a listener has
``proxy_protocol`` set. Only the sending side lives here; backends (and the tests) parse.
"""

from __future__ import annotations

import ipaddress
import struct

from cloudlb.model import ProxyProtocol

__all__ = ["V2_SIGNATURE", "proxy_header"]

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_V2_PROXY_COMMAND = 0x21  # version 2, command PROXY
_V2_TCP4 = 0x11
_V2_TCP6 = 0x21

Address = tuple[str, int]
_IP = ipaddress.IPv4Address | ipaddress.IPv6Address


def _pair(src: str, dst: str) -> tuple[_IP, _IP]:
    """Both addresses in one family, as the spec requires: IPv4 if both are (or map to) IPv4, else IPv6."""
    # A link-local peer name carries a "%scope" suffix that has no place in the header.
    a, b = ipaddress.ip_address(src.split("%")[0]), ipaddress.ip_address(dst.split("%")[0])
    a4 = a.ipv4_mapped if isinstance(a, ipaddress.IPv6Address) else a
    b4 = b.ipv4_mapped if isinstance(b, ipaddress.IPv6Address) else b
    if a4 is not None and b4 is not None:
        return a4, b4

    def six(ip: _IP) -> ipaddress.IPv6Address:
        return ip if isinstance(ip, ipaddress.IPv6Address) else ipaddress.IPv6Address(f"::ffff:{ip}")

    return six(a), six(b)


def _v1(src: _IP, dst: _IP, sport: int, dport: int) -> bytes:
    family = "TCP4" if src.version == 4 else "TCP6"
    return f"PROXY {family} {src} {dst} {sport} {dport}\r\n".encode("ascii")


def _v2(src: _IP, dst: _IP, sport: int, dport: int) -> bytes:
    body = src.packed + dst.packed + struct.pack("!HH", sport, dport)
    family = _V2_TCP4 if src.version == 4 else _V2_TCP6
    return V2_SIGNATURE + struct.pack("!BBH", _V2_PROXY_COMMAND, family, len(body)) + body


def proxy_header(version: ProxyProtocol, client: Address, listener: Address) -> bytes:
    """The header for a TCP connection from ``client`` accepted at ``listener`` (both ``(ip, port)``)."""
    if version is ProxyProtocol.NONE:
        return b""
    src, dst = _pair(client[0], listener[0])
    if version is ProxyProtocol.V1:
        return _v1(src, dst, client[1], listener[1])
    return _v2(src, dst, client[1], listener[1])
