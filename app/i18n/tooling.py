"""Extraction, update and check of the catalogs: what `scripts/i18n` runs and the catalog test
asserts. Only development tools import this module."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from app.i18n.catalogs import DEFAULT_LANGUAGE, DOMAIN, LANGUAGES, LOCALE_DIR, compile_all, po_path

ROOT = LOCALE_DIR.parent.parent
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
    "N_": None,
}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
HEADER = {"project": "Callsource", "version": "0.1", "copyright_holder": "Callsource developers"}


def extract(root: Path = ROOT) -> Catalog:
    """Every text of app/ that people read, as babel.cfg maps the files."""
    with (root / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)  # type: ignore[no-untyped-call]
    catalog = Catalog(**HEADER, fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        root, method_map, options_map, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",)
    ):
        catalog.add(
            message,
            None,
            [(filename, lineno)],
            auto_comments=comments,
            context=context,
        )
    return catalog


def _write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    # No line numbers: a template edited elsewhere would otherwise touch every catalog.
    write_po(
        buffer, catalog, width=100, include_lineno=False, ignore_obsolete=True, sort_output=True
    )
    path.write_bytes(buffer.getvalue())


def read(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as source:
        return read_po(source, locale=language)


def write_template(catalog: Catalog, directory: Path = LOCALE_DIR) -> Path:
    target = directory / f"{DOMAIN}.pot"
    _write(catalog, target)
    return target


def update(template: Catalog, directory: Path = LOCALE_DIR) -> list[Path]:
    """Bring each language's .po in step with the template: new texts arrive untranslated,
    texts no longer used leave."""
    written = []
    for language in LANGUAGES:
        path = po_path(language, directory)
        if path.exists():
            catalog = read(path, language)
        else:
            catalog = Catalog(locale=language, **HEADER)  # type: ignore[arg-type]
            catalog.revision_date = datetime.now(UTC)
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
        catalog.fuzzy = False
        _write(catalog, path)
        written.append(path)
    return written


def compile(directory: Path = LOCALE_DIR) -> list[Path]:
    return compile_all(directory, force=True)


@dataclass
class Problems:
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)

    def __bool__(self) -> bool:
        return bool(self.lines)


def _ids(message: Message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, (list, tuple)) else (message.id,)


def _strings(message: Message) -> tuple[str, ...]:
    if isinstance(message.string, (list, tuple)):
        return tuple(message.string)
    return (message.string or "",)


def check(template: Catalog, directory: Path = LOCALE_DIR) -> Problems:
    """What stops the catalogs from being complete: a text of the code missing from a catalog
    (or left there after the code dropped it), a missing or fuzzy translation, wrong plural
    forms, a translation whose %(placeholders)s differ from the original's."""
    problems = Problems()
    wanted = {m.id if isinstance(m.id, str) else m.id[0]: m for m in template if m.id}
    for language in LANGUAGES:
        path = po_path(language, directory)
        if not path.exists():
            problems.add(f"{path}: missing: run scripts/i18n update")
            continue
        catalog = read(path, language)
        have = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}
        for key in sorted(wanted.keys() - have.keys()):
            problems.add(f"{language}: not in the catalog (run scripts/i18n update): {key!r}")
        for key in sorted(have.keys() - wanted.keys()):
            problems.add(f"{language}: no longer in the code (run scripts/i18n update): {key!r}")
        for key in sorted(wanted.keys() & have.keys()):
            message = have[key]
            if message.fuzzy:
                problems.add(f"{language}: fuzzy, check it: {key!r}")
            if language == DEFAULT_LANGUAGE:
                continue  # English shows the texts of the code themselves
            strings = _strings(message)
            if len(_ids(message)) > 1 and len(strings) != catalog.num_plurals:
                problems.add(f"{language}: needs {catalog.num_plurals} plural forms: {key!r}")
            if not all(s.strip() for s in strings):
                problems.add(f"{language}: not translated: {key!r}")
                continue
            expected = set(PLACEHOLDER.findall(" ".join(_ids(message))))
            for text in strings:
                if set(PLACEHOLDER.findall(text)) - expected - {"num"}:
                    problems.add(f"{language}: placeholders differ from the original: {key!r}")
    return problems
