"""Crawler detection by user agent, from the crawlerdetect package's maintained pattern list,
and whether a user agent is a browser's at all."""

from __future__ import annotations

from functools import lru_cache

from crawlerdetect import CrawlerDetect


@lru_cache(maxsize=1)
def _detector() -> CrawlerDetect:
    # Compiling the pattern list is slow; one detector serves every request.
    return CrawlerDetect()


@lru_cache(maxsize=4096)
def is_bot(user_agent: str | None) -> bool:
    """True for crawlers, headless tools and requests with no user agent at all."""
    if not user_agent or not user_agent.strip():
        return True
    return bool(_detector().isCrawler(user_agent))


@lru_cache(maxsize=4096)
def looks_like_browser(user_agent: str | None) -> bool:
    """Every browser in use sends a user agent starting with "Mozilla/"; scripts' defaults
    (curl, python-requests, Go's net/http, ...) do not. A script can claim one, which is why
    the pool also caps live leases per address."""
    if not user_agent:
        return False
    return user_agent.startswith("Mozilla/") and not is_bot(user_agent)
