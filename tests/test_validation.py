"""Validation of permit messages: parse, namespace, XSD, mapping, code lists and business rules."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from hub import safexml
from hub.envelope import MessageType
from hub.errors import Finding, Severity
from hub.permit import Address, Permit, PermitItem, Quantity, Signatory, TradeParty
from hub.validation import ValidationResult, compiled_schema, validate, validate_permit
from mappings import cbfship, citesepermit

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO_ROOT / "examples" / "permits").glob("*.xml"))
EXPORT_EXAMPLE = REPO_ROOT / "examples" / "permits" / "export_permit_two_items.xml"
ISSUED = MessageType.PERMIT_ISSUED
ITEM_PATH = "/CITESEPermit/SpecifiedSupplyChainConsignment/IncludedSupplyChainConsignmentItem"
UTC = timezone.utc


def edited_export(*replacements: tuple[str, str]) -> bytes:
    """Return the export example with the first occurrence of each text replaced."""
    text = EXPORT_EXAMPLE.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text.encode("utf-8")


def errors(result: ValidationResult) -> list[Finding]:
    return [finding for finding in result.findings if finding.severity is Severity.ERROR]


def only_error(result: ValidationResult) -> Finding:
    found = errors(result)
    assert len(found) == 1, [str(finding) for finding in result.findings]
    return found[0]


def permit(**changes: object) -> Permit:
    """A valid export permit built in code; ``changes`` replace its fields."""
    base = Permit(
        number="26GH000001",
        type="E",
        issued_at=datetime(2026, 3, 2, 10, tzinfo=UTC),
        valid_until=datetime(2026, 9, 1, tzinfo=UTC),
        purpose="T",
        exporter=TradeParty(name="Exporter", address=Address(country="GH")),
        importer=TradeParty(name="Importer", address=Address(country="DE")),
        items=[
            PermitItem(
                line_id="A",
                scientific_name="Python regius",
                term="LIV",
                appendix="II",
                source="C",
                quantity=Quantity(value=Decimal("10")),
            )
        ],
    )
    return base.model_copy(update=changes)


def item(**changes: object) -> PermitItem:
    return permit().items[0].model_copy(update=changes)


@pytest.fixture(scope="module")
def epix_v2_payload(shared_data: Path) -> bytes:
    data = (shared_data / "epix" / "epix_v2_GetNonFinalCitesCertificateResponse_CITESEPermit.xml").read_bytes()
    return etree.tostring(citesepermit.find_permit_element(safexml.parse(data)))


@pytest.fixture(scope="module")
def epix_v1_payload(shared_data: Path) -> bytes:
    data = (shared_data / "epix" / "epix_v1_GetNonFinalCitesCertificateResponse_CBFShip.xml").read_bytes()
    return etree.tostring(cbfship.find_permit_element(safexml.parse(data)))


# Accepted messages.


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_examples_are_accepted_without_findings(path: Path) -> None:
    result = validate(path.read_bytes(), ISSUED)

    assert result.ok
    assert result.findings == []
    assert result.permit is not None
    assert result.schema == citesepermit.NAMESPACE


def test_examples_cover_export_import_and_reexport() -> None:
    types = sorted(citesepermit.from_bytes(path.read_bytes()).type for path in EXAMPLES)

    assert types == ["E", "I", "R"]


def test_epix_v2_payload_is_accepted_with_a_note(epix_v2_payload: bytes) -> None:
    result = validate(epix_v2_payload, ISSUED)

    assert result.ok
    assert result.schema == citesepermit.NAMESPACE
    assert result.permit is not None
    assert result.permit.number == "XA000000"
    assert [finding.severity for finding in result.findings] == [Severity.INFO]
    assert "has no namespace" in result.findings[0].message


def test_epix_v2_payload_qualified_is_accepted_without_findings(epix_v2_payload: bytes) -> None:
    qualified = etree.tostring(citesepermit.qualify_root(safexml.parse(epix_v2_payload)))

    result = validate(qualified, ISSUED)

    assert result.ok
    assert result.findings == []


def test_epix_v1_payload_is_accepted(epix_v1_payload: bytes) -> None:
    result = validate(epix_v1_payload, ISSUED)

    assert result.ok
    assert result.schema == cbfship.NAMESPACE
    assert result.permit is not None
    assert result.permit.items[1].scientific_name == "Crocodylus siamensis"


def test_endorsed_permit_is_validated_like_an_issued_one() -> None:
    result = validate(EXPORT_EXAMPLE.read_bytes(), MessageType.PERMIT_ENDORSED)

    assert result.ok
    assert result.permit is not None


def test_message_type_without_permit_payload_is_only_parsed() -> None:
    result = validate(b"<ack/>", MessageType.ACK)

    assert result.ok
    assert result.permit is None
    assert [finding.severity for finding in result.findings] == [Severity.INFO]


def test_schema_is_compiled_once() -> None:
    assert compiled_schema(citesepermit.SCHEMA_FILE) is compiled_schema(citesepermit.SCHEMA_FILE)


# Rejected by the parser.


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<CITESEPermit><unclosed></CITESEPermit>", "malformed XML"),
        (b"", "empty"),
        (b"\x00\xff\xfe garbage", "malformed XML"),
        (b'<!DOCTYPE x SYSTEM "x.dtd"><x/>', "DTD"),
        (b'<!DOCTYPE x [<!ENTITY big "boom">]><x>&big;</x>', "DTD"),
        (b"<a>" * 100 + b"</a>" * 100, "deeper than"),
    ],
    ids=["malformed", "empty", "binary", "external-dtd", "entity", "too-deep"],
)
def test_unsafe_or_malformed_document_is_rejected(data: bytes, reason: str) -> None:
    result = validate(data, ISSUED)

    finding = only_error(result)
    assert reason in finding.message
    assert finding.path == "/"
    assert result.permit is None


def test_text_with_encoding_declaration_is_rejected() -> None:
    text = EXPORT_EXAMPLE.read_text(encoding="utf-8")

    result = validate(text, ISSUED)  # type: ignore[arg-type]

    finding = only_error(result)
    assert "bytes, not str" in finding.message


# Rejected for the namespace.


def test_wrong_namespace_is_rejected_naming_both() -> None:
    data = edited_export(
        ('xmlns:rsm="urn:un:unece:uncefact:data:standard:CITESEPermit:2"', 'xmlns:rsm="urn:example:permit:9"'),
    )

    result = validate(data, ISSUED)

    finding = only_error(result)
    assert finding.path == "/CITESEPermit"
    assert finding.value == "{urn:example:permit:9}CITESEPermit"
    assert "urn:example:permit:9" in finding.message
    assert citesepermit.NAMESPACE in finding.message
    assert cbfship.NAMESPACE in finding.message


def test_soap_envelope_is_rejected_with_a_hint(shared_data: Path) -> None:
    data = (shared_data / "epix" / "epix_v2_GetNonFinalCitesCertificateResponse_CITESEPermit.xml").read_bytes()

    result = validate(data, ISSUED)

    finding = only_error(result)
    assert "SOAP body" in finding.message


# Rejected by the schema.


def test_impossible_date_is_rejected_with_path_and_value() -> None:
    data = edited_export(("2026-09-01T23:59:59+00:00", "2026-02-30T23:59:59+00:00"))

    result = validate(data, ISSUED)

    finding = only_error(result)
    assert finding.path == "/CITESEPermit/HeaderExchangedDocument/EffectiveSpecifiedPeriod/EndDateTime"
    assert finding.value == "2026-02-30T23:59:59+00:00"
    assert finding.expected == citesepermit.DATE_TIME_EXPECTED
    assert finding.message.startswith("line ")


def test_each_schema_error_is_one_finding() -> None:
    data = edited_export(
        ("<ram:ItemQuantity>150<", "<ram:ItemQuantity>lots<"),
        ("<ram:CopyIndicator>false<", "<ram:CopyIndicator>no<"),
    )

    result = validate(data, ISSUED)

    paths = [finding.path for finding in errors(result)]
    assert paths == [
        "/CITESEPermit/HeaderExchangedDocument/CopyIndicator",
        f"{ITEM_PATH}[1]/TransportLogisticsPackage/ItemQuantity",
    ]
    assert [finding.value for finding in errors(result)] == ["no", "lots"]


def test_unknown_element_is_rejected_with_expected_elements() -> None:
    data = edited_export(("<ram:Name>Export permit</ram:Name>", "<ram:Title>Export permit</ram:Title>"))

    result = validate(data, ISSUED)

    finding = only_error(result)
    assert finding.path == "/CITESEPermit/HeaderExchangedDocument/Title"
    assert finding.expected is not None
    assert "ram:TypeCode" in finding.expected


def test_schema_paths_resolve_in_a_default_namespace_document() -> None:
    data = (
        b'<CITESEPermit xmlns="urn:un:unece:uncefact:data:standard:CITESEPermit:2">'
        b"<HeaderExchangedDocument><Surprise/></HeaderExchangedDocument>"
        b"<SpecifiedSupplyChainConsignment/></CITESEPermit>"
    )

    result = validate(data, ISSUED)

    assert only_error(result).path == "/CITESEPermit/HeaderExchangedDocument/Surprise"


# Rejected by the mapping.


def test_missing_scientific_name_is_rejected() -> None:
    data = edited_export(("<ram:ScientificName>Python regius</ram:ScientificName>", ""))

    result = validate(data, ISSUED)

    finding = only_error(result)
    assert finding.path == f"{ITEM_PATH}[1]/IncludedSupplyChainTradeLineItem/SpecifiedTradeProduct/ScientificName"
    assert "ScientificName is missing" in finding.message
    assert result.permit is None


def test_permit_without_items_is_rejected() -> None:
    text = EXPORT_EXAMPLE.read_text(encoding="utf-8")
    start = text.index("    <ram:IncludedSupplyChainConsignmentItem>")
    end = text.index("  </rsm:SpecifiedSupplyChainConsignment>")
    data = (text[:start] + text[end:]).encode("utf-8")

    result = validate(data, ISSUED)

    finding = only_error(result)
    assert finding.path == ITEM_PATH
    assert "no item" in finding.message


def test_overlong_permit_number_is_reported_by_field() -> None:
    data = edited_export(("<ram:ID>26GH004512</ram:ID>", f"<ram:ID>{'7' * 71}</ram:ID>"))

    result = validate(data, ISSUED)

    finding = only_error(result)
    assert finding.path == "number"
    assert finding.value == "7" * 71


# Rejected by the code lists.


@pytest.mark.parametrize(
    ("old", "new", "path", "value"),
    [
        ("<ram:TypeCode>E</ram:TypeCode>", "<ram:TypeCode>X</ram:TypeCode>", "type", "X"),
        ("<ram:PurposeCode>T</ram:PurposeCode>", "<ram:PurposeCode>K</ram:PurposeCode>", "purpose", "K"),
        ("<ram:TypeCode>LIV</ram:TypeCode>", "<ram:TypeCode>LVE</ram:TypeCode>", "items[0].term", "LVE"),
        ("<ram:ItemQuantity>150", '<ram:ItemQuantity unitCode="KGS">150', "items[0].quantity.unit", "KGS"),
        ("<ram:TypeCode>II</ram:TypeCode>", "<ram:TypeCode>IV</ram:TypeCode>", "items[0].appendix", "IV"),
        ("<ram:TypeExtensionCode>C<", "<ram:TypeExtensionCode>Z<", "items[0].source", "Z"),
    ],
    ids=["permit_type", "purpose", "term", "unit", "appendix", "source"],
)
def test_unknown_code_is_rejected_with_its_path(old: str, new: str, path: str, value: str) -> None:
    result = validate(edited_export((old, new)), ISSUED)

    finding = only_error(result)
    assert finding.path == path
    assert finding.value == value
    assert f"'{value}' is not a CITES" in finding.message
    assert finding.expected
    assert result.permit is not None


def test_unknown_term_names_the_item_letter() -> None:
    found = validate_permit(permit(items=[item(line_id="B", term="XYZ")]))

    assert found[0].message.startswith("item B term 'XYZ' is not a CITES term code")


def test_unknown_unit_of_exported_quantity_is_rejected() -> None:
    found = validate_permit(permit(items=[item(exported_quantity=Quantity(value=Decimal("3"), unit="LBS"))]))

    assert [finding.path for finding in found] == ["items[0].exported_quantity.unit"]


def test_unknown_signatory_role_is_rejected() -> None:
    found = validate_permit(permit(signatories=[Signatory(role="A"), Signatory(role="Z"), Signatory(role="A")]))

    assert [(finding.path, finding.value) for finding in found] == [
        ("signatories[1].role", "Z"),
        ("signatories[2].role", "A"),
    ]


# Business rules.


def test_negative_quantity_is_rejected() -> None:
    data = edited_export(("<ram:ItemQuantity>40<", "<ram:ItemQuantity>-5<"))

    result = validate(data, ISSUED)

    finding = only_error(result)
    assert finding.path == "items[1].quantity.value"
    assert finding.value == "-5"
    assert "item B quantity '-5' must be positive" in finding.message


def test_zero_quantity_is_rejected() -> None:
    found = validate_permit(permit(items=[item(quantity=Quantity(value=Decimal("0")))]))

    assert [finding.path for finding in found] == ["items[0].quantity.value"]


def test_zero_exported_quantity_is_allowed() -> None:
    found = validate_permit(permit(items=[item(exported_quantity=Quantity(value=Decimal("0")))]))

    assert found == []


def test_negative_quota_is_rejected() -> None:
    found = validate_permit(permit(items=[item(annual_quota=Quantity(value=Decimal("-1")))]))

    assert [finding.path for finding in found] == ["items[0].annual_quota.value"]


def test_export_permit_valid_over_six_months_is_rejected() -> None:
    data = edited_export(("2026-09-01T23:59:59+00:00", "2026-10-01T00:00:00+00:00"))

    result = validate(data, ISSUED)

    finding = only_error(result)
    assert finding.path == "valid_until"
    assert finding.value == "2026-10-01T00:00:00+00:00"
    assert "more than 6 months" in finding.message
    assert finding.expected == "at most 2026-09-02T10:15:00+00:00"


@pytest.mark.parametrize(
    ("permit_type", "valid_until", "accepted"),
    [
        ("E", datetime(2026, 9, 2, 10, tzinfo=UTC), True),
        ("E", datetime(2026, 9, 2, 10, 0, 1, tzinfo=UTC), False),
        ("R", datetime(2026, 9, 3, tzinfo=UTC), False),
        ("I", datetime(2027, 3, 2, 10, tzinfo=UTC), True),
        ("I", datetime(2027, 3, 3, tzinfo=UTC), False),
        ("O", datetime(2029, 1, 1, tzinfo=UTC), True),
    ],
)
def test_maximum_validity_depends_on_permit_type(permit_type: str, valid_until: datetime, accepted: bool) -> None:
    found = validate_permit(permit(type=permit_type, valid_until=valid_until))

    assert (found == []) is accepted


def test_validity_is_counted_in_calendar_months() -> None:
    issued = datetime(2026, 8, 31, 12, tzinfo=UTC)

    within = validate_permit(permit(issued_at=issued, valid_until=datetime(2027, 2, 28, 12, tzinfo=UTC)))
    beyond = validate_permit(permit(issued_at=issued, valid_until=datetime(2027, 3, 1, tzinfo=UTC)))

    assert within == []
    assert [finding.path for finding in beyond] == ["valid_until"]


def test_valid_until_before_issue_is_rejected() -> None:
    found = validate_permit(permit(valid_until=datetime(2026, 3, 1, tzinfo=UTC)))

    assert [finding.path for finding in found] == ["valid_until"]
    assert "is not after issued_at" in found[0].message


def test_valid_until_before_valid_from_is_rejected() -> None:
    found = validate_permit(permit(valid_from=datetime(2026, 9, 1, tzinfo=UTC)))

    assert [finding.path for finding in found] == ["valid_until"]
    assert "is not after valid_from" in found[0].message


def test_offsets_are_respected_when_comparing_dates() -> None:
    plus_two = timezone(timedelta(hours=2))

    # 2026-09-02T11:30+02:00 is 09:30 UTC, before the six-month limit of 10:00 UTC.
    found = validate_permit(permit(valid_until=datetime(2026, 9, 2, 11, 30, tzinfo=plus_two)))

    assert found == []


def test_date_without_offset_is_compared_as_utc() -> None:
    found = validate_permit(permit(valid_until=datetime(2026, 9, 3)))

    assert [finding.path for finding in found] == ["valid_until"]


def test_duplicate_line_ids_are_rejected() -> None:
    found = validate_permit(permit(items=[item(), item(scientific_name="Python sebae"), item(line_id="B")]))

    assert [(finding.path, finding.value) for finding in found] == [("items[1].line_id", "A")]


def test_same_importer_and_exporter_country_is_a_warning() -> None:
    importer = TradeParty(name="Importer", address=Address(country="GH"))

    found = validate_permit(permit(importer=importer))

    assert [(finding.severity, finding.path, finding.value) for finding in found] == [
        (Severity.WARNING, "importer.address.country", "GH")
    ]


def test_warning_keeps_the_message_accepted() -> None:
    data = edited_export(("<ram:CountryID>DE</ram:CountryID>", "<ram:CountryID>GH</ram:CountryID>"))

    result = validate(data, ISSUED)

    assert result.ok
    assert [finding.severity for finding in result.findings] == [Severity.WARNING]


def test_missing_validity_and_purpose_are_warnings() -> None:
    found = validate_permit(permit(valid_until=None, purpose=None))

    assert sorted((finding.severity, finding.path) for finding in found) == [
        (Severity.WARNING, "purpose"),
        (Severity.WARNING, "valid_until"),
    ]


def test_valid_permit_built_in_code_has_no_findings() -> None:
    assert validate_permit(permit()) == []
