"""One module per receiver (CRMs, conversion destinations, alert channels): payload mapping
only. The outbox, retries and rate limits are elsewhere."""

from __future__ import annotations

from crm_push.connectors.amocrm import AmoCrm
from crm_push.connectors.base import Connector, DealSource
from crm_push.connectors.bitrix24 import Bitrix24
from crm_push.connectors.email import EmailAlerts
from crm_push.connectors.ga4 import Ga4
from crm_push.connectors.google_ads import GoogleAds
from crm_push.connectors.telegram import TelegramAlerts
from crm_push.connectors.webhook import SignedWebhook
from crm_push.connectors.yandex_metrika import YandexMetrika
from crm_push.conversion_rule import CRM_KINDS

CONNECTORS: dict[str, Connector] = {
    "amocrm": AmoCrm(),
    "bitrix24": Bitrix24(),
    "webhook": SignedWebhook(),
    # Conversion destinations (crm_push.conversion_rule.DESTINATION_KINDS).
    "ga4": Ga4(),
    "yandex_metrika": YandexMetrika(),
    "google_ads": GoogleAds(),
    # Alert channels (ALERT_KINDS).
    "email": EmailAlerts(),
    "telegram": TelegramAlerts(),
}
# The kinds each API lists: the CRM API and pages show only CRMs (CRM_KINDS, beside the
# destinations' kinds in crm_push.conversion_rule), the notifications API only alert channels.
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
