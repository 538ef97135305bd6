"""The client's address, as the sign-in limits count it.

The peer's address is the client's, unless the peer is one of the proxies named in `EDOCTA_TRUSTED_PROXIES`
(none by default): then the `Forwarded` (RFC 7239) or else `X-Forwarded-For` header is read from the right, and
the first address that is not itself a trusted proxy is the client's. Headers from anyone else are ignored, so
a client cannot pick the address it is counted under.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

from litestar.connection import ASGIConnection

from shared.settings import get_settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in trusted)


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _forwarded_for(value: str) -> list[str]:
    """The `for=` nodes of a `Forwarded` header, left to right, without quotes, brackets or ports."""
    nodes = []
    for element in value.split(","):
        for pair in element.split(";"):
            name, _, node = pair.strip().partition("=")
            if name.strip().lower() != "for":
                continue
            node = node.strip().strip('"')
            if node.startswith("["):
                node = node[1 : node.find("]")] if "]" in node else ""
            elif node.count(":") == 1:
                node = node.split(":", 1)[0]
            nodes.append(node)
    return nodes


def _hops(connection: ASGIConnection[Any, Any, Any, Any]) -> list[str]:
    forwarded = connection.headers.getall("forwarded", [])
    if forwarded:
        return _forwarded_for(",".join(forwarded))
    chain = ",".join(connection.headers.getall("x-forwarded-for", []))
    return [item.strip() for item in chain.split(",") if item.strip()]


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The address this request comes from (trusting forwarded headers only from the configured proxies)."""
    peer = connection.client.host if connection.client else ""
    trusted = _networks(get_settings().trusted_proxies)
    peer_address = _address(peer)
    if not trusted or peer_address is None or not any(peer_address in network for network in trusted):
        return peer
    client = peer
    for hop in reversed(_hops(connection)):
        address = _address(hop)
        if address is None:
            break  # "unknown" or an obfuscated node: the last proxy we trust is all we know
        client = str(address)
        if not any(address in network for network in trusted):
            break
    return client
