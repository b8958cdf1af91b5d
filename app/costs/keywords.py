"""Keywords as visits carry them in utm_term, from the way the ad platforms write them."""

from __future__ import annotations

import re

# Match operators that utm_term={keyword} does not carry: !word, +word, "phrase", [order].
_OPERATORS = re.compile(r'[!+"\[\]]')
EMPTY = ("--", "-", "")


def keyword_text(criterion: str) -> str:
    """The keyword as Yandex's `{keyword}` tag puts it into utm_term: without minus words
    and match operators ("!купить +диван -дешево" is "купить диван"); "--" (none) is ""."""
    criterion = criterion.strip()
    if criterion in EMPTY:
        return ""
    words = [w for w in criterion.split() if not w.startswith("-")]
    return _OPERATORS.sub("", " ".join(words)).strip()
