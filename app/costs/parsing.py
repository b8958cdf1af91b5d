"""Ad-cost uploads, CSV or JSON, checked row by row before anything is stored.

Every problem is reported with its row and column, the way a spreadsheet shows them: in a CSV
the header is row 1 and the first cost row is row 2; in JSON the first element is row 1. All
problems are collected, not just the first, so a file is fixed in one go.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from app.exceptions import AppError, InvalidField, PayloadTooLarge
from app.kit.text import unstorable

COLUMNS = ("date", "source", "medium", "campaign", "cost", "currency")
REQUIRED = frozenset({"date", "source", "cost", "currency"})
MAX_ROWS = 50_000
MAX_BYTES = 10 * 1024 * 1024
TOO_LARGE = f"at most {MAX_BYTES // (1024 * 1024)} MB per upload"
# Enough to fix a file by; the rest are counted.
MAX_REPORTED = 20
_LIMITS = {"source": 200, "medium": 200, "campaign": 500}
_MAX_COST = Decimal("999999999999.99")  # Numeric(14, 2)
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# Spaces people and spreadsheets put in numbers: "1 234,50", with a no-break or thin space.
_NUMBER_SPACES = re.compile(r"[\s\u00a0\u2009\u202f']")


class UnsupportedMediaType(AppError):
    status_code = 415


@dataclass(frozen=True, slots=True)
class CostRow:
    day: date
    source: str
    medium: str  # "" when none: the table's unique key needs a value
    campaign: str
    cost: Decimal
    currency: str
    term: str = ""  # the keyword (utm_term), "" when none

    @property
    def key(self) -> tuple[date, str, str, str, str]:
        return (self.day, self.source, self.medium, self.campaign, self.term)


@dataclass(frozen=True, slots=True)
class ImportedRow:
    """A day's spend as an ad account's import stores it: `campaign` is the utm_campaign it
    was matched to, `platform_campaign` the name the platform calls it."""

    day: date
    source: str
    medium: str
    campaign: str
    platform_campaign: str
    term: str
    cost: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}, column {self.column}" if self.column else f"row {self.row}"
        return f"{where}: {self.message}"


class CostRowsInvalid(InvalidField):
    """A 422 naming the first bad row and column; `errors` holds them all (for the preview)."""

    def __init__(self, errors: list[RowError]) -> None:
        first = errors[0]
        where = f"row {first.row}, column {first.column}" if first.column else f"row {first.row}"
        super().__init__(where, first.message)
        self.errors = errors
        shown = "; ".join(str(e) for e in errors[:MAX_REPORTED])
        more = len(errors) - MAX_REPORTED
        self.detail = shown + (f"; and {more} more" if more > 0 else "")


class _Row:
    """One row's cells being checked; problems go to the shared error list."""

    def __init__(self, number: int, cells: Mapping[str, object], errors: list[RowError]) -> None:
        self.number, self.cells, self.errors = number, cells, errors

    def fail(self, column: str | None, message: str) -> None:
        self.errors.append(RowError(self.number, column, message))

    def text(self, column: str) -> str | None:
        """The cell as stripped text ("" when empty and optional); None after a problem."""
        value = self.cells.get(column)
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.fail(column, f"{value!r} is not text")
            return None
        value = value.strip()
        problem = unstorable(value)
        if problem is not None:
            self.fail(column, problem)
            return None
        limit = _LIMITS.get(column)
        if limit is not None and len(value) > limit:
            self.fail(column, f"is longer than {limit} characters")
            return None
        if not value and column in REQUIRED:
            self.fail(column, "is required")
            return None
        return value

    def day(self) -> date | None:
        text = self.text("date")
        if not text:
            return None
        for pattern in ("%Y-%m-%d", "%d.%m.%Y"):
            try:
                return datetime.strptime(text, pattern).date()
            except ValueError:
                continue
        self.fail("date", f"{text!r} is not a date (2026-11-01 or 01.11.2026)")
        return None

    def cost(self) -> Decimal | None:
        raw = self.cells.get("cost")
        if isinstance(raw, bool) or not isinstance(raw, int | float | str | None):
            self.fail("cost", f"{raw!r} is not a number")
            return None
        text = str(raw) if isinstance(raw, int | float) else self.text("cost")
        if not text:
            return None
        number = _NUMBER_SPACES.sub("", text)
        if "," in number and "." not in number:
            number = number.replace(",", ".")  # a decimal comma, as Russian spreadsheets write
        try:
            value = Decimal(number)
        except InvalidOperation:
            value = Decimal("NaN")
        if not value.is_finite():
            self.fail("cost", f"{text!r} is not a number")
            return None
        if value < 0:
            self.fail("cost", f"{text!r} is negative")
            return None
        # Too large is checked first: quantizing 1e30 to cents overflows the decimal context.
        if (
            value > _MAX_COST
            or (value := value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)) > _MAX_COST
        ):
            self.fail("cost", f"{text!r} is too large")
            return None
        return value

    def currency(self) -> str | None:
        text = self.text("currency")
        if not text:
            return None
        code = text.upper()
        if not _CURRENCY.match(code):
            self.fail("currency", f"{text!r} is not a three-letter ISO 4217 code such as RUB")
            return None
        return code

    def parse(self) -> CostRow | None:
        day, source, medium = self.day(), self.text("source"), self.text("medium")
        campaign, cost, currency = self.text("campaign"), self.cost(), self.currency()
        if (
            day is None
            or source is None
            or medium is None
            or campaign is None
            or cost is None
            or currency is None
        ):
            return None
        # Visits are classified in lower case (utm_source=Google is "google"): costs must
        # meet them. Campaign names keep their case, as visits keep utm_campaign's.
        return CostRow(day, source.lower(), medium.lower(), campaign, cost, currency)


def _rows(
    numbered: Iterable[tuple[int, Mapping[str, object]]], errors: list[RowError]
) -> list[CostRow]:
    rows: list[CostRow] = []
    first_seen: dict[tuple[date, str, str, str, str], int] = {}
    for number, cells in numbered:
        if len(rows) >= MAX_ROWS:
            raise PayloadTooLarge(f"at most {MAX_ROWS} rows per upload: split the file")
        row = _Row(number, cells, errors).parse()
        if row is None:
            continue
        earlier = first_seen.setdefault(row.key, number)
        if earlier != number:
            # One upload states one figure per day and channel; two would be a guess.
            errors.append(
                RowError(number, None, f"same date, source, medium and campaign as row {earlier}")
            )
            continue
        rows.append(row)
    if errors:
        raise CostRowsInvalid(sorted(errors, key=lambda error: error.row))
    if not rows:
        raise InvalidField("body", "the upload has no cost rows")
    return rows


def decode(body: bytes) -> str:
    """UTF-8 (a BOM is dropped); failing that Windows-1251, which Excel in Russian saves."""
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return body.decode("cp1251", errors="replace")


def parse_csv(text: str) -> list[CostRow]:
    """Rows of a CSV with the header `date,source,medium,campaign,cost,currency` (any order;
    medium and campaign may be left out; `;` or tab as the separator works too)."""
    header_line = text.split("\n", 1)[0]
    delimiter = ","
    if "," not in header_line:
        delimiter = ";" if ";" in header_line else ("\t" if "\t" in header_line else ",")
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [cell.strip().lower() for cell in next(reader)]
    except StopIteration:
        raise InvalidField("body", "the CSV is empty: expected a header row") from None
    errors = [
        RowError(1, name, f"unknown column (expected {', '.join(COLUMNS)})")
        for name in header
        if name not in COLUMNS
    ]
    errors += [
        RowError(1, name, "is missing from the header")
        for name in COLUMNS
        if name in REQUIRED and name not in header
    ]
    if errors:
        raise CostRowsInvalid(errors)
    records: list[tuple[int, Mapping[str, object]]] = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # blank lines (a trailing one, say) are no rows
            if len(cells) > len(header):
                message = f"has {len(cells)} cells, the header {len(header)}"
                errors.append(RowError(reader.line_num, None, message))
                continue
            records.append((reader.line_num, dict(zip(header, cells, strict=False))))
    except csv.Error as exc:
        errors.append(RowError(reader.line_num, None, f"is not valid CSV ({exc})"))
    return _rows(records, errors)


def parse_json(body: bytes) -> list[CostRow]:
    """Rows of `[{"date", "source", "medium"?, "campaign"?, "cost", "currency"}, ...]`, bare
    or as `{"rows": [...]}`."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise InvalidField("body", "not valid JSON") from exc
    if isinstance(data, dict) and set(data) == {"rows"}:
        data = data["rows"]
    if not isinstance(data, list):
        raise InvalidField("body", 'expected a JSON array of cost rows (or {"rows": [...]})')
    errors: list[RowError] = []
    records: list[tuple[int, Mapping[str, object]]] = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            errors.append(RowError(number, None, "is not an object"))
            continue
        unknown = sorted(set(item) - set(COLUMNS))
        errors += [RowError(number, name, "unknown field") for name in unknown]
        records.append((number, item))
    return _rows(records, errors)


def parse_upload(body: bytes, content_type: str) -> list[CostRow]:
    """The rows of an upload of either kind, told apart by its Content-Type."""
    if len(body) > MAX_BYTES:
        raise PayloadTooLarge(TOO_LARGE)
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return parse_json(body)
    if media in ("text/csv", "application/csv", "text/plain"):
        return parse_csv(decode(body))
    raise UnsupportedMediaType(
        f"Content-Type {media or '(none)'!r}: send text/csv or application/json"
    )
