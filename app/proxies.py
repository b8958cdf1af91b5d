"""The client's address behind a reverse proxy, in one place for the whole app.

Forwarded headers are believed only from CALLSOURCE_TRUSTED_PROXIES: anyone can send an
`X-Forwarded-For`, and believing it from any peer (uvicorn's default believes it from every
loopback peer) let one script pass as any number of visitors. uvicorn's own proxy handling is
off (app/cli.py); this middleware rewrites the ASGI scope's client and scheme instead, so the
tests through the ASGI app exercise exactly what production runs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import Network


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


class TrustedProxies:
    """Pure ASGI middleware: when the peer is a trusted proxy, the client is the rightmost
    `X-Forwarded-For` address that is not itself a trusted proxy (the ones left of it were
    written by whoever sent the request, and may be anything), and the scheme is the proxy's
    `X-Forwarded-Proto`."""

    def __init__(self, app: ASGIApp, networks: Sequence[Network]) -> None:
        self.app = app
        self.networks = tuple(networks)

    def trusted(self, address: str) -> bool:
        ip = _ip(address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip is not None and any(ip in network for network in self.networks)

    def client_of(self, peer: str, forwarded_for: str) -> str:
        client = peer
        for hop in reversed(forwarded_for.split(",")):
            if not self.trusted(client):
                break
            ip = _ip(hop)
            if ip is None:
                break  # garbage from the far side: the last trusted hop's peer stands
            client = str(ip)
        return client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and client and self.trusted(client[0]):
            # Several headers of one name read as one comma-separated list, in order.
            forwarded = b",".join(v for k, v in scope["headers"] if k == b"x-forwarded-for")
            protos = b",".join(v for k, v in scope["headers"] if k == b"x-forwarded-proto")
            scope = dict(scope)
            if forwarded:
                scope["client"] = (self.client_of(client[0], forwarded.decode("latin-1")), 0)
            proto = protos.decode("latin-1")
            proto = proto.rsplit(",", 1)[-1].strip().lower()
            if proto in ("http", "https", "ws", "wss"):
                if scope["type"] == "websocket":
                    proto = {"http": "ws", "https": "wss"}.get(proto, proto)
                scope["scheme"] = proto
        await self.app(scope, receive, send)
