"""Every row of a CITES Trade Database comparative tabulation sample, checked against the species list.

The tabulation covers trade of 2001 to 2015, and the species list is the export of 2017-04-21,
so an appendix that differs from the current listing is usually a listing that changed since
(e.g. Psittacus erithacus and the pangolins moved from Appendix II to I in 2017, Swietenia
macrophylla from III to II in 2003), not an error in the trade record. The counts below are
pinned so that a change in name matching shows up here.

Run with ``pytest -s tests/test_species_comptab.py`` to see the counts.
"""

from __future__ import annotations

import csv
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.speciesplus import SpeciesSnapshot
from hub.errors import Finding, Severity
from hub.permit import PermitItem, Quantity
from hub.species import APPENDICES, NOT_LISTED, SpeciesChecker

ROWS = 14179
ACCEPTED = 13569
SYNONYMS = 17
UNKNOWN = 593
# Rows with appendix I, II or III that the current listing does not contain.
APPENDIX_DIFFERENCES = 214
# Rows marked N (not listed when traded) whose taxon is now listed in full.
NOW_LISTED = 42


@pytest.fixture(scope="module")
def rows(shared_data: Path) -> list[dict[str, str]]:
    with open(shared_data / "trade_comptab_sample.csv", encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.fixture(scope="module")
def snapshot(shared_data: Path) -> SpeciesSnapshot:
    return SpeciesSnapshot.load(shared_data / "cites_species.csv")


@pytest.fixture(scope="module")
def counts(rows, snapshot) -> Counter[str]:
    checker = SpeciesChecker(snapshot)
    counted: Counter[str] = Counter()
    for row in rows:
        findings = checker.check_item(0, row_item(row))
        counted[name_status(findings)] += 1
        counted.update(listing_differences(row, findings, snapshot))

    print(f"\ncomparative tabulation, {len(rows)} rows: {dict(counted)}")
    return counted


def row_item(row: dict[str, str]) -> PermitItem:
    # The source does not bear on the name or the listing. A blank one (401 rows) is read as W,
    # which applies to plants and animals alike.
    return PermitItem(
        line_id="A",
        scientific_name=row["Taxon"],
        term="SPE",
        appendix=row["App."],
        source=row["Source"] or "W",
        quantity=Quantity(value=Decimal(1)),
    )


def name_status(findings: list[Finding]) -> str:
    on_name = {finding.severity for finding in findings if finding.path.endswith("scientific_name")}
    if Severity.WARNING in on_name:
        return "unknown"
    if Severity.INFO in on_name:
        return "synonym"
    return "accepted"


def listing_differences(row: dict[str, str], findings: list[Finding], snapshot: SpeciesSnapshot) -> list[str]:
    if row["App."] in APPENDICES:
        return ["appendix_difference" for finding in findings if finding.path.endswith("appendix") and finding.severity is Severity.ERROR]

    match = snapshot.lookup(row["Taxon"])
    if row["App."] == "N" and match is not None and match.is_listed and NOT_LISTED not in match.listing.split("/"):
        return ["now_listed"]
    return []


def test_every_row_is_accepted_synonym_or_unknown(rows, counts):
    assert len(rows) == ROWS
    assert counts["accepted"] + counts["synonym"] + counts["unknown"] == ROWS


def test_name_counts_are_stable(counts):
    assert counts["accepted"] == ACCEPTED
    assert counts["synonym"] == SYNONYMS
    assert counts["unknown"] == UNKNOWN


def test_listing_difference_counts_are_stable(counts):
    assert counts["appendix_difference"] == APPENDIX_DIFFERENCES
    assert counts["now_listed"] == NOW_LISTED


def test_known_transfers_show_as_appendix_differences(snapshot):
    checker = SpeciesChecker(snapshot)
    traded_before_transfer = [("Psittacus erithacus", "II", "I"), ("Manis javanica", "II", "I"), ("Swietenia macrophylla", "III", "II/NC")]

    for name, appendix, listing in traded_before_transfer:
        item = PermitItem(line_id="A", scientific_name=name, term="LIV", appendix=appendix, source="W", quantity=Quantity(value=Decimal(1)))
        findings = checker.check_item(0, item)
        assert [finding.path for finding in findings] == ["items[0].appendix"], name
        assert f"({listing})" in findings[0].message, name


def test_trade_names_resolve_to_accepted_names(snapshot):
    match = snapshot.lookup("Epipedobates trivittatus")

    assert match is not None
    assert match.is_synonym
    assert match.accepted_name == "Ameerega trivittata"
