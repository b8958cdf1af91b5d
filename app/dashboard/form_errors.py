"""Pydantic's refusals as the sentence shown beside a dashboard field, in the reader's language.

Our own validators raise already translated text (`ValueError(gettext(...))`); pydantic's
built-in checks speak English, so the common ones are written again here, in the same English.
"""

from __future__ import annotations

from typing import Any

from app.i18n import gettext, ngettext


def field_message(error: Any) -> str:
    """One pydantic error (an item of `ValidationError.errors()`) as a sentence."""
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return gettext("Field required")
    if kind == "string_too_short" and "min_length" in ctx:
        return ngettext(
            "String should have at least %(num)s character",
            "String should have at least %(num)s characters",
            int(ctx["min_length"]),
        )
    if kind == "string_too_long" and "max_length" in ctx:
        return ngettext(
            "String should have at most %(num)s character",
            "String should have at most %(num)s characters",
            int(ctx["max_length"]),
        )
    if kind == "greater_than_equal" and "ge" in ctx:
        return gettext("Input should be greater than or equal to %(limit)s", limit=ctx["ge"])
    if kind == "less_than_equal" and "le" in ctx:
        return gettext("Input should be less than or equal to %(limit)s", limit=ctx["le"])
    if kind == "int_parsing":
        return gettext("Input should be a valid integer, unable to parse string as an integer")
    return str(error.get("msg", "")).removeprefix("Value error, ")
