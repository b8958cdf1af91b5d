"""One module per ad platform; they do not import each other (the `ad-platforms` contract)."""

from __future__ import annotations

from app.costs.accounts.platforms import google_ads, vk_ads, yandex_direct
from app.costs.accounts.platforms.base import Platform

PLATFORMS: dict[str, Platform] = {
    yandex_direct.KIND: yandex_direct,
    google_ads.KIND: google_ads,
    vk_ads.KIND: vk_ads,
}
LABELS = {
    yandex_direct.KIND: yandex_direct.LABEL,
    google_ads.KIND: google_ads.LABEL,
    vk_ads.KIND: vk_ads.LABEL,
}


def get_platform(kind: str) -> Platform:
    return PLATFORMS[kind]
