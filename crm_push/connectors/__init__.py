"""One module per receiver (CRMs, alert channels): payload mapping only. The outbox, retries and
rate limits are elsewhere."""

from __future__ import annotations

from crm_push.connectors.amocrm import AmoCrm
from crm_push.connectors.base import Connector, DealSource
from crm_push.connectors.bitrix24 import Bitrix24
from crm_push.connectors.email import EmailAlerts
from crm_push.connectors.telegram import TelegramAlerts
from crm_push.connectors.webhook import SignedWebhook

CONNECTORS: dict[str, Connector] = {
    "amocrm": AmoCrm(),
    "bitrix24": Bitrix24(),
    "webhook": SignedWebhook(),
    "email": EmailAlerts(),
    "telegram": TelegramAlerts(),
}
# The kinds each API lists: the CRM API and pages show only CRMs, the notifications API only
# alert channels.
CRM_KINDS = frozenset({"amocrm", "bitrix24", "webhook"})
ALERT_KINDS = frozenset({"email", "telegram"})
DEAL_SOURCES: dict[str, DealSource] = {"amocrm": AmoCrm(), "bitrix24": Bitrix24()}


def get_connector(kind: str) -> Connector:
    return CONNECTORS[kind]


__all__ = [
    "ALERT_KINDS",
    "CONNECTORS",
    "CRM_KINDS",
    "DEAL_SOURCES",
    "Connector",
    "DealSource",
    "get_connector",
]
