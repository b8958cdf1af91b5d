"""One module per CRM: payload mapping only. The outbox, retries and rate limits are elsewhere."""

from __future__ import annotations

from crm_push.connectors.amocrm import AmoCrm
from crm_push.connectors.base import Connector, DealSource
from crm_push.connectors.bitrix24 import Bitrix24
from crm_push.connectors.webhook import SignedWebhook

CONNECTORS: dict[str, Connector] = {
    "amocrm": AmoCrm(),
    "bitrix24": Bitrix24(),
    "webhook": SignedWebhook(),
}
DEAL_SOURCES: dict[str, DealSource] = {"amocrm": AmoCrm(), "bitrix24": Bitrix24()}


def get_connector(kind: str) -> Connector:
    return CONNECTORS[kind]


__all__ = ["CONNECTORS", "DEAL_SOURCES", "Connector", "DealSource", "get_connector"]
