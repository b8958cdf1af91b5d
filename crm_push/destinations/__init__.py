"""Conversion destinations: GA4, Yandex Metrika and Google Ads as receivers of the outbox."""
