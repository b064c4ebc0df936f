"""Outbound safety (SPEC §4): where the exchange may send a request.

Every URL the exchange calls on someone's behalf (buyers' endpoints and test URLs,
OAuth2 token URLs, publishers' callbacks) is typed in by a person or a config file,
so it could point the exchange at itself, at the cloud's metadata service or at a
private network behind it. This module is the one place that says no:

* ``validate_outbound_url`` checks a URL when it is saved (a model field validator, so
  the admin shows a plain form error and a config import refuses the file): ``http``
  or ``https``, and a host that is not, or does not resolve to, a refused address;
* ``GuardedResolver`` checks again when connecting: the transport's aiohttp connector
  resolves names through it, refuses any answer holding a refused address and connects
  to exactly the addresses it checked, so a DNS answer that changes between the check
  and the connection (DNS rebinding) cannot swap in another one;
* ``refusal_for_url`` covers hosts written as IP literals, which no resolver sees.

Refused: loopback, link-local (with the cloud metadata address 169.254.169.254),
private, shared CGNAT space, multicast, unspecified and reserved ranges, in IPv4 and
IPv6, including IPv4 addresses carried inside IPv6 ones (``::ffff:127.0.0.1``, NAT64,
6to4). ``OUTBOUND_ALLOWED_NETWORKS`` (CIDR list, empty by default) opens chosen
ranges, e.g. ``127.0.0.0/8`` for the demo's simulated buyers.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = ("http", "https")

# Cloud metadata services, named apart so the refusal says what was aimed at.
_METADATA = {
    ipaddress.ip_address(a): "a cloud metadata address"
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
}

_REFUSED: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), what)
    for net, what in (
        ("0.0.0.0/8", "an unspecified address"),
        ("127.0.0.0/8", "a loopback address"),
        ("10.0.0.0/8", "a private address"),
        ("172.16.0.0/12", "a private address"),
        ("192.168.0.0/16", "a private address"),
        ("100.64.0.0/10", "a shared (CGNAT) address"),
        ("169.254.0.0/16", "a link-local address"),
        ("192.0.0.0/24", "a reserved address"),
        ("198.18.0.0/15", "a reserved address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),  # with 255.255.255.255, the broadcast
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a private address"),
        ("fc00::/7", "a private address"),
        ("ff00::/8", "a multicast address"),
        ("100::/64", "a reserved address"),
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class OutboundRefused(Exception):
    """A URL the exchange will not call; the message says why, for a person to read."""


def allowed_networks() -> tuple[IPNetwork, ...]:
    """``OUTBOUND_ALLOWED_NETWORKS`` parsed (the setting is checked at start)."""
    raw = getattr(settings, "OUTBOUND_ALLOWED_NETWORKS", ())
    return _parse_networks(tuple(raw))


_parsed: dict[tuple[str, ...], tuple[IPNetwork, ...]] = {}


def _parse_networks(raw: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    nets = _parsed.get(raw)
    if nets is None:
        nets = _parsed[raw] = tuple(ipaddress.ip_network(n.strip(), strict=False) for n in raw)
    return nets


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4, compatible), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal_for_address(address: IPAddress | str) -> str:
    """Why the exchange may not connect to ``address``; empty when it may."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).partition("%")[0])
    opened = allowed_networks()
    inner = _embedded_ipv4(ip)
    for candidate in (ip, inner) if inner is not None else (ip,):
        if any(candidate.version == net.version and candidate in net for net in opened):
            continue
        what = _METADATA.get(candidate) or next(
            (
                what
                for net, what in _REFUSED
                if candidate.version == net.version and candidate in net
            ),
            "",
        )
        if what:
            return f"{ip} is {what}"
    return ""


def _host_of(url: str) -> tuple[str, str]:
    """(scheme, host) of ``url``, host without brackets; OutboundRefused if it has none."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
    except ValueError as exc:
        raise OutboundRefused(f"{url!r} is not a URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise OutboundRefused(f"only http and https URLs are called, not {scheme or 'this'!r}")
    if not host:
        raise OutboundRefused("the URL has no host")
    return scheme, host


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve(host: str, port: int, family: int = socket.AF_UNSPEC) -> list[tuple[Any, ...]]:
    """``getaddrinfo`` for TCP: the resolver seam (tests map names here)."""
    return socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, socket.IPPROTO_TCP)


def checked_addresses(
    host: str, port: int, family: int = socket.AF_UNSPEC
) -> list[tuple[Any, ...]]:
    """``host`` resolved, every address checked: the getaddrinfo tuples to connect to.

    Raises ``OutboundRefused`` when any address is refused: a name that mixes public
    and refused addresses is not to be trusted with either.
    """
    infos = resolve(host, port, family)
    for info in infos:
        why = refusal_for_address(info[4][0])
        if why:
            raise OutboundRefused(f"{host} resolves to {why}")
    return infos


def refusal_for_url(url: str) -> str:
    """Why ``url`` may not be called, from its text alone (no DNS); empty when it may
    be, pending the check of the addresses its name resolves to at connect."""
    try:
        _, host = _host_of(url)
    except OutboundRefused as exc:
        return str(exc)
    ip = _literal(host)
    if ip is not None:
        return refusal_for_address(ip)
    if host.rstrip(".").lower() in ("localhost", "localhost.localdomain") or host.endswith(
        ".localhost"
    ):
        # Resolved locally without DNS, always to loopback.
        return refusal_for_address("127.0.0.1")
    return ""


def check_url(url: str) -> None:
    """Refuse (``OutboundRefused``) a URL the exchange may not call, resolving its name
    now. A name that does not resolve yet is let through: it is checked again at
    connect, when it must resolve to an allowed address."""
    why = refusal_for_url(url)
    if why:
        raise OutboundRefused(why)
    scheme, host = _host_of(url)
    if _literal(host) is not None:
        return
    port = urllib.parse.urlsplit(url).port or (443 if scheme == "https" else 80)
    try:
        checked_addresses(host, port)
    except OSError:
        return


def validate_outbound_url(url: str) -> None:
    """A model field validator: the same check, as a form (or config file) error."""
    if not url:
        return
    try:
        check_url(url)
    except OutboundRefused as exc:
        raise ValidationError(
            "The exchange will not call this URL: %(why)s. Set OUTBOUND_ALLOWED_NETWORKS "
            "to open a range on purpose.",
            code="outbound_refused",
            params={"why": str(exc)},
        ) from exc
