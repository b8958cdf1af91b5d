"""Outgoing connections to addresses users typed (CRM connectors, webhooks): never to this
machine, the private network or a cloud's metadata service, unless CALLSOURCE_OUTBOUND_ALLOW
lists the host.

The check happens where the connection is made, after resolving the name ourselves: the
network backend below resolves the host, checks every address it resolves to, and connects to
one of those checked addresses (never resolving again), while TLS still verifies the
certificate for the host name and the Host header stays the URL's. A name that answers a
public address at creation and a private one later (DNS rebinding) is refused then.

The same policy checks a URL when a connector is created, so a mistake shows as a 422 at
once rather than as failed deliveries later.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
import ssl
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_HINT = "add the host to CALLSOURCE_OUTBOUND_ALLOW to allow it"
# How long a check at creation waits for DNS; a name that does not resolve yet is accepted
# (the check at connect time still applies).
CHECK_RESOLVE_TIMEOUT_S = 3.0

# Cloud metadata services: AWS, GCP, Azure, OpenStack (169.254.169.254), AWS over IPv6,
# Alibaba Cloud. Named apart from link-local so the refusal says what it is.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
CGNAT = ipaddress.ip_network("100.64.0.0/10")
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundRefused(httpcore.ConnectError):
    """A connection the policy does not allow. A ConnectError, so that httpx reports it as
    one (nothing was sent); `reason` is fit to show to the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_IPV4_PART = re.compile(r"0[xX](?P<hex>[0-9a-fA-F]+)|0(?P<oct>[0-7]*)|(?P<dec>[1-9][0-9]*)")


def _ipv4_part(text: str) -> int:
    """One dot-separated part as inet_aton reads it: 0x hex, leading-zero octal, decimal."""
    match = _IPV4_PART.fullmatch(text)
    if match is None:
        raise ValueError(text)
    if match["hex"] is not None:
        return int(match["hex"], 16)
    if match["oct"] is not None:
        return int(match["oct"] or "0", 8)
    return int(match["dec"])


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address the C library reads in `host` (2130706433, 0x7f.1, 0177.0.0.1,
    127.1), or None when it is not such a form."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    try:
        numbers = [_ipv4_part(part) for part in parts]
    except ValueError:
        return None
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = 0
    for n in leading:
        value = value * 256 + n
    value = value * 256 ** (5 - len(numbers)) + last
    return ipaddress.IPv4Address(value)


def ip_literal(host: str) -> IPAddress | None:
    """The address `host` spells out, in any form a resolver accepts, or None for a name."""
    host = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return _inet_aton(host)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, 6to4, Teredo, NAT64)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    value = int(address)
    if address in NAT64 or (value >> 32 == 0 and value > 1):
        # NAT64 and the deprecated IPv4-compatible form (::a.b.c.d).
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return None


def address_kind(address: IPAddress) -> str | None:
    """What makes `address` one we do not connect to ("private", "loopback"), or None."""
    inner = embedded_ipv4(address)
    checked: IPAddress = inner if inner is not None else address
    if checked in METADATA_ADDRESSES or address in METADATA_ADDRESSES:
        kind = "cloud metadata"
    elif checked.is_unspecified:
        kind = "unspecified"
    elif checked.is_loopback:
        kind = "loopback"
    elif checked.is_link_local:
        kind = "link-local"
    elif checked in CGNAT:
        kind = "carrier-grade NAT"
    elif checked.is_multicast:
        kind = "multicast"
    elif checked.is_private:
        kind = "private"
    elif checked.is_reserved or not checked.is_global:
        kind = "reserved"
    else:
        return None
    return kind


def _spelled(address: IPAddress) -> str:
    inner = embedded_ipv4(address)
    return str(address) if inner is None else f"{address}, that is {inner}"


def _split_host_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
        return host, int(port) if port else None
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return host, int(port)
    return entry, None


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """Public addresses, plus what CALLSOURCE_OUTBOUND_ALLOW lists: host names (exact, any
    case, optionally `host:port`), addresses and CIDRs."""

    hosts: frozenset[tuple[str, int | None]] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> OutboundPolicy:
        """From the comma-separated list; ValueError naming an entry that is neither."""
        return _parse(text)

    def allowing(self, other: OutboundPolicy) -> OutboundPolicy:
        return OutboundPolicy(self.hosts | other.hosts, self.networks + other.networks)

    def host_listed(self, host: str, port: int) -> bool:
        host = host.strip("[]").rstrip(".").lower()
        return (host, None) in self.hosts or (host, port) in self.hosts

    def refused_kind(self, address: IPAddress) -> str | None:
        """Why `address` is refused ("private"), or None when it is public or listed."""
        kind = address_kind(address)
        if kind is None:
            return None
        inner = embedded_ipv4(address)
        if any(address in net or (inner is not None and inner in net) for net in self.networks):
            return None
        return kind

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The checked addresses to connect to; OutboundRefused when any is refused."""
        literal = ip_literal(host)
        if literal is not None:
            found = [literal]
        else:
            found = await resolve(host, port)
        for address in found:
            kind = self.refused_kind(address)
            if kind is None:
                continue
            if literal is None:
                what = f"{host} resolves to a {kind} address {_spelled(address)}"
            elif host.strip("[]") == str(address):
                what = f"{address} is a {kind} address"
            else:
                what = f"{host} is a {kind} address ({_spelled(address)})"
            raise OutboundRefused(f"{what}; {ALLOW_HINT}")
        return found

    async def check_url(self, url: str, *, timeout_s: float = CHECK_RESOLVE_TIMEOUT_S) -> None:
        """OutboundRefused when `url` names or resolves to a refused address. A name that
        does not resolve (yet) passes: connecting to it is checked again."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if self.host_listed(host, port):
            return
        try:
            await asyncio.wait_for(self.addresses(host, port), timeout=timeout_s)
        except (OSError, TimeoutError):
            return


@functools.lru_cache(maxsize=8)
def _parse(text: str) -> OutboundPolicy:
    hosts: set[tuple[str, int | None]] = set()
    networks: list[IPNetwork] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        try:
            host, port = _split_host_port(entry)
        except ValueError:
            raise ValueError(f"{entry!r} is not a host, host:port, address or CIDR") from None
        if not host or any(c in host for c in "/ @?#") or (port is not None and port > 65535):
            raise ValueError(f"{entry!r} is not a host, host:port, address or CIDR")
        hosts.add((host.rstrip(".").lower(), port))
    return OutboundPolicy(frozenset(hosts), tuple(networks))


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, in the resolver's order, looked up off the loop."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in found:
            found.append(address)
    return found


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend behind the policy: resolves, checks, connects to the IP."""

    def __init__(self, policy: OutboundPolicy, inner: httpcore.AsyncNetworkBackend) -> None:
        self._policy = policy
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        def connect(target: str) -> typing.Awaitable[httpcore.AsyncNetworkStream]:
            return self._inner.connect_tcp(
                target,
                port,
                timeout=timeout,
                local_address=local_address,
                socket_options=socket_options,
            )

        if self._policy.host_listed(host, port):
            return await connect(host)
        try:
            addresses = await asyncio.wait_for(self._policy.addresses(host, port), timeout)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} took too long") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                return await connect(str(address))
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused("unix sockets are not an outgoing address")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class OutboundTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on a connection pool whose every connection the policy checked.
    Never a proxy from the environment: a proxy would resolve the names itself."""

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        limits: httpx.Limits = DEFAULT_LIMITS,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy, httpcore.AnyIOBackend()),
        )


def outbound_client(
    policy: OutboundPolicy,
    *,
    limits: httpx.Limits = DEFAULT_LIMITS,
    timeout: httpx.Timeout | None = None,
) -> httpx.AsyncClient:
    """The HTTP client for addresses users typed: guarded, no redirects, no proxies."""
    return httpx.AsyncClient(
        transport=OutboundTransport(policy, limits=limits),
        follow_redirects=False,
        trust_env=False,
        timeout=timeout or httpx.Timeout(10.0, connect=5.0),
    )
