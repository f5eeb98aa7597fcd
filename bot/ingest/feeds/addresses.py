"""Which addresses a feed may be fetched from: the SSRF rules.

Only ``http`` and ``https`` urls. A host that is an IP literal, or a name resolving to any address,
that is loopback, private, link-local, multicast, reserved, unspecified or otherwise not globally
routable is refused, unless the host allows private addresses. :class:`GuardedResolver` applies the
rule to the addresses aiohttp is about to connect to (so a name cannot resolve to a public address
when checked and a private one when connected: the check IS the resolution), and
:func:`check_url` applies it to IP literals, which aiohttp connects to without resolving.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult

__all__ = ["BlockedAddress", "GuardedResolver", "address_rule", "check_url"]


class BlockedAddress(OSError):
    """A url refused by the address rules; the message names the rule."""


def address_rule(address: str) -> str | None:
    """The rule that refuses ``address`` (an IPv4/IPv6 literal), or None when it is public."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            ip = mapped
    if ip.is_loopback:
        return "loopback address"
    if ip.is_link_local:
        return "link-local address"
    if ip.is_multicast:
        return "multicast address"
    if ip.is_unspecified:
        return "unspecified address"
    if ip.is_reserved:
        return "reserved address"
    if ip.is_private:
        return "private address"
    if not ip.is_global:
        return "non-public address"
    return None


def _refusal(host: str, address: str, rule: str) -> BlockedAddress:
    shown = host if host == address else f"{host} ({address})"
    return BlockedAddress(
        f"refused: {shown} is a {rule}; feeds are fetched from public addresses only "
        "(the host may set [feeds] allow_private_addresses = true)"
    )


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse a url that is not http(s), or whose host is a non-public IP literal."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BlockedAddress(f"refused: only http and https urls, not {parts.scheme or 'none'!r}")
    host = parts.hostname
    if not host:
        raise BlockedAddress("refused: the url has no host")
    if allow_private:
        return
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        if host.rstrip(".").lower() == "localhost" or host.endswith(".localhost"):
            raise _refusal(host, host, "loopback address") from None
        return  # a name: the resolver checks what it resolves to
    rule = address_rule(host)
    if rule is not None:
        raise _refusal(host, host, rule)


class GuardedResolver(AbstractResolver):
    """Resolves with ``base`` and refuses the name if ANY address it gives is not public."""

    def __init__(self, base: AbstractResolver, *, allow_private: bool) -> None:
        self.base = base
        self.allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self.base.resolve(host, port, family)
        if not self.allow_private:
            for result in results:
                rule = address_rule(result["host"])
                if rule is not None:
                    raise _refusal(host, result["host"], rule)
        return results

    async def close(self) -> None:
        await self.base.close()
