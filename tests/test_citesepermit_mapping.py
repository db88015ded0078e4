"""CITESEPermit v2 XML ⇄ Permit: the real EPIX message, round trips, the schema, and bad input."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from hub import safexml
from hub.errors import InvalidMessage, Severity
from hub.permit import (
    Address,
    Endorsement,
    Permit,
    PermitItem,
    Quantity,
    ReferencedDocument,
    Signatory,
    TradeParty,
)
from hub.validation import compiled_schema
from mappings import citesepermit
from mappings.citesepermit import find_permit_element, from_bytes, from_xml, qualify_root, to_xml

CET = timezone(timedelta(hours=1))
CEST = timezone(timedelta(hours=2))
ITEM_PATH = "/CITESEPermit/SpecifiedSupplyChainConsignment/IncludedSupplyChainConsignmentItem"

# A small permit of our own, edited by the bad-input tests.
MINIMAL = """<?xml version="1.0" encoding="UTF-8"?>
<rsm:CITESEPermit xmlns:rsm="urn:un:unece:uncefact:data:standard:CITESEPermit:2"
    xmlns:ram="urn:un:unece:uncefact:data:draft:ReusableAggregateBusinessInformationEntity:1">
  <rsm:HeaderExchangedDocument>
    <ram:ID>000123</ram:ID>
    <ram:TypeCode>E</ram:TypeCode>
    <ram:IssueDateTime>2026-03-02T10:00:00+01:00</ram:IssueDateTime>
    <ram:PurposeCode>T</ram:PurposeCode>
    <ram:EffectiveSpecifiedPeriod>
      <ram:EndDateTime>2026-08-31T23:59:59+02:00</ram:EndDateTime>
    </ram:EffectiveSpecifiedPeriod>
  </rsm:HeaderExchangedDocument>
  <rsm:SpecifiedSupplyChainConsignment>
    <ram:ConsignorTradeParty>
      <ram:Name>Exporter</ram:Name>
      <ram:PostalTradeAddress><ram:CountryID>GH</ram:CountryID></ram:PostalTradeAddress>
    </ram:ConsignorTradeParty>
    <ram:ConsigneeTradeParty>
      <ram:Name>Importer</ram:Name>
      <ram:PostalTradeAddress><ram:CountryID>DE</ram:CountryID></ram:PostalTradeAddress>
    </ram:ConsigneeTradeParty>
    <ram:IncludedSupplyChainConsignmentItem>
      <ram:ID>A</ram:ID>
      <ram:TransportLogisticsPackage><ram:ItemQuantity>12</ram:ItemQuantity></ram:TransportLogisticsPackage>
      <ram:IncludedSupplyChainTradeLineItem>
        <ram:TypeCode>II</ram:TypeCode>
        <ram:TypeExtensionCode>C</ram:TypeExtensionCode>
        <ram:SpecifiedTradeProduct>
          <ram:TypeCode>LIV</ram:TypeCode>
          <ram:ScientificName>Python regius</ram:ScientificName>
        </ram:SpecifiedTradeProduct>
      </ram:IncludedSupplyChainTradeLineItem>
    </ram:IncludedSupplyChainConsignmentItem>
  </rsm:SpecifiedSupplyChainConsignment>
</rsm:CITESEPermit>
"""


def minimal(*replacements: tuple[str, str]) -> bytes:
    text = MINIMAL
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return text.encode("utf-8")


def full_permit() -> Permit:
    """A permit with every field of the model set."""
    authority = TradeParty(
        id="MA-CH",
        name="Federal Food Safety and Veterinary Office",
        address=Address(
            street="Schwarzenburgstrasse 155\nPostfach",
            post_office_box="PF 1",
            postcode="3003",
            city="Bern",
            country_subdivision="BE",
            country="CH",
            country_name="Switzerland",
        ),
        representative="Head of CITES unit",
        signatory="M. Keller",
    )
    item = PermitItem(
        line_id="A",
        scientific_name="Alligator mississippiensis",
        common_name="American alligator",
        description="watch straps, 22 mm",
        term="LPS",
        marks=["LOT-7", "LOT-8"],
        appendix="II",
        source="W",
        quantity=Quantity(value=Decimal("250.5"), unit="PCS"),
        quota_used_to_date=Quantity(value=Decimal("1000"), unit="PCS"),
        annual_quota=Quantity(value=Decimal("5000"), unit="PCS"),
        origin_country="US",
        origin_permit=ReferencedDocument(id="25US00817B", type_code="861", issued_at=datetime(2025, 4, 14, tzinfo=CET)),
        last_reexport_country="FR",
        last_reexport_document=ReferencedDocument(id="FR2501234-R", type_code="811", name="Re-export certificate"),
        operation_category="OP",
        acquired_at=datetime(2025, 10, 1, 9, 30, tzinfo=CEST),
        previous_document=ReferencedDocument(
            id="PREV-1", type_code="911", valid_until=datetime(2025, 12, 31, tzinfo=CET)
        ),
        seller_assigned_id="SKU-22",
        manufacturer_assigned_id="MFR-9",
        exported_quantity=Quantity(value=Decimal("250"), unit="PCS"),
    )
    return Permit(
        number="0026CH000451",
        type="R",
        name="Re-export certificate",
        copy_indicator=True,
        issued_at=datetime(2026, 3, 20, 14, 30, 5, 250000, tzinfo=CET),
        valid_from=datetime(2026, 3, 21, tzinfo=CET),
        valid_until=datetime(2026, 9, 19, 23, 59, 59, tzinfo=CEST),
        importer=TradeParty(name="Ginza Time Co.", address=Address(city="Tōkyō", country="JP")),
        exporter=TradeParty(
            id="CHE-123", name="Bienne Watch Straps SA", address=Address(city="Biel/Bienne", country="CH")
        ),
        special_conditions=["Valid for one shipment only.", "Straps must carry the lot number."],
        purpose="T",
        purpose_text="Commercial",
        signatories=[
            Signatory(
                role="A",
                id="SS-0451",
                signed_at=datetime(2026, 3, 20, 14, 0, tzinfo=CET),
                statement="Sealed",
                party=authority,
                place="Bern",
            ),
            Signatory(role="C", party=TradeParty(name="CITES unit", signatory="M. Keller")),
        ],
        issue_place="Bern",
        issue_place_id="CHBRN",
        references=[ReferencedDocument(id="APP-77", type_code="AAA", name="Application")],
        items=[item, item.model_copy(update={"line_id": "B", "marks": []})],
        endorsement=Endorsement(
            endorsed_at=datetime(2026, 4, 2, 8, 40, tzinfo=CEST),
            port="CHZRH",
            port_name="Zurich Airport",
            office=TradeParty(name="Swiss customs, Zurich Airport"),
        ),
        transport_document="724-55512340",
    )


@pytest.fixture(scope="module")
def epix_v2(shared_data: Path) -> bytes:
    return (shared_data / "epix" / "epix_v2_GetNonFinalCitesCertificateResponse_CITESEPermit.xml").read_bytes()


@pytest.fixture(scope="module")
def epix_permit(epix_v2: bytes) -> Permit:
    return from_bytes(epix_v2)


def test_epix_header_boxes(epix_permit: Permit) -> None:
    assert epix_permit.number == "XA000000"
    assert epix_permit.type == "R"
    assert epix_permit.purpose == "T"
    assert epix_permit.copy_indicator is False
    assert epix_permit.name is None
    assert epix_permit.special_conditions[0].startswith("For live animals, this permit is only valid")


def test_epix_dates_keep_their_offsets(epix_permit: Permit) -> None:
    assert epix_permit.issued_at == datetime(2014, 1, 6, 12, 3, 52, tzinfo=CET)
    assert epix_permit.valid_from == datetime(2014, 1, 6, 12, 3, 52, tzinfo=CET)
    assert epix_permit.valid_until == datetime(2014, 7, 5, 12, 3, 52, tzinfo=CEST)
    assert epix_permit.valid_until is not None
    assert epix_permit.valid_until.utcoffset() == timedelta(hours=2)


def test_epix_parties(epix_permit: Permit) -> None:
    assert epix_permit.importer is not None and epix_permit.importer.address is not None
    assert epix_permit.exporter is not None and epix_permit.exporter.address is not None

    assert epix_permit.importer.name == "Consignee name"
    assert epix_permit.importer.address.country == "XB"
    assert epix_permit.importer.address.country_name == "Wonderland"
    assert epix_permit.exporter.name == "Consignor name"
    assert epix_permit.exporter.address.country == "XA"
    assert epix_permit.exporter.address.postcode == "00000"
    assert epix_permit.exporter.address.street == "Street"


def test_epix_issuing_party_is_the_management_authority(epix_permit: Permit) -> None:
    authority = epix_permit.management_authority

    assert authority is not None
    assert authority.name == "Authority name"
    assert epix_permit.issuing_party == "XA"
    assert epix_permit.key == "XA/XA000000"


def test_epix_blank_signatories_are_left_out(epix_permit: Permit) -> None:
    assert [signatory.role for signatory in epix_permit.signatories] == ["A"]
    assert epix_permit.security_stamp is None


def test_epix_empty_elements_become_none(epix_permit: Permit) -> None:
    assert epix_permit.transport_document is None
    assert epix_permit.endorsement is None
    assert epix_permit.purpose_text is None
    assert epix_permit.issue_place is None
    assert all(item.exported_quantity is None for item in epix_permit.items)
    assert all(item.quota_used_to_date is None for item in epix_permit.items)
    assert all(item.seller_assigned_id is None for item in epix_permit.items)


def test_epix_items(epix_permit: Permit) -> None:
    first, second = epix_permit.items

    assert (first.line_id, second.line_id) == ("A", "B")
    assert first.scientific_name == "Alligator mississippiensis"
    assert first.common_name == "American Alligator"
    assert second.scientific_name == "Crocodylus siamensis"
    assert second.common_name == "Siamese Crocodile"
    assert (first.term, second.term) == ("LPS", "LPS")
    assert first.description == "watchstraps"
    assert (first.appendix, second.appendix) == ("II", "I")
    assert (first.source, second.source) == ("W", "D")
    assert first.marks == ["XXX"]


def test_epix_quantities_are_decimals(epix_permit: Permit) -> None:
    first, second = epix_permit.items

    assert isinstance(first.quantity.value, Decimal)
    assert first.quantity == Quantity(value=Decimal("5"), unit="PCS")
    assert second.quantity == Quantity(value=Decimal("10"), unit="PCS")


def test_epix_origin_and_reexport_documents(epix_permit: Permit) -> None:
    first, second = epix_permit.items
    assert first.origin_permit is not None and first.last_reexport_document is not None
    assert second.origin_permit is not None and second.last_reexport_document is not None

    assert first.origin_country == "XC"
    assert first.origin_permit.type_code == "861"
    assert first.origin_permit.id == "XC12345"
    assert first.origin_permit.issued_at == datetime(2007, 7, 9, tzinfo=CEST)
    assert first.last_reexport_country == "XA"
    assert first.last_reexport_document.type_code == "811"
    assert first.last_reexport_document.id == "XA12345"
    assert second.origin_country == "TH"
    assert second.origin_permit.id is None
    assert second.last_reexport_country == "FR"
    assert second.last_reexport_document.id == "FR1202501030-R"
    assert second.last_reexport_document.issued_at == datetime(2012, 2, 23, tzinfo=CET)


def test_epix_permit_round_trips(epix_permit: Permit) -> None:
    again = from_bytes(to_xml(epix_permit))

    assert again == epix_permit


def test_full_permit_round_trips() -> None:
    permit = full_permit()

    again = from_bytes(to_xml(permit))

    assert again == permit


def test_full_permit_output_validates_against_schema() -> None:
    schema = compiled_schema(citesepermit.SCHEMA_FILE)

    document = safexml.parse(to_xml(full_permit()))

    assert schema.validate(document), schema.error_log


def test_epix_output_validates_against_schema(epix_permit: Permit) -> None:
    schema = compiled_schema(citesepermit.SCHEMA_FILE)

    document = safexml.parse(to_xml(epix_permit))

    assert schema.validate(document), schema.error_log


def test_epix_permit_element_validates_once_qualified(epix_v2: bytes) -> None:
    schema = compiled_schema(citesepermit.SCHEMA_FILE)
    element = find_permit_element(safexml.parse(epix_v2))

    qualified = qualify_root(element)

    assert etree.QName(element).namespace is None
    assert etree.QName(qualified).namespace == citesepermit.NAMESPACE
    assert schema.validate(qualified), schema.error_log


def test_qualified_and_unqualified_roots_map_alike(epix_v2: bytes) -> None:
    element = find_permit_element(safexml.parse(epix_v2))

    unqualified = from_xml(element)
    qualified = from_xml(qualify_root(element))

    assert unqualified == qualified


def test_find_permit_element_returns_a_bare_root() -> None:
    root = safexml.parse(minimal())

    assert find_permit_element(root) is root


def test_find_permit_element_rejects_envelope_without_permit() -> None:
    envelope = b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>'

    with pytest.raises(InvalidMessage, match="no CITESEPermit element") as raised:
        find_permit_element(safexml.parse(envelope))

    assert raised.value.findings[0].path == "/Envelope"


def test_to_xml_writes_utf8_with_declaration() -> None:
    data = to_xml(full_permit())

    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert "Tōkyō".encode("utf-8") in data


def test_to_xml_leaves_out_empty_elements(epix_permit: Permit) -> None:
    root = safexml.parse(to_xml(epix_permit))

    empty = [citesepermit.element_path(e) for e in root.iter() if len(e) == 0 and not (e.text or "").strip()]

    assert empty == []
    assert b"TransportContractReferencedDocument" not in to_xml(epix_permit)


def test_to_xml_rejects_repeated_signatory_role() -> None:
    permit = full_permit()
    permit.signatories.append(Signatory(role="A", id="again"))

    with pytest.raises(InvalidMessage, match="signatory role 'A'") as raised:
        to_xml(permit)

    assert raised.value.findings[0].path == "signatories[2].role"


def test_number_keeps_leading_zeros() -> None:
    permit = from_bytes(minimal())

    assert permit.number == "000123"


def test_date_without_time_is_read_as_midnight() -> None:
    data = minimal(("2026-03-02T10:00:00+01:00", "2026-03-02"))

    permit = from_bytes(data)

    assert permit.issued_at == datetime(2026, 3, 2)


def test_utc_designator_is_kept() -> None:
    data = minimal(("2026-03-02T10:00:00+01:00", "2026-03-02T09:00:00Z"))

    permit = from_bytes(data)

    assert permit.issued_at == datetime(2026, 3, 2, 9, tzinfo=timezone.utc)


def test_placeholder_unit_is_read_as_absent() -> None:
    data = minimal(("<ram:ItemQuantity>12", '<ram:ItemQuantity unitCode="?">12'))

    permit = from_bytes(data)

    assert permit.items[0].quantity == Quantity(value=Decimal("12"), unit=None)


def test_street_lines_are_joined_and_split_again() -> None:
    address = (
        "<ram:PostalTradeAddress>"
        "<ram:StreetName>Hafenstraße 7</ram:StreetName><ram:StreetName>Haus B</ram:StreetName>"
    )
    data = minimal(("<ram:PostalTradeAddress>", address))

    permit = from_bytes(data)

    assert permit.exporter is not None and permit.exporter.address is not None
    assert permit.exporter.address.street == "Hafenstraße 7\nHaus B"
    assert "<ram:StreetName>Haus B</ram:StreetName>".encode("utf-8") in to_xml(permit)


def test_missing_scientific_name_is_rejected_with_its_path() -> None:
    data = minimal(("<ram:ScientificName>Python regius</ram:ScientificName>", ""))

    with pytest.raises(InvalidMessage, match="ScientificName is missing") as raised:
        from_bytes(data)

    finding = raised.value.findings[0]
    assert finding.path == f"{ITEM_PATH}/IncludedSupplyChainTradeLineItem/SpecifiedTradeProduct/ScientificName"
    assert finding.severity is Severity.ERROR
    assert finding.expected == "the scientific name (box 7)"


def test_empty_permit_number_is_rejected() -> None:
    data = minimal(("<ram:ID>000123</ram:ID>", "<ram:ID></ram:ID>"))

    with pytest.raises(InvalidMessage, match="ID is empty") as raised:
        from_bytes(data)

    assert raised.value.findings[0].path == "/CITESEPermit/HeaderExchangedDocument/ID"
    assert raised.value.findings[0].value == ""


def test_permit_without_items_is_rejected() -> None:
    start = MINIMAL.index("    <ram:IncludedSupplyChainConsignmentItem>")
    end = MINIMAL.index("  </rsm:SpecifiedSupplyChainConsignment>")
    data = minimal((MINIMAL[start:end], ""))

    with pytest.raises(InvalidMessage, match="no item") as raised:
        from_bytes(data)

    assert raised.value.findings[0].path == ITEM_PATH


def test_impossible_date_is_rejected_with_path_and_value() -> None:
    data = minimal(("2026-08-31T23:59:59+02:00", "2026-02-30T23:59:59+01:00"))

    with pytest.raises(InvalidMessage, match="EndDateTime") as raised:
        from_bytes(data)

    finding = raised.value.findings[0]
    assert finding.path == "/CITESEPermit/HeaderExchangedDocument/EffectiveSpecifiedPeriod/EndDateTime"
    assert finding.value == "2026-02-30T23:59:59+01:00"
    assert "day is out of range" in finding.message


@pytest.mark.parametrize("text", ["2026-03-02 10:00:00", "20260302", "02.03.2026", "2026-03-02T10:00"])
def test_date_in_other_format_is_rejected(text: str) -> None:
    data = minimal(("2026-03-02T10:00:00+01:00", text))

    with pytest.raises(InvalidMessage, match="IssueDateTime") as raised:
        from_bytes(data)

    assert raised.value.findings[0].value == text


@pytest.mark.parametrize("text", ["twelve", "1e3", "NaN", "12,5"])
def test_non_numeric_quantity_is_rejected(text: str) -> None:
    data = minimal(("<ram:ItemQuantity>12<", f"<ram:ItemQuantity>{text}<"))

    with pytest.raises(InvalidMessage, match="ItemQuantity") as raised:
        from_bytes(data)

    finding = raised.value.findings[0]
    assert finding.path == f"{ITEM_PATH}/TransportLogisticsPackage/ItemQuantity"
    assert finding.value == text


def test_country_name_in_country_code_is_rejected() -> None:
    data = minimal(("<ram:CountryID>DE</ram:CountryID>", "<ram:CountryID>Germany</ram:CountryID>"))

    with pytest.raises(InvalidMessage, match="ConsigneeTradeParty") as raised:
        from_bytes(data)

    assert raised.value.findings[0].value == "Germany"


def test_invalid_copy_indicator_is_rejected() -> None:
    data = minimal(("<ram:PurposeCode>", "<ram:CopyIndicator>maybe</ram:CopyIndicator><ram:PurposeCode>"))

    with pytest.raises(InvalidMessage, match="CopyIndicator"):
        from_bytes(data)


def test_every_problem_is_reported_at_once() -> None:
    data = minimal(
        ("<ram:ScientificName>Python regius</ram:ScientificName>", ""),
        ("<ram:ItemQuantity>12<", "<ram:ItemQuantity>many<"),
        ("2026-08-31T23:59:59+02:00", "2026-13-01"),
    )

    with pytest.raises(InvalidMessage) as raised:
        from_bytes(data)

    paths = [finding.path.rsplit("/", 1)[-1] for finding in raised.value.findings]
    assert sorted(paths) == ["EndDateTime", "ItemQuantity", "ScientificName"]


def test_overlong_number_reported_by_field() -> None:
    data = minimal(("<ram:ID>000123</ram:ID>", f"<ram:ID>{'9' * 71}</ram:ID>"))

    with pytest.raises(InvalidMessage, match="number") as raised:
        from_bytes(data)

    assert raised.value.findings[0].path == "number"


def test_other_root_is_rejected() -> None:
    data = b'<CBFShip xmlns="urn:un:unece:uncefact:data:draft:CBFShip:1"/>'

    with pytest.raises(InvalidMessage, match="CBFShip"):
        from_xml(safexml.parse(data))


def test_unsafe_document_is_rejected_by_the_parser() -> None:
    data = b'<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>'

    with pytest.raises(InvalidMessage, match="DTD"):
        from_bytes(data)


def test_model_path_formats_indices() -> None:
    assert citesepermit.model_path(("items", 1, "quantity", "value")) == "items[1].quantity.value"
    assert citesepermit.model_path(("number",)) == "number"
