"""PBX providers: signature checks and field mapping, one module each, all storage-free.

Order of use for one request (the HTTP layer does this):
1. `echo(request)`: if it returns text, answer 200 text/plain with it and stop (Zadarma URL check).
2. `verify(request, credentials, now=...)`: SignatureInvalid (401) -> store nothing. Where the
   signed material is inside the body (Twilio forms, Zadarma, Mango) an undecodable body already
   fails here with MalformedBody (400). A missing or unusable credential is our configuration
   error and raises ValueError (500).
3. `parse(request, credentials, now=...)`: MalformedBody (400) / MalformedEvent (422), or a list of
   events; [] means a genuine request we deliberately ignore (answer 200).
`now` in parse is the receipt time, used only by events whose provider sends no time of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final, Protocol

from app.calls.events import CallEvent
from pbx_webhooks.events import InboundRequest
from pbx_webhooks.providers.generic import GenericProvider
from pbx_webhooks.providers.mango import MangoProvider
from pbx_webhooks.providers.telnyx import TelnyxProvider
from pbx_webhooks.providers.twilio import TwilioProvider
from pbx_webhooks.providers.zadarma import ZadarmaProvider


class Provider(Protocol):
    @property
    def name(self) -> str: ...

    def verify(
        self, request: InboundRequest, credentials: Mapping[str, str], *, now: datetime
    ) -> None: ...

    def parse(
        self,
        request: InboundRequest,
        credentials: Mapping[str, str],
        *,
        now: datetime | None = None,
    ) -> list[CallEvent]: ...

    def echo(self, request: InboundRequest) -> str | None: ...


_ALL: Final[tuple[Provider, ...]] = (
    GenericProvider(),
    TwilioProvider(),
    ZadarmaProvider(),
    MangoProvider(),
    TelnyxProvider(),
)
PROVIDERS: Final[dict[str, Provider]] = {provider.name: provider for provider in _ALL}


def get_provider(name: str) -> Provider:
    """The provider called `name`; KeyError names the known ones."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise KeyError(f"unknown PBX provider {name!r}; known: {', '.join(PROVIDERS)}") from None


__all__ = ["PROVIDERS", "Provider", "get_provider"]
