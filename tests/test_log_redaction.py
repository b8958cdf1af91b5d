"""Secrets never reach the logs: the token a PBX puts in its webhook URL is redacted."""

from __future__ import annotations

import logging

import pytest

from app.log_redaction import RedactSecrets, redact


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "POST /hooks/pbx/1?token=whsec_abc+/= HTTP/1.1",
            "POST /hooks/pbx/1?token=[redacted] HTTP/1.1",
        ),
        ("/hooks/pbx/1?x=1&token=s3cret&y=2", "/hooks/pbx/1?x=1&token=[redacted]&y=2"),
        ("/t/cs_key/sessions", "/t/cs_key/sessions"),
    ],
)
def test_redact(line: str, expected: str) -> None:
    assert redact(line) == expected


def test_access_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.access")
    logger.addFilter(RedactSecrets())
    with caplog.at_level(logging.INFO, logger="test.access"):
        logger.info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1", "POST", "/hooks/pbx/1?token=whsec_x", "1.1", 200
        )
    assert "whsec_x" not in caplog.text
    assert "token=[redacted]" in caplog.text
