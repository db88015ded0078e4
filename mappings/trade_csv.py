"""Build CITES permits from shipment records of the CITES Trade Database.

The Trade Database's full download (compiled by UNEP-WCMC) has one row per permit line item,
that is boxes 7 to 12 of the permit, and replaces each permit number by a ten-character
identifier. ``export_permit_randomid`` identifies the export permit or re-export certificate.
This module reads such a file, groups its rows by that identifier and builds one ``Permit``
per group. The data decide every rule below:

- Grouping. Rows that share an export permit identifier form one permit, items in file order.
  A row with an empty identifier forms a group of its own that converts to no permit, with
  the missing identifier as its problem. A number made up here would name a permit that
  never existed, so none is made up, and every row of the file still appears in one result.
- Two reports of one permit. The exporting and the importing Party both report their trade,
  so one permit often appears twice, once with ``reporter_type`` E and once with I. When a
  group has rows of the exporter's report, only those rows become items, because the
  exporting Party issued the permit. The importer's rows are listed in ``notes``. The Trade
  Database itself shows the two reports side by side and never adds them together.
- Header. Exporter and importer must agree across all rows of the group, and year and purpose
  across the rows that become items. If they disagree, that is a problem and no permit is built.
- Type R (re-export certificate) when an item's origin is given and differs from the
  exporter, else E. An origin of ``XX`` (unknown) counts as given. The Trade Database leaves
  origin blank when the exporter is the country of origin or when the origin was not
  reported. The issuing Party is the exporter.
- Dates. The file gives only a year, so ``issued_at`` is 1 July of that year at 00:00 UTC and
  ``valid_until`` is six months later, 1 January of the next year. Both are stand-ins.
- Codes. Appendix, purpose and source are copied, and an empty purpose becomes None. Term and
  unit words map to codes through ``trade_terms.csv``. An empty unit means a number of
  specimens (unit None).
- Blank source. The Trade Database leaves the source blank when none was reported (most
  records before 1991). No code is invented: the item is built without a source, unchecked
  (``PermitItem.model_construct``), and the problem is listed. Its CITESEPermit document then
  lacks box 10's source code, so the hub's validation rejects it for that reason and the
  journal keeps the evidence.
- ``XX`` is the Trade Database's code for an unknown country. It never goes into an ISO
  country field. It is a problem only for the exporter, whose country is the issuing Party.

``to_permit`` builds a permit whenever the rows fill every field the model requires. Fields
the data leave unknown stay empty, and each one the permit needs is listed as a problem. The
hub's validation judges the permit afterwards.

Sources for the Trade Database's conventions: "A guide to using the CITES Trade Database",
version 8 (UNEP-WCMC, 2013), and the guidance published with the full download, version 2019.2.
"""

from __future__ import annotations

import csv
import functools
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from hub.errors import ConfigError, Finding, InvalidMessage, Severity
from hub.permit import Address, Permit, PermitItem, Quantity, ReferencedDocument, TradeParty

__all__ = [
    "COLUMNS",
    "ConversionResult",
    "ShipmentRow",
    "TermTable",
    "TradePermit",
    "convert_file",
    "group_permits",
    "line_id",
    "load_term_table",
    "read_shipments",
    "to_permit",
]

logger = logging.getLogger(__name__)

COLUMNS = (
    "id", "year", "appendix", "taxon", "class", "ord", "family", "genus", "term", "quantity",
    "unit", "importer", "exporter", "origin", "purpose", "source", "reporter_type",
    "import_permit_randomid", "export_permit_randomid", "origin_permit_randomid",
)  # fmt: skip

UNKNOWN_COUNTRY = "XX"
EXPORTER_REPORT = "E"
ORIGIN_PERMIT_TYPE = "861"  # UN/EDIFACT 1001: certificate of origin, box 12
IMPORT_PERMIT_TYPE = "911"  # UN/EDIFACT 1001: import licence
VALIDITY_MONTHS = 6

_COUNTRY = re.compile(r"[A-Z]{2}")
_YEAR = re.compile(r"\d{4}")
# A plain decimal as written in the file: no sign other than '-', no thousands separator, no NaN.
_NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_IDENTIFIER = re.compile(r"[0-9A-Za-z]{10}")


@dataclass(frozen=True)
class ShipmentRow:
    """One row of a shipment file: one permit line item, every value as text as written.

    ``line`` is the row's first line in the file (the header is line 1). ``defect`` describes
    a row that could not be read whole, such as one with too few or too many fields.
    """

    line: int
    id: str
    year: str
    appendix: str
    taxon: str
    class_: str
    ord: str
    family: str
    genus: str
    term: str
    quantity: str
    unit: str
    importer: str
    exporter: str
    origin: str
    purpose: str
    source: str
    reporter_type: str
    import_permit_randomid: str
    export_permit_randomid: str
    origin_permit_randomid: str
    defect: str | None = None


@dataclass(frozen=True)
class TradePermit:
    """The rows of one export permit, in file order. ``number`` is None for a row without one."""

    number: str | None
    rows: list[ShipmentRow]


@dataclass
class ConversionResult:
    """The permit built from one group, or None, with what the data lacked.

    ``rows`` contains the source line numbers of the whole group. Each problem is true of the
    data and names the row, the column and the value. ``notes`` records rows that were read
    but did not become items (the importer's report of a permit the exporter also reported).
    """

    number: str | None
    permit: Permit | None
    rows: list[int]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TermTable:
    """The Trade Database's words for terms and units, mapped to CITES codes."""

    terms: dict[str, str]
    units: dict[str, str | None]


def read_shipments(path: Path) -> Iterator[ShipmentRow]:
    """Read a shipment file row by row.

    Quoted and unquoted fields may be mixed, as in the published files, and blank lines are
    skipped. Raises ``InvalidMessage`` naming the missing columns if the header lacks any.
    """
    with path.open(newline="", encoding="utf-8-sig") as stream:
        reader = csv.reader(stream)
        header = [name.strip().lower() for name in next(reader, [])]
        positions = _column_positions(header, path)

        next_line = reader.line_num + 1
        for fields in reader:
            line, next_line = next_line, reader.line_num + 1
            if fields:
                yield _make_row(line, fields, positions, len(header))


def _column_positions(header: list[str], path: Path) -> dict[str, int]:
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        message = f"{path.name}: header lacks the columns {', '.join(missing)}; expected {','.join(COLUMNS)}"
        raise InvalidMessage(message, [Finding(Severity.ERROR, "header", message, ",".join(header), ",".join(COLUMNS))])
    return {name: header.index(name) for name in COLUMNS}


def _make_row(line: int, fields: list[str], positions: dict[str, int], width: int) -> ShipmentRow:
    defect = None
    if len(fields) != width:
        defect = f"has {len(fields)} fields but the header has {width}"

    values = {name: fields[index] if index < len(fields) else "" for name, index in positions.items()}
    values["class_"] = values.pop("class")
    return ShipmentRow(line=line, defect=defect, **values)


def group_permits(rows: Iterable[ShipmentRow]) -> Iterator[TradePermit]:
    """Group rows by export permit identifier, in the order each permit first appears.

    Rows of one permit need not be next to each other in the file. Each row with an empty
    identifier becomes a group of its own with ``number`` None.
    """
    groups: dict[str | tuple[int], list[ShipmentRow]] = {}
    for row in rows:
        key: str | tuple[int] = row.export_permit_randomid or (row.line,)
        groups.setdefault(key, []).append(row)

    for key, members in groups.items():
        yield TradePermit(number=key if isinstance(key, str) else None, rows=members)


def convert_file(path: Path) -> Iterator[ConversionResult]:
    """Convert every permit of a shipment file, in the order the permits first appear."""
    converted = not_built = 0
    for group in group_permits(read_shipments(path)):
        result = to_permit(group)
        if result.permit is None:
            not_built += 1
        else:
            converted += 1
        yield result

    logger.info("converted shipment file %s: %d permits built, %d not built", path.name, converted, not_built)


def to_permit(group: TradePermit) -> ConversionResult:
    """Build the permit of one group, listing every problem the data show."""
    result = ConversionResult(number=group.number, permit=None, rows=[row.line for row in group.rows])
    if group.number is None:
        row = group.rows[0]
        result.problems.append(f"row {row.line}: export_permit_randomid '' is missing, so the row belongs to no permit")
        return result

    item_rows = _rows_of_issuing_report(group, result.notes)
    problems = _Problems(result.problems)
    header = _read_header(group, item_rows, problems)
    items = [_item(row, line_id(index), problems) for index, row in enumerate(item_rows)]
    built_items = [item for item in items if item is not None]

    if not problems.blocked and len(built_items) == len(items):
        result.permit = _build(group.number, header, built_items, problems)
    logger.debug("permit %s: %d rows, %d problems", group.number, len(group.rows), len(result.problems))
    return result


def line_id(index: int) -> str:
    """Return the block letter of the item at ``index``: A to Z, then AA, AB and so on."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


@functools.cache
def load_term_table() -> TermTable:
    """Load ``trade_terms.csv``. Raises ``ConfigError`` naming the line of an invalid entry."""
    text = resources.files(__package__).joinpath("trade_terms.csv").read_text(encoding="utf-8")
    table = TermTable(terms={}, units={})
    for line, entry in enumerate(csv.DictReader(text.splitlines()), start=2):
        _add_term_entry(table, line, entry)
    return table


def _add_term_entry(table: TermTable, line: int, entry: dict[str, str]) -> None:
    kind, word, code = entry["kind"], entry["word"].strip().lower(), entry["code"].strip()
    if kind not in ("term", "unit"):
        raise ConfigError(f"trade_terms.csv line {line}: kind '{kind}' is unknown; expected term or unit")

    target: dict[str, str | None] = table.terms if kind == "term" else table.units  # type: ignore[assignment]
    if word in target:
        raise ConfigError(f"trade_terms.csv line {line}: {kind} '{word}' appears twice; expected each word once")
    if not re.fullmatch(r"[A-Z]{3}", code) and not (kind == "unit" and word == "" and code == ""):
        raise ConfigError(f"trade_terms.csv line {line}: code '{code}' is not a three-letter CITES code")
    target[word] = code or None


class _Problems:
    """The problems of one conversion, and whether one of them prevents building the permit."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        self.blocked = False

    def add(self, text: str, *, blocking: bool) -> None:
        self.problems.append(text)
        self.blocked = self.blocked or blocking


def _rows_label(rows: Iterable[ShipmentRow]) -> str:
    lines = [str(row.line) for row in rows]
    return f"row {lines[0]}" if len(lines) == 1 else f"rows {', '.join(lines)}"


def _rows_of_issuing_report(group: TradePermit, notes: list[str]) -> list[ShipmentRow]:
    exporter_rows = [row for row in group.rows if row.reporter_type == EXPORTER_REPORT]
    if not exporter_rows or len(exporter_rows) == len(group.rows):
        return group.rows

    other_rows = [row for row in group.rows if row.reporter_type != EXPORTER_REPORT]
    reporter_types = ", ".join(f"'{value}'" for value in dict.fromkeys(row.reporter_type for row in other_rows))
    notes.append(
        f"{_rows_label(other_rows)}: reporter_type {reporter_types} (not the exporter's report) is left out, "
        f"because the items come from the exporter's report of the same permit ({_rows_label(exporter_rows)})"
    )
    return exporter_rows


def _agreed_value(rows: list[ShipmentRow], column: str, number: str, problems: _Problems) -> str | None:
    """Return the one value of ``column`` in ``rows``, or None after recording that they differ."""
    by_value: dict[str, list[ShipmentRow]] = {}
    for row in rows:
        by_value.setdefault(getattr(row, column).strip(), []).append(row)
    if len(by_value) == 1:
        return next(iter(by_value))

    listing = ", ".join(f"'{value}' ({_rows_label(members)})" for value, members in by_value.items())
    problems.add(
        f"{_rows_label(rows)}: {column} differs within export permit '{number}': {listing}, "
        f"but one permit cannot have more than one {column}",
        blocking=True,
    )
    return None


@dataclass
class _Header:
    type: str
    exporter: str | None
    importer: str | None
    year: int | None
    purpose: str | None
    import_permits: list[str]


def _read_header(group: TradePermit, item_rows: list[ShipmentRow], problems: _Problems) -> _Header:
    number = group.number or ""
    for row in group.rows:
        if row.defect:
            problems.add(f"row {row.line}: {row.defect}", blocking=True)
    if not _IDENTIFIER.fullmatch(number):
        problems.add(
            f"{_rows_label(group.rows)}: export_permit_randomid '{number}' is not a ten-character "
            "alphanumeric identifier like those the Trade Database issues",
            blocking=False,
        )

    exporter = _agreed_value(group.rows, "exporter", number, problems)
    importer = _agreed_value(group.rows, "importer", number, problems)
    year = _agreed_value(item_rows, "year", number, problems)
    purpose = _agreed_value(item_rows, "purpose", number, problems)
    return _Header(
        type=_permit_type(item_rows, exporter),
        exporter=_country(group.rows, "exporter", exporter, problems, required=True),
        importer=_country(group.rows, "importer", importer, problems, required=False),
        year=_year(item_rows, year, problems),
        purpose=purpose or None,
        import_permits=_distinct(row.import_permit_randomid.strip() for row in item_rows),
    )


def _permit_type(item_rows: list[ShipmentRow], exporter: str | None) -> str:
    re_exported = any(row.origin.strip() not in ("", exporter) for row in item_rows)
    return "R" if re_exported else "E"


def _country(
    rows: list[ShipmentRow], column: str, value: str | None, problems: _Problems, *, required: bool
) -> str | None:
    """Return the country code, or None when the value is XX, empty or not two capital letters."""
    if value is None:
        return None  # the rows disagree, already recorded
    if value == UNKNOWN_COUNTRY:
        if required:
            problems.add(
                f"{_rows_label(rows)}: {column} '{value}' is the Trade Database code for an unknown country, "
                "but a permit needs its issuing Party",
                blocking=False,
            )
        return None
    if value == "":
        if required:
            problems.add(f"{_rows_label(rows)}: {column} '' is missing", blocking=False)
        return None
    if not _COUNTRY.fullmatch(value):
        problems.add(
            f"{_rows_label(rows)}: {column} '{value}' is not a two-letter ISO 3166-1 country code", blocking=False
        )
        return None
    return value


def _year(rows: list[ShipmentRow], value: str | None, problems: _Problems) -> int | None:
    if value is None:
        return None
    if not _YEAR.fullmatch(value) or int(value) >= datetime.max.year:
        problems.add(
            f"{_rows_label(rows)}: year '{value}' is not a four-digit year before 9999, "
            "so the permit has no issue date",
            blocking=False,
        )
        return None
    return int(value)


def _distinct(values: Iterable[str]) -> list[str]:
    return [value for value in dict.fromkeys(values) if value]


def _item(row: ShipmentRow, letter: str, problems: _Problems) -> PermitItem | None:
    required = {name: getattr(row, name).strip() for name in ("taxon", "appendix", "source")}
    for name, value in required.items():
        if not value:
            problems.add(_missing_message(row, name), blocking=name != "source")
    term = _term_code(row, problems)
    quantity = _quantity(row, problems)
    if not (required["taxon"] and required["appendix"]) or term is None or quantity is None:
        return None

    origin = row.origin.strip()
    origin_permit = row.origin_permit_randomid.strip()
    # A blank source stays blank: the unchecked item lets the hub's validation reject it.
    make_item = PermitItem if required["source"] else PermitItem.model_construct
    return make_item(
        line_id=letter,
        scientific_name=required["taxon"],
        term=term,
        appendix=required["appendix"],
        source=required["source"] or None,
        quantity=quantity,
        origin_country=_country([row], "origin", origin, problems, required=False) if origin else None,
        origin_permit=ReferencedDocument(id=origin_permit, type_code=ORIGIN_PERMIT_TYPE) if origin_permit else None,
    )


def _missing_message(row: ShipmentRow, column: str) -> str:
    if column == "source":
        return (
            f"row {row.line}: source '' is missing (not reported), "
            "but a permit item needs a source code such as W or C"
        )
    return f"row {row.line}: {column} '' is missing"


def _term_code(row: ShipmentRow, problems: _Problems) -> str | None:
    code = load_term_table().terms.get(row.term.strip().lower())
    if code is None:
        problems.add(
            f"row {row.line}: term '{row.term}' is not in the Trade Database term table; "
            "expected a word such as 'skins' or 'live'",
            blocking=True,
        )
    return code


def _quantity(row: ShipmentRow, problems: _Problems) -> Quantity | None:
    units = load_term_table().units
    unit_word = row.unit.strip().lower()
    known_unit = unit_word in units
    if not known_unit:
        problems.add(
            f"row {row.line}: unit '{row.unit}' is not in the Trade Database unit table; "
            "expected a word such as 'kg' or 'cartons', or empty for a number of specimens",
            blocking=True,
        )

    text = row.quantity.strip()
    number = _NUMBER.fullmatch(text)
    if not text:
        problems.add(f"row {row.line}: quantity '' is missing", blocking=True)
    elif not number:
        problems.add(
            f"row {row.line}: quantity '{row.quantity}' is not a number; expected e.g. 12, 0.5 or 1e3",
            blocking=True,
        )

    if not (number and known_unit):
        return None
    return Quantity(value=Decimal(text), unit=units[unit_word])


def _build(number: str, header: _Header, items: list[PermitItem], problems: _Problems) -> Permit | None:
    issued_at = valid_until = None
    if header.year is not None:
        issued_at = datetime(header.year, 7, 1, tzinfo=timezone.utc)
        valid_until = _months_later(issued_at, VALIDITY_MONTHS)

    try:
        return Permit(
            number=number,
            type=header.type,
            issued_at=issued_at,
            valid_until=valid_until,
            exporter=_party(header.exporter),
            importer=_party(header.importer),
            purpose=header.purpose,
            issuing_party_code=header.exporter,
            references=[
                ReferencedDocument(id=permit, type_code=IMPORT_PERMIT_TYPE) for permit in header.import_permits
            ],
            items=items,
        )
    except ValidationError as error:
        # Rules of the model that the checks above do not repeat, such as the number's maximum length.
        for detail in error.errors():
            location = ".".join(str(part) for part in detail["loc"])
            problems.add(f"permit '{number}': {location} {detail['msg']} (value {detail['input']!r})", blocking=True)
        return None


def _months_later(moment: datetime, months: int) -> datetime:
    years, month_index = divmod(moment.month - 1 + months, 12)
    return moment.replace(year=moment.year + years, month=month_index + 1)


def _party(country: str | None) -> TradeParty | None:
    return TradeParty(address=Address(country=country)) if country else None
