"""Source classification: a table of landing URLs and referrers."""

from __future__ import annotations

import pytest

from app.tracking.sources import classify

SITE = ["shop.example"]
LANDING = "https://shop.example/catalog"


@pytest.mark.parametrize(
    ("url", "referrer", "expected"),
    [
        # utm tags win over everything
        (
            f"{LANDING}?utm_source=Yandex&utm_medium=CPC&utm_campaign=brand&utm_term=buy+sofa"
            "&utm_content=ad1&yclid=123",
            "https://yandex.ru/search/?text=sofa",
            ("yandex", "cpc", "brand", "buy sofa", "ad1"),
        ),
        (f"{LANDING}?utm_source=newsletter", None, ("newsletter", "(not set)", None, None, None)),
        # click ids without tags
        (f"{LANDING}?gclid=Cj0KCQ", "https://www.google.com/", ("google", "cpc", None, None, None)),
        (f"{LANDING}?yclid=987654", None, ("yandex", "cpc", None, None, None)),
        (
            f"{LANDING}?fbclid=IwAR0",
            "https://l.facebook.com/",
            ("facebook", "social", None, None, None),
        ),
        # search engines are organic, whatever the country domain
        (LANDING, "https://www.google.com/", ("google", "organic", None, None, None)),
        (LANDING, "https://www.google.co.uk/", ("google", "organic", None, None, None)),
        (LANDING, "https://yandex.ru/search/?text=x", ("yandex", "organic", None, None, None)),
        (LANDING, "https://ya.ru/", ("yandex", "organic", None, None, None)),
        (LANDING, "https://yandex.com.tr/", ("yandex", "organic", None, None, None)),
        (LANDING, "https://www.bing.com/search?q=x", ("bing", "organic", None, None, None)),
        (LANDING, "https://duckduckgo.com/", ("duckduckgo", "organic", None, None, None)),
        (LANDING, "https://go.mail.ru/search?q=x", ("mail.ru", "organic", None, None, None)),
        (LANDING, "https://search.yahoo.com/", ("yahoo", "organic", None, None, None)),
        (LANDING, "https://www.baidu.com/", ("baidu", "organic", None, None, None)),
        # social networks
        (LANDING, "https://vk.com/feed", ("vk", "social", None, None, None)),
        (LANDING, "https://m.vk.com/wall-1", ("vk", "social", None, None, None)),
        (LANDING, "https://ok.ru/", ("ok", "social", None, None, None)),
        (LANDING, "https://www.instagram.com/", ("instagram", "social", None, None, None)),
        (LANDING, "https://t.me/channel/12", ("telegram", "social", None, None, None)),
        (LANDING, "https://www.youtube.com/watch?v=1", ("youtube", "social", None, None, None)),
        (LANDING, "https://t.co/abc", ("x", "social", None, None, None)),
        (LANDING, "https://www.linkedin.com/feed/", ("linkedin", "social", None, None, None)),
        # anything else is a referral, named by its host
        (
            LANDING,
            "https://blog.partner.example/post",
            ("blog.partner.example", "referral", None, None, None),
        ),
        (
            LANDING,
            "https://www.partner.example/",
            ("partner.example", "referral", None, None, None),
        ),
        # no referrer: direct
        (LANDING, None, ("(direct)", "(none)", None, None, None)),
        (LANDING, "", ("(direct)", "(none)", None, None, None)),
        (LANDING, "not a url", ("(direct)", "(none)", None, None, None)),
    ],
)
def test_classification(
    url: str, referrer: str | None, expected: tuple[str, str, str | None, str | None, str | None]
) -> None:
    touch = classify(url, referrer, site_domains=SITE)
    assert (touch.source, touch.medium, touch.campaign, touch.term, touch.content) == expected


def test_click_ids_are_kept_alongside_tags() -> None:
    touch = classify(
        f"{LANDING}?utm_source=google&utm_medium=cpc&gclid=G1&yclid=Y1&fbclid=F1",
        None,
        site_domains=SITE,
    )
    assert (touch.gclid, touch.yclid, touch.fbclid) == ("G1", "Y1", "F1")


@pytest.mark.parametrize(
    "referrer",
    ["https://shop.example/other", "https://www.shop.example/", "https://m.shop.example/x"],
)
def test_referrer_from_the_site_itself_is_internal(referrer: str) -> None:
    touch = classify(LANDING, referrer, site_domains=SITE)
    assert touch.internal
    assert touch.is_direct


def test_lookalike_domain_is_not_internal() -> None:
    touch = classify(LANDING, "https://evilshop.example/", site_domains=SITE)
    assert not touch.internal
    assert (touch.source, touch.medium) == ("evilshop.example", "referral")
