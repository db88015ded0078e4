"""Species checks of permit items: synonyms, listing, kingdom and unknown names."""

from __future__ import annotations

import pytest

from adapters.speciesplus import SpeciesSnapshot, Taxon
from hub.errors import ConfigError, Finding, Severity, TransientDeliveryError
from hub.species import SpeciesChecker, TaxonMatch, is_hybrid_name, normalize_name, parse_listing
from tests.factories import make_item, make_permit

# A few taxa as the species list contains them, with their synonyms.
TAXA = [
    (Taxon(2224, "Manis", "GENUS", "I/II", "Animalia"), []),
    (Taxon(11136, "Manis gigantea", "SPECIES", "I", "Animalia"), ["Phataginus gigantea", "Smutsia gigantea"]),
    (Taxon(10745, "Crocodylus niloticus", "SPECIES", "I/II", "Animalia"), ["Crocodilus lacunosus"]),
    (Taxon(3058, "Acipenser gueldenstaedtii", "SPECIES", "II", "Animalia"), ["Acipenser pygmaeus"]),
    (Taxon(3304, "Acipenser ruthenus", "SPECIES", "II", "Animalia"), ["Acipenser pygmaeus"]),
    (Taxon(6314, "Felis catus", "SPECIES", "NC", "Animalia"), []),
    (Taxon(14121, "Aloe ferox", "SPECIES", "II", "Plantae"), []),
    (Taxon(20961, "Dicksonia antarctica", "SPECIES", "", "Plantae"), []),
    (Taxon(5034, "Manis javanica", "SPECIES", "I", "Animalia"), []),
]


@pytest.fixture(scope="module")
def snapshot() -> SpeciesSnapshot:
    return SpeciesSnapshot(TAXA)


@pytest.fixture
def checker(snapshot) -> SpeciesChecker:
    return SpeciesChecker(snapshot)


def check(checker: SpeciesChecker, **item) -> list[Finding]:
    return checker.check_permit(make_permit(items=[make_item(**item)]))


def test_accepted_name_with_listed_appendix_has_no_findings(checker):
    findings = check(checker, scientific_name="Crocodylus niloticus", appendix="II", source="C")

    assert findings == []


def test_synonym_gives_info_naming_both_names(checker):
    findings = check(checker, scientific_name="Phataginus gigantea", appendix="I", source="W")

    assert len(findings) == 1
    finding = findings[0]
    assert finding.severity is Severity.INFO
    assert finding.path == "items[0].scientific_name"
    assert (finding.value, finding.expected) == ("Phataginus gigantea", "Manis gigantea")
    assert "'Phataginus gigantea' is a synonym of 'Manis gigantea'" in finding.message


def test_synonym_is_checked_against_accepted_listing(checker):
    findings = check(checker, scientific_name="Smutsia gigantea", appendix="II", source="W")

    errors = [finding for finding in findings if finding.severity is Severity.ERROR]
    assert len(errors) == 1
    assert errors[0].path == "items[0].appendix"
    assert "'Manis gigantea' (I)" in errors[0].message


def test_contradicting_appendix_is_error(checker):
    findings = check(checker, scientific_name="Manis javanica", appendix="II", source="W")

    assert len(findings) == 1
    finding = findings[0]
    assert finding.severity is Severity.ERROR
    assert finding.path == "items[0].appendix"
    assert (finding.value, finding.expected) == ("II", "I")
    assert finding.message == "item A appendix 'II' contradicts the current listing of 'Manis javanica' (I); expected I"


def test_split_listing_accepts_each_of_its_appendices(checker):
    for appendix in ("I", "II"):
        assert check(checker, scientific_name="Crocodylus niloticus", appendix=appendix, source="W") == []

    findings = check(checker, scientific_name="Crocodylus niloticus", appendix="III", source="W")

    assert findings[0].expected == "I or II"


def test_item_path_counts_items_from_zero(checker):
    permit = make_permit(items=[
        make_item("A", scientific_name="Crocodylus niloticus", appendix="II", source="C"),
        make_item("B", scientific_name="Manis javanica", appendix="III", source="W"),
    ])

    findings = checker.check_permit(permit)

    assert [finding.path for finding in findings] == ["items[1].appendix"]
    assert findings[0].message.startswith("item B appendix 'III'")


def test_genus_spp_is_checked_against_genus_listing(checker):
    assert check(checker, scientific_name="Manis spp.", appendix="II", source="W") == []

    findings = check(checker, scientific_name="Manis spp.", appendix="III", source="W")

    assert findings[0].path == "items[0].appendix"
    assert "'Manis' (I/II)" in findings[0].message


def test_unlisted_taxon_on_permit_is_error(checker):
    findings = check(checker, scientific_name="Felis catus", appendix="II", source="C")

    assert len(findings) == 1
    assert findings[0].severity is Severity.ERROR
    assert "not in the CITES Appendices" in findings[0].message
    assert findings[0].value == "II"


def test_missing_listing_is_info_and_not_checked(checker):
    findings = check(checker, scientific_name="Dicksonia antarctica", appendix="II", source="A")

    assert [(finding.severity, finding.path) for finding in findings] == [(Severity.INFO, "items[0].appendix")]


def test_unknown_appendix_code_is_skipped(checker):
    findings = check(checker, scientific_name="Manis javanica", appendix="IV", source="W")

    assert findings == []


def test_unknown_name_is_warning_by_default(checker):
    findings = check(checker, scientific_name="Manis imaginaria", appendix="I", source="W")

    assert len(findings) == 1
    finding = findings[0]
    assert finding.severity is Severity.WARNING
    assert finding.path == "items[0].scientific_name"
    assert finding.value == "Manis imaginaria"
    assert "is not in the CITES species list" in finding.message


def test_unknown_name_is_error_when_policy_says_so(snapshot):
    checker = SpeciesChecker(snapshot, unknown_policy="error")

    findings = check(checker, scientific_name="Manis imaginaria", appendix="I", source="W")

    assert findings[0].severity is Severity.ERROR


def test_hybrid_is_unknown_with_its_reason(checker):
    findings = check(checker, scientific_name="Acipenser gueldenstaedtii x ruthenus", appendix="II", source="C")

    assert findings[0].severity is Severity.WARNING
    assert "is a hybrid" in findings[0].message


def test_shared_synonym_is_unknown_naming_candidates(checker):
    findings = check(checker, scientific_name="Acipenser pygmaeus", appendix="II", source="W")

    assert len(findings) == 1
    assert findings[0].severity is Severity.WARNING
    assert "(Acipenser gueldenstaedtii, Acipenser ruthenus)" in findings[0].message


def test_plant_source_on_animal_is_error(checker):
    findings = check(checker, scientific_name="Crocodylus niloticus", appendix="II", source="A")

    assert len(findings) == 1
    assert findings[0].path == "items[0].source"
    assert findings[0].value == "A"
    assert "only for plants" in findings[0].message
    assert "A" not in findings[0].expected.removeprefix("one of ").split(", ")


def test_animal_source_on_plant_is_error(checker):
    findings = check(checker, scientific_name="Aloe ferox", appendix="II", source="C")

    assert [finding.path for finding in findings] == ["items[0].source"]
    assert "kingdom Plantae" in findings[0].message


def test_shared_sources_fit_both_kingdoms(checker):
    for name in ("Aloe ferox", "Crocodylus niloticus"):
        for source in ("W", "D", "I", "O", "U", "X"):
            assert check(checker, scientific_name=name, appendix="II", source=source) == [], (name, source)


def test_unknown_policy_must_be_known(snapshot):
    with pytest.raises(ConfigError, match="unknown_policy 'strict'"):
        SpeciesChecker(snapshot, unknown_policy="strict")


class FailingLookup:
    def lookup_all(self, name: str) -> list[TaxonMatch]:
        raise TransientDeliveryError("Species+ GET /taxon_concepts.json timed out after 15 s")


def test_failed_lookup_is_warning_not_rejection():
    checker = SpeciesChecker(FailingLookup(), unknown_policy="error")

    findings = check(checker, scientific_name="Manis javanica", appendix="I", source="W")

    assert [finding.severity for finding in findings] == [Severity.WARNING]
    assert "timed out" in findings[0].message


@pytest.mark.parametrize(
    ("listing", "appendices"),
    [("I", {"I"}), ("I/II", {"I", "II"}), ("II/NC", {"II"}), ("NC", set()), ("", set()), ("I/II/III/NC", {"I", "II", "III"})],
)
def test_listing_string_gives_appendices(listing, appendices):
    assert parse_listing(listing) == appendices


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Manis  javanica ", "manis javanica"),
        ("Ceratotherium simum ssp. simum", "ceratotherium simum simum"),
        ("Aloe compressa var paucituberculata", "aloe compressa var. paucituberculata"),
        ("Manis spp.", "manis spp."),
    ],
)
def test_names_are_normalised_for_matching(name, key):
    assert normalize_name(name) == key


@pytest.mark.parametrize(
    ("name", "hybrid"),
    [("Acipenser gueldenstaedtii x stellatus", True), ("× Cattleytonia", True), ("Orchidaceae hybrid", True), ("Xenopus laevis", False), ("Manis spp.", False)],
)
def test_hybrid_names_are_recognised(name, hybrid):
    assert is_hybrid_name(name) is hybrid
