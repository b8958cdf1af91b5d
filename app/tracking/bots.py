"""Crawler detection by user agent, from the crawlerdetect package's maintained pattern list."""

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
