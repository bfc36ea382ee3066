"""The client address as the auth limits count it.

An IPv6 client is counted by its /64: one subscriber is routinely given a whole /64, so
counting single addresses would hand an attacker 2^64 fresh ones. An IPv4-mapped IPv6
address is its IPv4 address. A request with no address (a Unix socket without proxy headers)
counts as one shared unknown address, so the limits still hold, for all such callers
together.
"""

from __future__ import annotations

import hashlib
import ipaddress

UNKNOWN = "unknown"


def client_key(client_ip: str | None) -> str:
    if not client_ip:
        return UNKNOWN
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return client_ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def digest(key: str) -> bytes:
    """How the limits store a key: a SHA-256, so their tables collect no emails or addresses."""
    return hashlib.sha256(key.encode()).digest()
