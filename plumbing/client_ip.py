"""The client's IP address, behind load balancers or not (``TRUSTED_PROXIES``).

``X-Forwarded-For`` is a list that every proxy appends the address it saw to, and
that the client can fill with anything it likes. Only the hops added by proxies we
run can be believed: reading from the right, the first address that is not one of
``TRUSTED_PROXIES`` is the client. Without trusted proxies (the default), or when the
request did not come from one, the header is ignored and ``REMOTE_ADDR`` is the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_parsed: dict[tuple[str, ...], tuple[Network, ...]] = {}


def networks(raw: Sequence[str]) -> tuple[Network, ...]:
    """CIDR texts parsed once (the settings are checked at start)."""
    key = tuple(raw)
    nets = _parsed.get(key)
    if nets is None:
        nets = _parsed[key] = tuple(ipaddress.ip_network(n.strip(), strict=False) for n in key)
    return nets


def in_networks(ip: str, nets: Sequence[Network]) -> bool:
    """Whether ``ip`` (text; IPv4-mapped IPv6 counts as its IPv4) is in any of ``nets``."""
    try:
        address: Any = ipaddress.ip_address(ip.strip())
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in nets)


def client_ip(meta: Mapping[str, Any]) -> str:
    """The client's address for a request's ``META``."""
    remote = str(meta.get("REMOTE_ADDR", ""))
    trusted = networks(settings.TRUSTED_PROXIES)
    if not trusted or not in_networks(remote, trusted):
        return remote
    hops = [hop.strip() for hop in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    hops = [hop for hop in hops if hop]
    for hop in reversed(hops):
        if not in_networks(hop, trusted):
            return hop
    # Every hop is one of ours: the leftmost is as close to the client as we know.
    return hops[0] if hops else remote
