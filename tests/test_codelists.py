"""The CITES code lists shipped as package data, and the check that turns a bad code into a finding."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hub import codelists
from hub.errors import Severity

CODELIST_DIR = Path(codelists.__file__).resolve().parent / "codelists"


@pytest.mark.parametrize("name", codelists.LIST_NAMES)
def test_every_list_loads_with_descriptions(name: str) -> None:
    codes = codelists.load(name)

    assert codes
    assert all(code and code == code.strip() for code in codes)
    assert all(description for description in codes.values())


@pytest.mark.parametrize("name", codelists.LIST_NAMES)
def test_csv_has_header_and_no_duplicate_codes(name: str) -> None:
    with (CODELIST_DIR / f"{name}.csv").open(encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file))

    assert rows[0] == ["code", "description"]
    codes = [row[0] for row in rows[1:]]
    assert len(codes) == len(set(codes))


def test_every_csv_file_is_a_listed_code_list() -> None:
    files = {path.stem for path in CODELIST_DIR.glob("*.csv")}

    assert files == set(codelists.LIST_NAMES)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("permit_type", ["E", "R", "I", "O"]),
        ("appendix", ["I", "II", "III"]),
        ("purpose", list("TZGQSHPMENBL")),
        ("source", list("WRDACFUIOXY")),
    ],
)
def test_short_lists_match_cites_codes(name: str, expected: list[str]) -> None:
    codes = codelists.load(name)

    assert list(codes) == expected


@pytest.mark.parametrize("code", ["LIV", "SKI", "LPS", "TIM", "CAV", "TRO", "WAT", "DER", "EGL", "SKD"])
def test_term_list_holds_common_terms(code: str) -> None:
    assert codelists.is_valid("term", code)


@pytest.mark.parametrize("code", ["KIL", "GRM", "PCS", "CUM", "SQM", "LTR", "PAI", "BSK"])
def test_unit_list_holds_common_units(code: str) -> None:
    assert codelists.is_valid("unit", code)


def test_load_returns_a_copy() -> None:
    codes = codelists.load("purpose")

    codes["XX"] = "not a purpose"

    assert not codelists.is_valid("purpose", "XX")


def test_codes_are_case_sensitive() -> None:
    assert codelists.is_valid("term", "SKI")
    assert not codelists.is_valid("term", "ski")


def test_check_passes_known_and_absent_codes() -> None:
    assert codelists.check("term", "LIV", "items[0].term") is None
    assert codelists.check("unit", None, "items[0].quantity.unit") is None


def test_check_names_path_value_and_expected_codes() -> None:
    finding = codelists.check("term", "XYZ", "items[1].term")

    assert finding is not None
    assert finding.severity is Severity.ERROR
    assert finding.path == "items[1].term"
    assert finding.value == "XYZ"
    assert "'XYZ' is not a CITES term code" in finding.message
    assert finding.expected is not None
    assert "term list" in finding.expected


def test_check_suggests_close_codes_in_long_lists() -> None:
    finding = codelists.check("term", "ski", "items[0].term")

    assert finding is not None
    assert finding.expected is not None
    assert "SKI" in finding.expected


def test_check_quotes_short_lists_whole() -> None:
    finding = codelists.check("permit_type", "X", "type")

    assert finding is not None
    assert finding.expected == "one of E, R, I, O"


def test_check_starts_message_with_subject() -> None:
    finding = codelists.check("source", "Q", "items[1].source", subject="item B source")

    assert finding is not None
    assert finding.message.startswith("item B source 'Q' is not a CITES source code")
    assert finding.path == "items[1].source"


@pytest.mark.parametrize(
    ("name", "bad_code"),
    [("permit_type", "Z"), ("purpose", "X"), ("source", "Z"), ("term", "QQQ"), ("unit", "KGS"), ("appendix", "IV")],
)
def test_check_rejects_unknown_code_in_each_list(name: str, bad_code: str) -> None:
    finding = codelists.check(name, bad_code, f"field.{name}")

    assert finding is not None
    assert finding.value == bad_code
    assert finding.path == f"field.{name}"


def test_unknown_list_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="code list 'colour'"):
        codelists.load("colour")
