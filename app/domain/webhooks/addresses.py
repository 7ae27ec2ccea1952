"""Where a webhook may go. A URL is http(s) (https only in production), and unless
ROSTER_WEBHOOK_ALLOW_PRIVATE is on, every address its host resolves to is a public one: not
loopback, private, link-local, multicast, reserved, unspecified, shared (CGNAT) or otherwise not
global, nor an IPv6 address carrying such an IPv4 one (mapped, 6to4, Teredo, NAT64).

Checked when an endpoint is saved and again at every send; the sender then connects to the very
address that was checked (`Target`), naming the host only in the Host header and for TLS, so a
second DNS answer (a rebinding) never chooses where the request goes."""

import asyncio
import ipaddress
import socket
from typing import NamedTuple

import httpx

from app.core.errors import DomainError
from app.core.i18n import _, ngettext

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
URL_MAX = 2000
LOOKUP_TIMEOUT = 5.0  # seconds


class AddressRefused(DomainError):
    """The URL may not receive webhooks (the message says why)."""


class Target(NamedTuple):
    """Where one send goes: `url` with the checked address as its host, and what to name the
    host as in the Host header and for TLS (SNI and the certificate)."""

    url: httpx.URL
    host_header: str
    server_name: str | None  # None: plain http


def parse_url(url: str, *, production: bool) -> httpx.URL:
    """The URL, if it can be a webhook endpoint's at all (its addresses aside)."""
    url = (url or "").strip()
    if not url or len(url) > URL_MAX:
        raise AddressRefused(
            ngettext(
                "Enter the URL (at most %(num)d character).",
                "Enter the URL (at most %(num)d characters).",
                URL_MAX,
            )
            % {"num": URL_MAX},
            "url",
        )
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        raise AddressRefused(_("That is not a URL."), "url") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise AddressRefused(_("The URL must start with https:// (or http://)."), "url")
    if production and parsed.scheme != "https":
        raise AddressRefused(_("The URL must start with https://."), "url")
    if parsed.fragment:
        raise AddressRefused(_("A webhook URL has no #fragment."), "url")
    return parsed


def is_public(address: Address) -> bool:
    """Whether the address is one on the public internet, whatever it is written as."""
    if isinstance(address, ipaddress.IPv6Address):
        # Teredo and NAT64 prefixes are not global (nor is a mapped address) in themselves;
        # a 6to4 one is, and reaches the IPv4 address it carries.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None and not is_public(embedded):
            return False
        if address.is_site_local:
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


async def lookup(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (an address resolves to itself), in the order given."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(LOOKUP_TIMEOUT):
            answers = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise AddressRefused(
            _("%(host)s could not be resolved (%(error)s).") % {"host": host, "error": exc}, "url"
        ) from None
    except TimeoutError:
        raise AddressRefused(
            _("%(host)s could not be resolved in time.") % {"host": host}, "url"
        ) from None
    found: list[str] = []
    for *_rest, sockaddr in answers:
        if sockaddr[0] not in found:
            found.append(str(sockaddr[0]))
    return found


async def checked_addresses(url: httpx.URL, *, allow_private: bool) -> list[Address]:
    """Every address the URL's host resolves to, each allowed; AddressRefused otherwise (one
    refused address refuses the host: which one a connection would use is not ours to say)."""
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    found = [ipaddress.ip_address(a.split("%")[0]) for a in await lookup(host, port)]
    if not found:
        raise AddressRefused(_("%(host)s has no address.") % {"host": url.host}, "url")
    if not allow_private:
        for address in found:
            if not is_public(address):
                raise AddressRefused(
                    _(
                        "%(host)s is not a public address (%(address)s): webhooks go only to "
                        "the internet."
                    )
                    % {"host": url.host, "address": address},
                    "url",
                )
    return found


async def check_url(url: str, *, production: bool, allow_private: bool) -> str:
    """The URL as it will be stored, once it is allowed (see the module's rules)."""
    parsed = parse_url(url, production=production)
    await checked_addresses(parsed, allow_private=allow_private)
    return str(parsed)


async def target_of(url: str, *, production: bool, allow_private: bool) -> Target:
    """Where a send to `url` goes now: resolved and checked once, for this send only."""
    parsed = parse_url(url, production=production)
    address = (await checked_addresses(parsed, allow_private=allow_private))[0]
    host_header = parsed.netloc.decode("ascii").rpartition("@")[2]
    server_name = parsed.raw_host.decode("ascii") if parsed.scheme == "https" else None
    return Target(parsed.copy_with(host=str(address)), host_header, server_name)
