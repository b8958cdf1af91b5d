"""Reading figures back from the rendered pages, the way a person reads them."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

NARROW_NBSP = "\u202f"


def value(text: str) -> float | None:
    """`1 500.00` -> 1500.0, `433 %` -> 4.33, `—` -> None."""
    text = text.replace(NARROW_NBSP, "").replace(" ", "").strip()
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
