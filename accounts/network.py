"""Which address a request comes from, and whether it is inside the intranet. Pure functions."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Iterable[str], setting: str) -> list[Network]:
    """CIDR strings -> networks; a bad entry is a configuration error naming the setting."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"{setting}: {cidr!r} is not a network in CIDR notation") from exc
    return networks


def _address(text: str):
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket (::ffff:10.0.0.1) is that IPv4 client.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def in_networks(address: str, networks: Sequence[Network]) -> bool:
    parsed = _address(address)
    return parsed is not None and any(parsed in network for network in networks)


def client_address(
    remote_addr: str, forwarded_for: str, trusted_proxies: Sequence[Network]
) -> str | None:
    """The client's address, or None when it cannot be determined.

    X-Forwarded-For is believed only when the peer (REMOTE_ADDR) is a trusted proxy; then
    the right-most address that is not itself a trusted proxy is the client, because every
    address left of it could have been written by the client.
    """
    peer = _address(remote_addr or "")
    if peer is None:
        return None
    if not forwarded_for or not any(peer in network for network in trusted_proxies):
        return str(peer)
    for hop in reversed([part for part in forwarded_for.split(",") if part.strip()]):
        address = _address(hop)
        if address is None:
            return None  # a garbled chain: trust nothing in it
        if not any(address in network for network in trusted_proxies):
            return str(address)
    return str(peer)  # every hop is one of our proxies
