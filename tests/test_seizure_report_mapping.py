"""SeizureReport XML ⇄ Seizure: the examples, XSD validity of to_xml, and findings on bad input."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
import xmlschema

import schemas
from hub.errors import Finding, InvalidMessage, UnsafeXML
from hub.seizure import IvoryForm, Sharing, TransportMode
from mappings import seizure_report
from tests.test_seizure_model import COMPANY_NAME, PERSON_NAME, make_nominal, make_pangolin_seizure, make_seizure

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "seizures"
IVORY_EXAMPLE = EXAMPLES / "ivory_tusks_air_cargo.xml"
PANGOLIN_EXAMPLE = EXAMPLES / "pangolin_scales_sea_freight.xml"


def findings_of(data: bytes) -> list[Finding]:
    with pytest.raises(InvalidMessage) as caught:
        seizure_report.from_bytes(data)
    return caught.value.findings


def finding_at(findings: list[Finding], path: str) -> Finding:
    matching = [finding for finding in findings if finding.path == path]
    assert matching, f"no finding at {path}; findings: {[str(f) for f in findings]}"
    return matching[0]


def pangolin_xml() -> bytes:
    return PANGOLIN_EXAMPLE.read_bytes()


def test_ivory_example_maps_every_part() -> None:
    seizure = seizure_report.from_bytes(IVORY_EXAMPLE.read_bytes())

    assert seizure.id == "FR-DGDDI-2026-00042"
    assert seizure.seized_at.isoformat() == "2026-03-14T06:40:00+01:00"
    assert (seizure.discovery_country, seizure.discovery_locode) == ("FR", "FRCDG")
    assert [item.term for item in seizure.items] == ["TUS", "IVC"]
    assert seizure.items[0].ivory_form is IvoryForm.RAW
    assert seizure.items[0].weight_kg == Decimal("41.5")
    assert seizure.trade_chain.origin[1].country == "XF"
    assert seizure.trade_chain.transit[0].seizure_opportunity is True
    assert seizure.transport_mode is TransportMode.AIR
    assert seizure.permit_numbers == ["CM2026000311"]
    assert seizure.sharing is Sharing.NOMINAL
    assert seizure.nominal is not None and len(seizure.nominal.persons) == 1


def test_pangolin_example_defaults_to_non_nominal() -> None:
    seizure = seizure_report.from_bytes(pangolin_xml())

    assert seizure.sharing is Sharing.NON_NOMINAL
    assert seizure.nominal is None
    assert seizure.items[0].quantity is not None
    assert seizure.items[0].quantity.unit == "KIL"


@pytest.mark.parametrize("example", [IVORY_EXAMPLE, PANGOLIN_EXAMPLE], ids=lambda path: path.stem)
def test_examples_survive_a_round_trip(example: Path) -> None:
    seizure = seizure_report.from_bytes(example.read_bytes())

    again = seizure_report.from_bytes(seizure_report.to_xml(seizure))

    assert again == seizure


def test_to_xml_is_valid_against_the_xsd() -> None:
    seizure = make_seizure(nominal=make_nominal(), sharing=Sharing.NOMINAL)
    schema = xmlschema.XMLSchema(str(schemas.path(seizure_report.SCHEMA_FILE)))

    document = seizure_report.to_xml(seizure)

    assert schema.is_valid(document.decode("utf-8"))


def test_to_xml_writes_decimals_without_exponent() -> None:
    item = make_seizure().items[0].model_copy(update={"weight_kg": Decimal("1E+2")})

    document = seizure_report.to_xml(make_seizure(items=[item]))

    assert b"<WeightKg>100</WeightKg>" in document


def test_to_xml_is_deterministic() -> None:
    seizure = make_pangolin_seizure()

    assert seizure_report.to_xml(seizure) == seizure_report.to_xml(seizure)


def test_wrong_namespace_is_a_root_finding() -> None:
    data = pangolin_xml().replace(b"urn:cites-hub:seizure-report:1", b"urn:example:seizures:9")

    finding = finding_at(findings_of(data), "/SeizureReport")

    assert finding.value == "{urn:example:seizures:9}SeizureReport"
    assert finding.expected == "{urn:cites-hub:seizure-report:1}SeizureReport"


def test_unknown_term_code_names_its_path_and_value() -> None:
    data = pangolin_xml().replace(b"<TermCode>SCA</TermCode>", b"<TermCode>XYZ</TermCode>")

    finding = finding_at(findings_of(data), "/SeizureReport/Item/TermCode")

    assert finding.value == "XYZ"
    assert re.search(r"item 1 term 'XYZ' is not a CITES term code", finding.message)


def test_unknown_unit_code_names_its_attribute() -> None:
    data = pangolin_xml().replace(b'unitCode="KIL"', b'unitCode="KGS"')

    finding = finding_at(findings_of(data), "/SeizureReport/Item/Quantity/@unitCode")

    assert finding.value == "KGS"
    assert "KIL" in (finding.expected or "")


def test_negative_quantity_names_its_path_and_value() -> None:
    data = pangolin_xml().replace(b'unitCode="KIL">212<', b'unitCode="KIL">-5<')

    finding = finding_at(findings_of(data), "/SeizureReport/Item/Quantity")

    assert finding.value == "-5"
    assert finding.expected == "a decimal number greater than 0"


def test_missing_country_of_discovery_names_the_missing_element() -> None:
    data = pangolin_xml().replace(b"<CountryCode>BE</CountryCode>", b"")

    finding = finding_at(findings_of(data), "/SeizureReport/Discovery/CountryCode")

    assert finding.value is None
    assert "CountryCode is missing" in finding.message


def test_date_without_offset_is_rejected_with_its_value() -> None:
    data = pangolin_xml().replace(b"14:15:00+02:00", b"14:15:00")

    finding = finding_at(findings_of(data), "/SeizureReport/SeizureDateTime")

    assert finding.value == "2026-05-02T14:15:00"
    assert "offset" in (finding.expected or "")


def test_second_item_is_named_by_position() -> None:
    data = IVORY_EXAMPLE.read_bytes().replace(b"<TermCode>IVC</TermCode>", b"<TermCode>IVX</TermCode>")

    finding = finding_at(findings_of(data), "/SeizureReport/Item[2]/TermCode")

    assert finding.value == "IVX"


def test_proportions_over_one_flag_trade_chain() -> None:
    data = IVORY_EXAMPLE.read_bytes().replace(b'proportion="0.3"', b'proportion="0.5"')

    finding = finding_at(findings_of(data), "/SeizureReport/TradeChain")

    assert "1.2" in finding.message


def test_invalid_nominal_data_is_reported_without_its_value() -> None:
    data = IVORY_EXAMPLE.read_bytes().replace(b"<Nationality>FR</Nationality>", f"<Nationality>{PERSON_NAME}</Nationality>".encode())

    findings = findings_of(data)

    finding = finding_at(findings, "/SeizureReport/Nominal/Person/Nationality")
    assert finding.value is None
    assert all(PERSON_NAME not in f.message and PERSON_NAME not in (f.value or "") for f in findings)


def test_report_with_dtd_is_rejected() -> None:
    data = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "x">]>' + pangolin_xml().split(b"?>", 1)[1]

    with pytest.raises(UnsafeXML, match="DTD"):
        seizure_report.from_bytes(data)


def test_check_returns_findings_without_raising() -> None:
    from hub import safexml

    root = safexml.parse(pangolin_xml().replace(b"<TermCode>SCA</TermCode>", b"<TermCode>XYZ</TermCode>"))

    seizure, findings = seizure_report.check(root)

    assert seizure is None
    assert [finding.path for finding in findings] == ["/SeizureReport/Item/TermCode"]


def test_to_xml_keeps_nominal_data_for_the_journal() -> None:
    seizure = make_seizure(nominal=make_nominal(), sharing=Sharing.NOMINAL)

    document = seizure_report.to_xml(seizure)

    assert PERSON_NAME.encode() in document
    assert COMPANY_NAME.encode() in document
