"""Secrets never reach an attempt's excerpt, a delivery's last error or a log line.

Known secrets (a connector's token, its Bitrix24 webhook URL, signing secret) are replaced
wherever they appear; patterns catch the ones we cannot know (a CRM echoing a token back).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"
# A CRM's answer is shown (API, dashboard) and stored only as a short status line: what it
# said beyond this is its own to log, not ours to echo back.
EXCERPT_CHARS = 100

_PATTERNS = (
    # Bitrix24 incoming webhooks: /rest/<user id>/<secret>/...
    (re.compile(r"(/rest/\d+/)[A-Za-z0-9_]+"), r"\1" + REDACTED),
    # Telegram bot tokens in Bot API paths: /bot<id>:<secret>/sendMessage
    (re.compile(r"(/bot)\d+:[A-Za-z0-9_-]+"), r"\1" + REDACTED),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1" + REDACTED),
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), REDACTED),
    (
        re.compile(
            r"(?i)((?:access_token|refresh_token|application_token|auth_token|api_key|secret|token)"
            r"[\"']?\s*[:=]\s*[\"']?)[^\"'&\s,}]+"
        ),
        r"\1" + REDACTED,
    ),
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    # Longest first, so a secret that contains another is replaced whole.
    for secret in sorted((s for s in secrets if len(s) >= 6), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def excerpt(text: str, secrets: Iterable[str] = (), *, limit: int = EXCERPT_CHARS) -> str:
    """A short, one-line, redacted excerpt (redacted before cutting, so no secret is cut in
    half and left readable)."""
    flat = " ".join(redact(text, secrets).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class RedactingFilter(logging.Filter):
    """On httpx's loggers: they log each request's full URL, and a Bitrix24 URL is a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(arg) for arg in record.args)
        return True


def _redact_arg(arg: Any) -> Any:
    if isinstance(arg, (int, float)) or arg is None:
        return arg
    return redact(str(arg))


_FILTER = RedactingFilter()


def install_log_redaction() -> None:
    """Idempotent: adds the filter to the HTTP client's loggers once."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
