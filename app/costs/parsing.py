"""Ad-cost uploads, CSV or JSON, checked row by row before anything is stored.

Every problem is reported with its row and column, the way a spreadsheet shows them: in a CSV
the header is row 1 and the first cost row is row 2; in JSON the first element is row 1. All
problems are collected, not just the first, so a file is fixed in one go.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from app.costs.keywords import keyword_text
from app.exceptions import AppError, InvalidField, PayloadTooLarge
from app.i18n import gettext
from app.kit.text import unstorable

COLUMNS = ("date", "source", "medium", "campaign", "cost", "currency")
# Accepted too: the keyword the spend bought (utm_term).
OPTIONAL_COLUMNS = ("term",)
ACCEPTED = (*COLUMNS, *OPTIONAL_COLUMNS)
REQUIRED = frozenset({"date", "source", "cost", "currency"})
MAX_ROWS = 50_000
MAX_BYTES = 10 * 1024 * 1024
TOO_LARGE = f"at most {MAX_BYTES // (1024 * 1024)} MB per upload"
# Enough to fix a file by; the rest are counted.
MAX_REPORTED = 20
_LIMITS = {"source": 200, "medium": 200, "campaign": 500, "term": 500}
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
            self.fail(column, gettext("is longer than %(limit)s characters", limit=limit))
            return None
        if not value and column in REQUIRED:
            self.fail(column, gettext("is required"))
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
        self.fail(
            "date", gettext("%(text)s is not a date (2026-11-01 or 01.11.2026)", text=repr(text))
        )
        return None

    def cost(self) -> Decimal | None:
        raw = self.cells.get("cost")
        if isinstance(raw, bool) or not isinstance(raw, int | float | str | None):
            self.fail("cost", gettext("%(text)s is not a number", text=repr(raw)))
            return None
        text = str(raw) if isinstance(raw, int | float) else self.text("cost")
        if not text:
            return None
        number = _NUMBER_SPACES.sub("", text)
        if "," in number and "." not in number:
            number = number.replace(",", ".")  # a decimal comma, as Russian spreadsheets write
        elif "," in number and number.rfind(",") < number.rfind("."):
            number = number.replace(",", "")  # 1,234.56: Google's thousands separator
        elif "," in number:
            number = number.replace(".", "").replace(",", ".")  # 1.234,56
        try:
            value = Decimal(number)
        except InvalidOperation:
            value = Decimal("NaN")
        if not value.is_finite():
            self.fail("cost", gettext("%(text)s is not a number", text=repr(text)))
            return None
        if value < 0:
            self.fail("cost", gettext("%(text)s is negative", text=repr(text)))
            return None
        # Too large is checked first: quantizing 1e30 to cents overflows the decimal context.
        if (
            value > _MAX_COST
            or (value := value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)) > _MAX_COST
        ):
            self.fail("cost", gettext("%(text)s is too large", text=repr(text)))
            return None
        return value

    def currency(self) -> str | None:
        text = self.text("currency")
        if not text:
            return None
        code = text.upper()
        if not _CURRENCY.match(code):
            self.fail(
                "currency",
                gettext(
                    "%(text)s is not a three-letter ISO 4217 code such as RUB", text=repr(text)
                ),
            )
            return None
        return code

    def parse(self) -> CostRow | None:
        day, source, medium = self.day(), self.text("source"), self.text("medium")
        campaign, cost, currency = self.text("campaign"), self.cost(), self.currency()
        term = self.text("term")
        if (
            day is None
            or source is None
            or medium is None
            or campaign is None
            or cost is None
            or currency is None
            or term is None
        ):
            return None
        # Visits are classified in lower case (utm_source=Google is "google"): costs must
        # meet them. Campaign names keep their case, as visits keep utm_campaign's.
        return CostRow(day, source.lower(), medium.lower(), campaign, cost, currency, term)


def _rows(
    numbered: Iterable[tuple[int, Mapping[str, object]]],
    errors: list[RowError],
    *,
    sum_repeats: bool = False,
) -> list[CostRow]:
    """The parsed rows; a key given twice is an error, or with `sum_repeats` (a platform's
    export, which lists a keyword once per ad group) one row of their sum."""
    rows: list[CostRow] = []
    first_seen: dict[tuple[date, str, str, str, str], int] = {}
    index_of: dict[tuple[date, str, str, str, str], int] = {}
    for number, cells in numbered:
        if len(rows) >= MAX_ROWS:
            raise PayloadTooLarge(f"at most {MAX_ROWS} rows per upload: split the file")
        row = _Row(number, cells, errors).parse()
        if row is None:
            continue
        earlier = first_seen.setdefault(row.key, number)
        if earlier != number and sum_repeats and row.key in index_of:
            index = index_of[row.key]
            held = rows[index]
            if held.currency == row.currency:
                rows[index] = dataclasses.replace(held, cost=held.cost + row.cost)
                continue
        if earlier != number:
            # One upload states one figure per day and channel; two would be a guess.
            errors.append(
                RowError(
                    number,
                    None,
                    gettext("same date, source, medium and campaign as row %(row)s", row=earlier),
                )
            )
            continue
        index_of[row.key] = len(rows)
        rows.append(row)
    if errors:
        raise CostRowsInvalid(sorted(errors, key=lambda error: error.row))
    if not rows:
        raise InvalidField("body", gettext("the upload has no cost rows"))
    return rows


def decode(body: bytes) -> str:
    """UTF-8 (a BOM is dropped); failing that Windows-1251, which Excel in Russian saves."""
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return body.decode("cp1251", errors="replace")


def parse_csv(text: str, *, default_currency: str | None = None) -> list[CostRow]:
    """Rows of a CSV with the header `date,source,medium,campaign,cost,currency` (any order;
    medium, campaign and term may be left out; `;` or tab as the separator works too), or of
    a report exported from Yandex Direct or Google Ads as it is (see `platform_export`)."""
    header_line = text.split("\n", 1)[0]
    delimiter = ","
    if "," not in header_line:
        delimiter = ";" if ";" in header_line else ("\t" if "\t" in header_line else ",")
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [cell.strip().lower() for cell in next(reader)]
    except StopIteration:
        raise InvalidField("body", gettext("the CSV is empty: expected a header row")) from None
    if any(name not in ACCEPTED for name in header):
        exported = platform_export(text, default_currency=default_currency)
        if exported is not None:
            return exported
    errors = [
        RowError(
            1, name, gettext("unknown column (expected %(columns)s)", columns=", ".join(COLUMNS))
        )
        for name in header
        if name not in ACCEPTED
    ]
    errors += [
        RowError(1, name, gettext("is missing from the header"))
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
                message = gettext(
                    "has %(cells)s cells, the header %(header)s",
                    cells=len(cells),
                    header=len(header),
                )
                errors.append(RowError(reader.line_num, None, message))
                continue
            records.append((reader.line_num, dict(zip(header, cells, strict=False))))
    except csv.Error as exc:
        errors.append(
            RowError(reader.line_num, None, gettext("is not valid CSV (%(why)s)", why=exc))
        )
    return _rows(records, errors)


# --- the platforms' own report exports -------------------------------------------------------

# Column names as Yandex Direct's report wizard and Google Ads' downloaded reports write them,
# in Russian, English and Spanish, normalized (lower case, single spaces, no quotes).
_ALIASES = {
    "date": {"date", "day", "дата", "день", "día", "dia", "fecha"},
    "campaign": {"campaign", "campaign name", "campaignname", "кампания", "название кампании",
                 "campaña", "nombre de la campaña"},
    "term": {"keyword", "search keyword", "criterion", "targeting", "keyword / placement",
             "условие показа", "ключевая фраза", "ключевое слово", "фраза",
             "palabra clave", "criterio"},
    "currency": {"currency", "currency code", "валюта", "код валюты", "código de moneda",
                 "moneda"},
    "source": {"source"},
    "medium": {"medium"},
}  # fmt: skip
# "Расход (руб.)", "Cost, ₽", "Cost (USD)", "Стоимость", "Coste".
_COST_HEADER = re.compile(
    r"^(?:расход|расходы|стоимость|cost|spend|coste|costo|gasto|importe gastado)"
    r"(?:\s*[,(]\s*(?P<currency>[^)]*?)\s*\)?)?$"
)
_CURRENCY_WORDS = {"руб": "RUB", "руб.": "RUB", "₽": "RUB", "rub": "RUB", "$": "USD", "€": "EUR",
                   "тенге": "KZT", "₸": "KZT", "byn": "BYN", "грн": "UAH"}  # fmt: skip
# Words only one platform's exports use: they tell the source when the file has none.
_YANDEX_MARKS = {"условие показа", "ключевая фраза", "расход", "расходы", "criterion",
                 "campaignname", "targeting"}  # fmt: skip
_GOOGLE_MARKS = {"код валюты", "currency code", "código de moneda", "стоимость", "coste",
                 "costo", "day", "día", "ad group", "группа объявлений",
                 "grupo de anuncios"}  # fmt: skip
_TOTALS = ("total", "итого", "всего")
_HEADER_SEARCH = 10  # report exports put a title and a period above the header


def _normal(cell: str) -> str:
    return " ".join(cell.strip().strip('"').strip().lower().split())


def _cost_column(name: str) -> tuple[bool, str | None]:
    """Whether `name` is a cost column, and the currency its header names, if any."""
    match = _COST_HEADER.match(name)
    if match is None:
        return False, None
    word = (match["currency"] or "").strip().lower()
    if not word:
        return True, None
    code = _CURRENCY_WORDS.get(word) or (word.upper() if _CURRENCY.match(word.upper()) else None)
    return True, code


def _platform_header(cells: list[str]) -> dict[int, str] | None:
    """Cell index -> our column, when the cells are a platform's header (a date and a cost
    among them); None otherwise."""
    columns: dict[int, str] = {}
    for index, raw in enumerate(cells):
        name = _normal(raw)
        if _cost_column(name)[0]:
            columns.setdefault(index, "cost")
            continue
        for column, names in _ALIASES.items():
            if name in names and column not in columns.values():
                columns[index] = column
                break
    found = set(columns.values())
    return columns if {"date", "cost"} <= found else None


def _delimiter(line: str) -> str:
    return max((";", "\t", ","), key=line.count)


def platform_export(text: str, *, default_currency: str | None = None) -> list[CostRow] | None:
    """The rows of a report exported from Yandex Direct (report wizard: День / Кампания /
    Условие показа / Расход (руб.)) or Google Ads (Day / Campaign / Keyword / Currency code /
    Cost), in Russian, English or Spanish, with their title lines, totals and extra columns
    (impressions, clicks...) left out. None when the text is no such export.

    The source is the platform's (yandex / google, medium cpc) unless a source column says;
    the currency is the file's (a column, or the cost header's "(руб.)"), else the site's.
    A keyword listed once per ad group is summed into one row."""
    lines = text.splitlines()
    found: tuple[int, str, list[str], dict[int, str]] | None = None
    for number, line in enumerate(lines[:_HEADER_SEARCH]):
        delimiter = _delimiter(line)
        header = next(csv.reader([line], delimiter=delimiter), [])
        columns = _platform_header(header)
        if columns is not None:
            found = (number, delimiter, header, columns)
            break
    if found is None:
        return None
    start, delimiter, header, columns = found
    names = {_normal(header[i]) for i in range(len(header))}
    cost_currencies = [
        _cost_column(_normal(header[i]))[1] for i, c in columns.items() if c == "cost"
    ]
    header_currency = next((code for code in cost_currencies if code), None)
    # Yandex names the currency in the cost header ("Расход (руб.)"); Google in a column.
    yandex = bool(names & _YANDEX_MARKS) or header_currency is not None
    google = bool(names & _GOOGLE_MARKS)
    source = "yandex" if yandex and not google else ("google" if google and not yandex else None)
    currency = header_currency or default_currency
    errors: list[RowError] = []
    if source is None and "source" not in columns.values():
        errors.append(
            RowError(
                start + 1, "source", "cannot tell which platform exported this: add a source column"
            )
        )
    if currency is None and "currency" not in columns.values():
        errors.append(RowError(start + 1, "currency", "is missing from the header"))
    if errors:
        raise CostRowsInvalid(errors)
    reader = csv.reader(io.StringIO("\n".join(lines[start + 1 :])), delimiter=delimiter)
    records: list[tuple[int, Mapping[str, object]]] = []
    try:
        for cells in reader:
            number = start + 1 + reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            row = {column: cells[i] if i < len(cells) else "" for i, column in columns.items()}
            first = str(row.get("date", "")).strip().lower()
            if first.startswith(_TOTALS) or str(row.get("cost", "")).strip() in ("", "-", "--"):
                continue  # totals, and rows without spend
            if "term" in row:
                row["term"] = keyword_text(str(row["term"]))
            row.setdefault("source", source or "")
            row.setdefault("medium", "cpc")
            if not str(row.get("currency", "")).strip():
                row["currency"] = currency or ""
            records.append((number, row))
    except csv.Error as exc:
        errors.append(RowError(start + 1 + reader.line_num, None, f"is not valid CSV ({exc})"))
    return _rows(records, errors, sum_repeats=True)


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
        unknown = sorted(set(item) - set(ACCEPTED))
        errors += [RowError(number, name, "unknown field") for name in unknown]
        records.append((number, item))
    return _rows(records, errors)


def parse_upload(
    body: bytes, content_type: str, *, default_currency: str | None = None
) -> list[CostRow]:
    """The rows of an upload of either kind, told apart by its Content-Type."""
    if len(body) > MAX_BYTES:
        raise PayloadTooLarge(TOO_LARGE)
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return parse_json(body)
    if media in ("text/csv", "application/csv", "text/plain"):
        return parse_csv(decode(body), default_currency=default_currency)
    raise UnsupportedMediaType(
        f"Content-Type {media or '(none)'!r}: send text/csv or application/json"
    )
