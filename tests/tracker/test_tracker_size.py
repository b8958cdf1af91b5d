"""The snippet's budget and hygiene, measured on what the app serves: the readable source minified
by rjsmin (whitespace and comments only) and gzipped at level 9 (app/tracking/snippet.py).

tests/tracking/test_snippet.py checks the same budget over HTTP; this one needs no database and
says by how much the snippet is over when it is.
"""

from __future__ import annotations

import re

from app.tracking.snippet import SOURCE, build_snippet
from tests.tracker.conftest import TRACKER

# Issue 4: the snippet loads on every page of every customer's site.
BUDGET_GZIPPED_BYTES = 2_500


def served_code() -> str:
    snippet = build_snippet(TRACKER)
    assert snippet is not None
    return snippet.minified.decode()


def test_the_browser_tests_load_the_file_the_app_serves() -> None:
    assert TRACKER == SOURCE


def test_served_snippet_fits_the_gzip_budget() -> None:
    snippet = build_snippet(TRACKER)
    assert snippet is not None
    size = len(snippet.gzipped)
    assert size <= BUDGET_GZIPPED_BYTES, (
        f"tracker.js is {size} bytes gzipped as served, budget {BUDGET_GZIPPED_BYTES}: "
        f"{size - BUDGET_GZIPPED_BYTES} bytes over"
    )


def test_comments_are_stripped_from_the_served_code() -> None:
    code = served_code()
    assert "/*" not in code
    assert not re.search(r"(?<![:\\'])//", code), "a // comment survived minification"
    assert len(code) < len(TRACKER.read_text(encoding="utf-8")) / 2


def test_tracker_is_self_contained_and_silent() -> None:
    code = served_code()
    # no imports, no other scripts pulled in, nothing written to the visitor's console, no HTML
    # parsed from strings, nothing evaluated
    assert not re.search(r"\b(import|require)\s*\(|\bimport\s+[\w{*]", code)
    assert "createElement" not in code
    for forbidden in ("console.", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert forbidden not in code, forbidden
    assert not re.search(r"\beval\s*\(|\bnew Function\b", code)
