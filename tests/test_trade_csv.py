"""Permits built from CITES Trade Database shipment records (mappings.trade_csv)."""

from __future__ import annotations

import csv
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from hub.demo_data import sample_shipments_path
from hub.errors import InvalidMessage
from mappings.trade_csv import (
    COLUMNS,
    ConversionResult,
    TradePermit,
    convert_file,
    group_permits,
    line_id,
    load_term_table,
    read_shipments,
    to_permit,
)

REAL_FILE = "trade_shipments_sample.csv"

BASE_ROW = {
    "id": "1",
    "year": "2012",
    "appendix": "II",
    "taxon": "Manis javanica",
    "class": "Mammalia",
    "ord": "Pholidota",
    "family": "Manidae",
    "genus": "Manis",
    "term": "skins",
    "quantity": "10",
    "unit": "",
    "importer": "JP",
    "exporter": "ID",
    "origin": "",
    "purpose": "T",
    "source": "W",
    "reporter_type": "E",
    "import_permit_randomid": "",
    "export_permit_randomid": "0a0a0a0a0a",
    "origin_permit_randomid": "",
}


def write_shipments(folder: Path, *changes: dict[str, str]) -> Path:
    """Write one row per ``changes`` entry: the base row with those columns replaced."""
    path = folder / "shipments.csv"
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=COLUMNS)
        writer.writeheader()
        for change in changes:
            writer.writerow({**BASE_ROW, **change})
    return path


def convert_one(folder: Path, *changes: dict[str, str]) -> ConversionResult:
    results = list(convert_file(write_shipments(folder, *changes)))
    assert len(results) == 1
    return results[0]


def by_number(results: list[ConversionResult]) -> dict[str | None, ConversionResult]:
    return {result.number: result for result in results}


# -- the real file ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_rows(shared_data: Path) -> list[dict[str, str]]:
    with (shared_data / REAL_FILE).open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


@pytest.fixture(scope="module")
def real_results(shared_data: Path) -> dict[str | None, ConversionResult]:
    return by_number(list(convert_file(shared_data / REAL_FILE)))


def test_real_groups_match_permit_ids(shared_data: Path, real_rows: list[dict[str, str]]) -> None:
    ids = {row["export_permit_randomid"] for row in real_rows} - {""}
    rows_without_id = sum(1 for row in real_rows if not row["export_permit_randomid"])

    groups = list(group_permits(read_shipments(shared_data / REAL_FILE)))

    numbered = [group for group in groups if group.number is not None]
    assert len(numbered) == len(ids) == 1725
    assert {group.number for group in numbered} == ids
    assert len(groups) - len(numbered) == rows_without_id
    assert all(len(group.rows) == 1 for group in groups if group.number is None)


def test_real_rows_each_in_one_result(shared_data: Path, real_rows: list[dict[str, str]]) -> None:
    results = list(convert_file(shared_data / REAL_FILE))

    lines = sorted(line for result in results for line in result.rows)

    assert lines == list(range(2, len(real_rows) + 2))


def test_real_terms_and_units_all_mapped(real_rows: list[dict[str, str]]) -> None:
    table = load_term_table()

    unmapped_terms = {row["term"] for row in real_rows} - set(table.terms)
    unmapped_units = {row["unit"] for row in real_rows} - set(table.units)

    assert unmapped_terms == set()
    assert unmapped_units == set()


def test_real_quoting_styles_read_alike(shared_data: Path) -> None:
    rows = {row.id: row for row in read_shipments(shared_data / REAL_FILE)}

    quoted_empties = rows["326704"]  # written with "" for each empty field
    bare_empties = rows["1886285"]  # written with nothing between the commas

    assert (quoted_empties.line, quoted_empties.unit, quoted_empties.source, quoted_empties.origin) == (2, "", "", "XX")
    assert (bare_empties.line, bare_empties.unit, bare_empties.origin, bare_empties.source) == (125, "g", "", "I")


def test_real_multi_item_permit_order(real_results: dict[str | None, ConversionResult]) -> None:
    result = real_results["e5b41372d0"]

    permit = result.permit

    assert permit is not None
    assert result.rows == [3590, 3620, 3621, 3625]
    assert [item.line_id for item in permit.items] == ["A", "B", "C", "D"]
    assert [item.scientific_name for item in permit.items] == [
        "Manis gigantea",
        "Manis temminckii",
        "Manis tetradactyla",
        "Manis tricuspis",
    ]
    assert {(item.term, item.quantity.value, item.quantity.unit, item.source) for item in permit.items} == {
        ("SCA", Decimal("500"), "GRM", "I")
    }
    assert (permit.type, permit.issuing_party, permit.purpose) == ("E", "ZA", "L")


def test_real_re_export_decimal_quantities(real_results: dict[str | None, ConversionResult]) -> None:
    result = real_results["4500f73218"]

    permit = result.permit

    assert permit is not None
    assert permit.type == "R"
    assert [(item.line_id, item.term, item.quantity.value, item.quantity.unit) for item in permit.items] == [
        ("A", "SCA", Decimal("1.8"), "GRM"),
        ("B", "SCA", Decimal("10.4"), "GRM"),
    ]
    assert {item.origin_country for item in permit.items} == {"CN"}
    assert result.problems == []


def test_real_permit_numbers_keep_leading_zeros(real_results: dict[str | None, ConversionResult]) -> None:
    leading_zero = [result for number, result in real_results.items() if number and number.startswith("0")]

    built = [result for result in leading_zero if result.permit is not None]

    assert len(leading_zero) == 103
    assert built
    assert all(result.permit.number == result.number for result in built)
    assert real_results["08e6080e82"].permit.number == "08e6080e82"


def test_real_double_report_uses_exporter(real_results: dict[str | None, ConversionResult]) -> None:
    result = real_results["08e6080e82"]

    permit = result.permit

    assert result.rows == [264, 284, 285]
    assert [(item.quantity.value, item.quantity.unit) for item in permit.items] == [
        (Decimal("20"), "FLA"),
        (Decimal("20"), "FLA"),
    ]
    assert result.notes and result.notes[0].startswith("row 264: reporter_type 'I'")


# -- the sample shipped for the demo ---------------------------------------------------------------

SAMPLE_PROBLEMS = {
    "0c4f9a2e71": [],
    "7d31b08e5a": [],
    "2b8e6f0a93": [],
    "9f0e27c4b6": [],
    "4a77d2e915": [
        "row 10: source '' is missing (not reported), but a permit item needs a source code such as W or C",
        "row 11: source '' is missing (not reported), but a permit item needs a source code such as W or C",
    ],
    "0000417302": [
        "row 12: exporter 'XX' is the Trade Database code for an unknown country, "
        "but a permit needs its issuing Party",
    ],
    "e5c0d94b28": [
        "rows 13, 15: exporter differs within export permit 'e5c0d94b28': 'LA' (row 13), 'NG' (row 15), "
        "but one permit cannot have more than one exporter",
        "rows 13, 15: importer differs within export permit 'e5c0d94b28': 'VN' (row 13), 'CN' (row 15), "
        "but one permit cannot have more than one importer",
        "rows 13, 15: year differs within export permit 'e5c0d94b28': '2001' (row 13), '2007' (row 15), "
        "but one permit cannot have more than one year",
    ],
    "1e3a5b7c9d": [],
    "c8d2e4f6a0": [],
    "5b5b5b0e0e": ["row 20: has 19 fields but the header has 20"],
    "8a0f3c6d21": ["row 21: quantity '' is missing"],
    "3c9e1a7f04": [],
    "6e2d8b4a10": [],
    "a0b1c2d3e4": [],
    "d4c3b2a190": [],
    "f1e2d3c4b5": [],
    "204857193": [
        "row 36: export_permit_randomid '204857193' is not a ten-character alphanumeric identifier "
        "like those the Trade Database issues",
    ],
}
# 4a77d2e915 has a blank source: it is built unchecked so that the hub rejects it.
SAMPLE_NOT_BUILT = {"e5c0d94b28", "5b5b5b0e0e", "8a0f3c6d21"}


@pytest.fixture(scope="module")
def sample_results() -> list[ConversionResult]:
    return list(convert_file(sample_shipments_path()))


def test_sample_permits_and_problems(sample_results: list[ConversionResult]) -> None:
    numbered = {result.number: result.problems for result in sample_results if result.number is not None}

    built = {result.number for result in sample_results if result.permit is not None}

    assert numbered == SAMPLE_PROBLEMS
    assert built == set(SAMPLE_PROBLEMS) - SAMPLE_NOT_BUILT


def test_sample_rows_without_id_alone(sample_results: list[ConversionResult]) -> None:
    unnumbered = [result for result in sample_results if result.number is None]

    assert [(result.rows, result.permit) for result in unnumbered] == [([37], None), ([38], None)]
    assert unnumbered[0].problems == ["row 37: export_permit_randomid '' is missing, so the row belongs to no permit"]


def test_sample_multi_item_order(sample_results: list[ConversionResult]) -> None:
    result = by_number(sample_results)["0c4f9a2e71"]

    permit = result.permit

    assert result.rows == [2, 3, 4, 39, 40]
    assert [(item.line_id, item.term, item.quantity.value, item.quantity.unit) for item in permit.items] == [
        ("A", "SKI", Decimal("120"), None),
        ("B", "SCA", Decimal("25.5"), "KIL"),
        ("C", "LPS", Decimal("40"), None),
        ("D", "BOD", Decimal("2"), None),
        ("E", "CLA", Decimal("0.25"), "KIL"),
    ]
    assert (permit.number, permit.type, permit.key, permit.purpose) == ("0c4f9a2e71", "E", "ID/0c4f9a2e71", "T")
    assert permit.importer.address.country == "JP"


def test_sample_re_export_names_origin(sample_results: list[ConversionResult]) -> None:
    permit = by_number(sample_results)["7d31b08e5a"].permit

    item = permit.items[0]

    assert permit.type == "R"
    assert (item.origin_country, item.origin_permit.id, item.origin_permit.type_code) == ("MY", "a93e0c1d52", "861")


def test_sample_unknown_origin_is_re_export(sample_results: list[ConversionResult]) -> None:
    permit = by_number(sample_results)["c8d2e4f6a0"].permit

    item = permit.items[0]

    assert permit.type == "R"
    assert item.origin_country is None
    assert item.source == "O"


def test_sample_exponent_quantity_as_written(sample_results: list[ConversionResult]) -> None:
    permit = by_number(sample_results)["1e3a5b7c9d"].permit

    quantity = permit.items[0].quantity

    assert quantity.value == Decimal("1e3")
    assert quantity.value.as_tuple() == Decimal("1e3").as_tuple()
    assert quantity.unit == "GRM"


def test_sample_unknown_exporter_left_empty(sample_results: list[ConversionResult]) -> None:
    permit = by_number(sample_results)["0000417302"].permit

    assert permit.number == "0000417302"
    assert permit.exporter is None
    assert permit.issuing_party is None


def test_sample_empty_purpose_is_none(sample_results: list[ConversionResult]) -> None:
    permit = by_number(sample_results)["3c9e1a7f04"].permit

    assert permit.purpose is None
    assert [(reference.id, reference.type_code) for reference in permit.references] == [("f0e1d2c3b4", "911")]


def test_sample_importer_report_left_out(sample_results: list[ConversionResult]) -> None:
    result = by_number(sample_results)["2b8e6f0a93"]

    permit = result.permit

    assert [(item.term, item.quantity.value) for item in permit.items] == [("LIV", Decimal("2"))]
    assert permit.issued_at.year == 2014
    assert result.notes == [
        "rows 7, 8: reporter_type 'I' (not the exporter's report) is left out, "
        "because the items come from the exporter's report of the same permit (row 6)"
    ]


def test_sample_unit_words_to_codes(sample_results: list[ConversionResult]) -> None:
    permit = by_number(sample_results)["a0b1c2d3e4"].permit

    units = [item.quantity.unit for item in permit.items]

    assert units == ["CRT", "CTM", "MLT", "SQM", "PAI", "BOX"]


# -- rules, on rows written by each test -----------------------------------------------------------


def test_dates_from_year_only(tmp_path: Path) -> None:
    result = convert_one(tmp_path, {"year": "1998"})

    permit = result.permit

    assert permit.issued_at == datetime(1998, 7, 1, tzinfo=timezone.utc)
    assert permit.valid_until == datetime(1999, 1, 1, tzinfo=timezone.utc)


def test_line_ids_continue_past_z() -> None:
    ids = [line_id(index) for index in (0, 25, 26, 27, 51, 52, 701, 702)]

    assert ids == ["A", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]


def test_27th_item_is_aa(tmp_path: Path) -> None:
    result = convert_one(tmp_path, *[{"quantity": str(count)} for count in range(1, 28)])

    items = result.permit.items

    assert [item.line_id for item in items[-3:]] == ["Y", "Z", "AA"]
    assert items[-1].quantity.value == Decimal("27")


def test_unknown_term_is_reported(tmp_path: Path) -> None:
    result = convert_one(tmp_path, {"term": "hides"})

    assert result.permit is None
    assert result.problems == [
        "row 2: term 'hides' is not in the Trade Database term table; expected a word such as 'skins' or 'live'"
    ]


def test_unknown_unit_is_reported(tmp_path: Path) -> None:
    result = convert_one(tmp_path, {"unit": "crates"})

    assert result.permit is None
    assert result.problems[0].startswith("row 2: unit 'crates' is not in the Trade Database unit table")


@pytest.mark.parametrize("written", ["12,5", "NaN", "1_000", "about 20", "Infinity"])
def test_unreadable_quantity_is_reported(tmp_path: Path, written: str) -> None:
    result = convert_one(tmp_path, {"quantity": written})

    assert result.permit is None
    assert result.problems == [f"row 2: quantity '{written}' is not a number; expected e.g. 12, 0.5 or 1e3"]


def test_origin_same_as_exporter_is_export(tmp_path: Path) -> None:
    result = convert_one(tmp_path, {"origin": "ID"})

    permit = result.permit

    assert permit.type == "E"
    assert permit.items[0].origin_country == "ID"


def test_purpose_disagreement_blocks_permit(tmp_path: Path) -> None:
    result = convert_one(tmp_path, {"purpose": "T"}, {"purpose": "P", "term": "scales"})

    assert result.permit is None
    assert result.problems == [
        "rows 2, 3: purpose differs within export permit '0a0a0a0a0a': 'T' (row 2), 'P' (row 3), "
        "but one permit cannot have more than one purpose"
    ]


def test_importer_rows_year_ignored(tmp_path: Path) -> None:
    result = convert_one(tmp_path, {"year": "2012"}, {"year": "2013", "reporter_type": "I"})

    assert result.problems == []
    assert result.permit.issued_at.year == 2012


def test_overlong_number_fails_model(tmp_path: Path) -> None:
    number = "9" * 71

    result = convert_one(tmp_path, {"export_permit_randomid": number})

    assert result.permit is None
    assert any(problem.startswith(f"permit '{number}': number ") for problem in result.problems)


def test_line_numbers_span_blank_lines(tmp_path: Path) -> None:
    header = ",".join(COLUMNS)
    row = ",".join(BASE_ROW.values())
    multi_line_row = row.replace("Manis javanica", '"Manis\njavanica"')
    path = tmp_path / "shipments.csv"
    path.write_text(f"{header}\n{row}\n{multi_line_row}\n\n{row}\n", encoding="utf-8")

    rows = list(read_shipments(path))

    assert [row.line for row in rows] == [2, 3, 6]
    assert rows[1].taxon == "Manis\njavanica"


def test_missing_column_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "shipments.csv"
    path.write_text(",".join(name for name in COLUMNS if name != "source") + "\n", encoding="utf-8")

    with pytest.raises(InvalidMessage, match="lacks the columns source"):
        list(read_shipments(path))


def test_group_without_number_not_built(tmp_path: Path) -> None:
    rows = list(read_shipments(write_shipments(tmp_path, {"export_permit_randomid": ""})))

    result = to_permit(TradePermit(number=None, rows=rows))

    assert (result.permit, result.rows) == (None, [2])


def test_term_table_codes_in_code_lists() -> None:
    codelists = pytest.importorskip("hub.codelists")
    table = load_term_table()

    unknown_terms = {word: code for word, code in table.terms.items() if not codelists.is_valid("term", code)}
    unknown_units = {word: code for word, code in table.units.items() if code and not codelists.is_valid("unit", code)}

    assert unknown_terms == {}
    assert unknown_units == {}


def test_blank_source_item_is_built_without_a_source(sample_results):
    result = next(r for r in sample_results if r.number == "4a77d2e915")

    assert result.permit is not None
    assert {item.source for item in result.permit.items} == {None}
    assert any("source ''" in problem for problem in result.problems)
