"""Reading figures back from the rendered pages, the way a person reads them."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

# Babel groups digits with no-break spaces (U+00A0 in Russian, U+202F in French and others)
# and puts one before "%" in Russian and Spanish.
SPACES = ("\u00a0", "\u202f", " ")
# The number's own separators, by language: (group, decimal).
SEPARATORS = {"en": (",", "."), "ru": ("", ","), "es": (".", ",")}


def text_of(text: str) -> str:
    """The text with Babel's no-break spaces as plain ones, as a person reads it."""
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def value(text: str, language: str = "en") -> float | None:
    """`1,500.00` -> 1500.0, `433%` -> 4.33, `—` -> None (`1 500,00`, `433 %` in Russian)."""
    for space in SPACES:
        text = text.replace(space, "")
    text = text.strip()
    group, decimal = SEPARATORS[language]
    if group:
        text = text.replace(group, "")
    text = text.replace(decimal, ".")
    if text in ("—", ""):
        return None
    if text.endswith("%"):
        return float(text[:-1]) / 100
    return float(text)


def table(page: Page, selector: str) -> dict[str, dict[str, str]]:
    """Rows with a data-row key -> their data-col cells' text."""
    rows: list[list[Any]] = page.eval_on_selector_all(
        f"{selector} tr[data-row]",
        """rows => rows.map(r => [r.dataset.row, Object.fromEntries(
            [...r.querySelectorAll('[data-col]')].map(c => [c.dataset.col, c.textContent.trim()])
        )])""",
    )
    return dict(rows)


def close(shown: float | None, expected: float | None, places: int) -> bool:
    if shown is None or expected is None:
        return shown is None and expected is None
    tolerance: float = 10.0 ** (-places) / 2 + 1e-9
    return abs(round(expected, places) - shown) < tolerance
