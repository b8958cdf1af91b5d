"""How the serving processes log: a timestamp on every line, secrets redacted, and with
CALLSOURCE_LOG_FORMAT=json one JSON object per line for log collectors."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

LOG_FORMATS = ("text", "json")
_TEXT = "%(asctime)s %(levelprefix)s %(message)s"
_ACCESS_TEXT = '%(asctime)s %(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'


class JsonFormatter(logging.Formatter):
    """One line per record: time (UTC, ISO 8601), level, logger, message, exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def uvicorn_log_config(log_format: str = "text") -> dict[str, Any]:
    """Uvicorn's logging set-up with timestamps and the redacting filter on every handler; the
    root logger writes through it too, so the app's own lines look the same."""
    from uvicorn.config import LOGGING_CONFIG

    if log_format == "json":
        formatters: dict[str, Any] = {
            "default": {"()": "app.log_config.JsonFormatter"},
            "access": {"()": "app.log_config.JsonFormatter"},
        }
    else:
        formatters = {
            "default": {**LOGGING_CONFIG["formatters"]["default"], "fmt": _TEXT},
            "access": {**LOGGING_CONFIG["formatters"]["access"], "fmt": _ACCESS_TEXT},
        }
    config: dict[str, Any] = {
        **LOGGING_CONFIG,
        "formatters": formatters,
        "filters": {"redact": {"()": "app.log_redaction.RedactSecrets"}},
        "handlers": {
            name: {**handler, "filters": ["redact"]}
            for name, handler in LOGGING_CONFIG["handlers"].items()
        },
        "root": {"handlers": ["default"], "level": "INFO"},
    }
    return config
