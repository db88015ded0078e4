"""CBFShip v1 XML → Permit: the real EPIX v1 message and the elements that differ from v2."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from hub import safexml
from hub.errors import InvalidMessage
from hub.permit import Permit, Quantity
from hub.validation import compiled_schema
from mappings import cbfship, citesepermit

CET = timezone(timedelta(hours=1))
CEST = timezone(timedelta(hours=2))

# A small v1 permit of our own with the v1-only elements filled in.
MINIMAL_V1 = """<?xml version="1.0" encoding="UTF-8"?>
<rsm:CBFShip xmlns:rsm="urn:un:unece:uncefact:data:draft:CBFShip:1"
    xmlns:ram="urn:un:unece:uncefact:data:draft:ReusableAggregateBusinessInformationEntity:1">
  <rsm:HeaderExchangedDocument>
    <ram:ID>CZ-2026-0042</ram:ID>
    <ram:TypeCode>E</ram:TypeCode>
    <ram:IssueDateTime>2026-01-15T09:00:00+01:00</ram:IssueDateTime>
    <ram:PurposeCode>Z</ram:PurposeCode>
  </rsm:HeaderExchangedDocument>
  <rsm:SpecifiedSupplyChainConsignment>
    <ram:ConsignorTradeParty>
      <ram:Name>Exporter</ram:Name>
      <ram:PostalTradeAddress>
        <ram:CityName>Ostrava</ram:CityName>
        <ram:CountryIdentificationTradeCountry>
          <ram:ID>CZ</ram:ID>
          <ram:Name>Czechia</ram:Name>
          <ram:SubordinateTradeCountrySubDivision>
            <ram:Name>Moravian-Silesian</ram:Name>
          </ram:SubordinateTradeCountrySubDivision>
        </ram:CountryIdentificationTradeCountry>
      </ram:PostalTradeAddress>
    </ram:ConsignorTradeParty>
    <ram:ConsigneeTradeParty>
      <ram:Name>Importer</ram:Name>
    </ram:ConsigneeTradeParty>
    <ram:IncludedSupplyChainConsignmentItem>
      <ram:ID>A</ram:ID>
      <ram:TransportLogisticsPackage><ram:ItemQuantity>2</ram:ItemQuantity></ram:TransportLogisticsPackage>
      <ram:IncludedSupplyChainTradeLineItem>
        <ram:TypeCode>I</ram:TypeCode>
        <ram:TypeExtensionCode>C</ram:TypeExtensionCode>
        <ram:SpecifiedTradeProduct>
          <ram:TypeCode>LIV</ram:TypeCode>
          <ram:ScientificName>Panthera uncia</ram:ScientificName>
        </ram:SpecifiedTradeProduct>
      </ram:IncludedSupplyChainTradeLineItem>
      <ram:ExaminationTransportEvent>
        <ram:InspectedUnitQuantity>1</ram:InspectedUnitQuantity>
      </ram:ExaminationTransportEvent>
      <ram:ApplicableCrossBorderGovernmentProcedure>
        <ram:UsedToDateQuotaQuantity unitCode="?">3</ram:UsedToDateQuotaQuantity>
        <ram:AnnualQuotaQuantity>10</ram:AnnualQuotaQuantity>
      </ram:ApplicableCrossBorderGovernmentProcedure>
    </ram:IncludedSupplyChainConsignmentItem>
    <ram:ImportTradeCountry><ram:ID>CH</ram:ID><ram:Name>Switzerland</ram:Name></ram:ImportTradeCountry>
  </rsm:SpecifiedSupplyChainConsignment>
</rsm:CBFShip>
"""


@pytest.fixture(scope="module")
def epix_v1(shared_data: Path) -> bytes:
    return (shared_data / "epix" / "epix_v1_GetNonFinalCitesCertificateResponse_CBFShip.xml").read_bytes()


@pytest.fixture(scope="module")
def v1_permit(epix_v1: bytes) -> Permit:
    return cbfship.from_bytes(epix_v1)


@pytest.fixture(scope="module")
def minimal_permit() -> Permit:
    return cbfship.from_bytes(MINIMAL_V1.encode("utf-8"))


def test_epix_v1_header_boxes(v1_permit: Permit) -> None:
    assert v1_permit.number == "XA000000"
    assert v1_permit.type == "R"
    assert v1_permit.purpose == "T"
    assert v1_permit.issued_at == datetime(2014, 1, 6, 12, 3, 52, tzinfo=CET)
    assert v1_permit.valid_until == datetime(2014, 7, 5, 12, 3, 52, tzinfo=CEST)
    assert v1_permit.key == "XA/XA000000"


def test_epix_v1_countries_come_from_country_identification(v1_permit: Permit) -> None:
    assert v1_permit.importer is not None and v1_permit.importer.address is not None
    assert v1_permit.exporter is not None and v1_permit.exporter.address is not None

    assert v1_permit.importer.address.country == "XB"
    assert v1_permit.importer.address.country_name == "Wonderland"
    assert v1_permit.exporter.address.country == "XA"
    assert v1_permit.issuing_party == "XA"


def test_epix_v1_items(v1_permit: Permit) -> None:
    first, second = v1_permit.items
    assert first.origin_permit is not None and second.last_reexport_document is not None

    assert first.scientific_name == "Alligator mississippiensis"
    assert second.scientific_name == "Crocodylus siamensis"
    assert (first.term, first.appendix, first.source) == ("LPS", "II", "W")
    assert (second.term, second.appendix, second.source) == ("LPS", "I", "D")
    assert first.quantity == Quantity(value=Decimal("5"), unit="PCS")
    assert second.quantity == Quantity(value=Decimal("10"), unit="PCS")
    assert first.origin_permit.id == "XC12345"
    assert second.last_reexport_document.id == "FR1202501030-R"


def test_epix_v1_and_v2_carry_the_same_permit(v1_permit: Permit, shared_data: Path) -> None:
    v2_data = (shared_data / "epix" / "epix_v2_GetNonFinalCitesCertificateResponse_CITESEPermit.xml").read_bytes()
    v2_permit = citesepermit.from_bytes(v2_data)

    # v1 has no shipping marks; everything else is the same in both messages.
    without_marks = [item.model_copy(update={"marks": []}) for item in v2_permit.items]

    assert v1_permit == v2_permit.model_copy(update={"items": without_marks})


def test_epix_v1_round_trips_through_v2(v1_permit: Permit) -> None:
    again = citesepermit.from_bytes(citesepermit.to_xml(v1_permit))

    assert again == v1_permit


def test_epix_v1_permit_element_validates_once_qualified(epix_v1: bytes) -> None:
    schema = compiled_schema(cbfship.SCHEMA_FILE)
    element = cbfship.find_permit_element(safexml.parse(epix_v1))

    qualified = citesepermit.qualify_root(element, cbfship.NAMESPACE)

    assert etree.QName(qualified).text == f"{{{cbfship.NAMESPACE}}}CBFShip"
    assert schema.validate(qualified), schema.error_log


def test_v1_schema_accepts_our_example() -> None:
    schema = compiled_schema(cbfship.SCHEMA_FILE)

    assert schema.validate(safexml.parse(MINIMAL_V1.encode("utf-8"))), schema.error_log


def test_v1_subdivision_is_read(minimal_permit: Permit) -> None:
    assert minimal_permit.exporter is not None and minimal_permit.exporter.address is not None

    assert minimal_permit.exporter.address.country == "CZ"
    assert minimal_permit.exporter.address.country_name == "Czechia"
    assert minimal_permit.exporter.address.country_subdivision == "Moravian-Silesian"


def test_v1_inspected_quantity_is_the_exported_quantity(minimal_permit: Permit) -> None:
    assert minimal_permit.items[0].exported_quantity == Quantity(value=Decimal("1"))


def test_v1_government_procedure_holds_the_quota(minimal_permit: Permit) -> None:
    item = minimal_permit.items[0]

    assert item.quota_used_to_date == Quantity(value=Decimal("3"))
    assert item.annual_quota == Quantity(value=Decimal("10"))


def test_v1_import_trade_country_fills_importer_country(minimal_permit: Permit) -> None:
    assert minimal_permit.importer is not None and minimal_permit.importer.address is not None

    assert minimal_permit.importer.name == "Importer"
    assert minimal_permit.importer.address.country == "CH"
    assert minimal_permit.importer.address.country_name == "Switzerland"


def test_v1_bad_country_is_rejected_with_v1_path() -> None:
    data = MINIMAL_V1.replace("<ram:ID>CZ</ram:ID>", "<ram:ID>cz</ram:ID>").encode("utf-8")

    with pytest.raises(InvalidMessage, match="country") as raised:
        cbfship.from_bytes(data)

    finding = raised.value.findings[0]
    assert finding.path.endswith("/PostalTradeAddress/CountryIdentificationTradeCountry/ID")
    assert finding.value == "cz"


def test_v1_reader_rejects_v2_root() -> None:
    data = b'<CITESEPermit xmlns="urn:un:unece:uncefact:data:standard:CITESEPermit:2"/>'

    with pytest.raises(InvalidMessage, match="CITESEPermit"):
        cbfship.from_xml(safexml.parse(data))
