"""The Customs permit feed: built from the canonical permit, valid against its XSD, read back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from lxml import etree

import schemas
from hub import safexml
from hub.envelope import MessageType
from hub.errors import InvalidMessage, UnsafeXML
from hub.permit import Address, Permit, PermitItem, Quantity, Signatory, TradeParty
from mappings import customs_lpco

ISSUED_AT = datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=1)))
PERMIT_ACTIONS = [
    (MessageType.PERMIT_ISSUED, "issued", "valid"),
    (MessageType.PERMIT_AMENDED, "amended", "valid"),
    (MessageType.PERMIT_CANCELLED, "cancelled", "cancelled"),
    (MessageType.PERMIT_REPLACED, "replaced", "replaced"),
]


def make_item(line_id: str = "A", **changes: object) -> PermitItem:
    fields: dict[str, object] = {
        "line_id": line_id,
        "scientific_name": "Crocodylus niloticus",
        "common_name": "Nile crocodile",
        "term": "SKI",
        "appendix": "II",
        "source": "C",
        "quantity": Quantity(value=Decimal("12"), unit="PCS"),
        "origin_country": "ZW",
    }
    fields.update(changes)
    return PermitItem(**fields)


def make_permit(*items: PermitItem, **changes: object) -> Permit:
    authority = TradeParty(name="Management Authority of Ghana", address=Address(country="GH"))
    fields: dict[str, object] = {
        "number": "GH2026000123",
        "type": "E",
        "name": "Export permit",
        "issued_at": ISSUED_AT,
        "valid_from": ISSUED_AT,
        "valid_until": ISSUED_AT + timedelta(days=180),
        "purpose": "T",
        "exporter": TradeParty(name="Accra Leather Ltd", address=Address(country="GH")),
        "importer": TradeParty(name="Maroquinerie de Lyon", address=Address(country="FR")),
        "signatories": [Signatory(role="A", id="ST-0042", party=authority)],
        "items": list(items) or [make_item()],
    }
    fields.update(changes)
    return Permit(**fields)


def build(permit: Permit, message_type: MessageType = MessageType.PERMIT_ISSUED) -> bytes:
    return customs_lpco.to_feed(permit, message_type, message_id="msg-1", correlation_id="conv-1")


@pytest.mark.parametrize(("message_type", "action", "status"), PERMIT_ACTIONS)
def test_feed_is_valid_for_each_action(message_type: MessageType, action: str, status: str) -> None:
    permit = make_permit()

    feed = customs_lpco.from_feed(build(permit, message_type))

    assert feed["action"] == action
    assert feed["status"] == status


def test_feed_validates_against_the_shipped_xsd_file() -> None:
    schema = etree.XMLSchema(safexml.parse(schemas.path(customs_lpco.SCHEMA_FILE).read_bytes()))

    document = safexml.parse(build(make_permit()))

    assert schema.validate(document), schema.error_log


def test_feed_carries_header_data_customs_needs() -> None:
    permit = make_permit()

    feed = customs_lpco.from_feed(build(permit))

    assert feed["message_id"] == "msg-1"
    assert feed["correlation_id"] == "conv-1"
    assert feed["permit_number"] == "GH2026000123"
    assert feed["permit_type"] == "E"
    assert feed["purpose"] == "T"
    assert feed["issued_at"] == ISSUED_AT
    assert feed["valid_until"] == ISSUED_AT + timedelta(days=180)
    assert feed["issuing_authority"] == {"name": "Management Authority of Ghana", "country": "GH"}
    assert feed["export_country"] == "GH"
    assert feed["import_country"] == "FR"
    assert feed["exporter"] == {"name": "Accra Leather Ltd", "country": "GH"}
    assert feed["importer"] == {"name": "Maroquinerie de Lyon", "country": "FR"}


def test_feed_carries_each_line() -> None:
    permit = make_permit(make_item("A"), make_item("B", term="MEA", quantity=Quantity(value=Decimal("2.5"), unit="KIL")))

    lines = customs_lpco.from_feed(build(permit))["lines"]

    assert [line["line_id"] for line in lines] == ["A", "B"]
    assert lines[0]["scientific_name"] == "Crocodylus niloticus"
    assert lines[0]["common_name"] == "Nile crocodile"
    assert lines[0]["appendix"] == "II"
    assert lines[0]["source"] == "C"
    assert lines[0]["origin_country"] == "ZW"
    assert lines[1]["term"] == "MEA"
    assert lines[1]["quantity"] == Decimal("2.5")
    assert lines[1]["unit"] == "KIL"


def test_quantity_without_unit_counts_specimens() -> None:
    permit = make_permit(make_item(quantity=Quantity(value=Decimal("3"))))

    line = customs_lpco.from_feed(build(permit))["lines"][0]

    assert line["quantity"] == Decimal("3")
    assert line["unit"] is None


def test_exponent_quantity_is_written_plain() -> None:
    permit = make_permit(make_item(quantity=Quantity(value=Decimal("1E+3"), unit="KIL")))

    data = build(permit)

    assert b">1000</Quantity>" in data


def test_same_input_gives_same_bytes() -> None:
    permit = make_permit()

    first, second = build(permit), build(permit)

    assert first == second


def test_export_country_falls_back_to_issuing_party() -> None:
    permit = make_permit(exporter=TradeParty(name="Accra Leather Ltd"))

    feed = customs_lpco.from_feed(build(permit))

    assert feed["export_country"] == "GH"


def test_import_permit_takes_import_country_from_issuing_party() -> None:
    permit = make_permit(type="I", importer=TradeParty(name="Maroquinerie de Lyon"), signatories=[], issuing_party_code="FR")

    feed = customs_lpco.from_feed(build(permit))

    assert feed["import_country"] == "FR"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"appendix": "I"}, "APPENDIX_I"),
        ({"source": "W"}, "SOURCE_WILD"),
        ({"source": "U"}, "SOURCE_UNKNOWN"),
        ({"source": "I"}, "SOURCE_CONFISCATED"),
        ({"source": "O"}, "SOURCE_PRE_CONVENTION"),
        ({"term": "LIV"}, "LIVE_SPECIMENS"),
    ],
)
def test_risk_rule_raises_its_flag(changes: dict[str, str], code: str) -> None:
    permit = make_permit(make_item("B", **changes))

    flags = customs_lpco.from_feed(build(permit))["risk_flags"]

    assert [flag["code"] for flag in flags] == [code]
    assert flags[0]["line_id"] == "B"
    assert "Crocodylus niloticus" in flags[0]["reason"]


def test_live_wild_appendix_i_line_raises_three_flags() -> None:
    permit = make_permit(make_item(appendix="I", source="W", term="LIV"))

    flags = customs_lpco.risk_flags(permit)

    assert [flag.code for flag in flags] == ["APPENDIX_I", "SOURCE_WILD", "LIVE_SPECIMENS"]


def test_permit_without_risk_keeps_an_empty_flags_container() -> None:
    permit = make_permit()

    data = build(permit)

    assert customs_lpco.from_feed(data)["risk_flags"] == []
    assert b"<RiskFlags/>" in data


def test_non_permit_message_type_is_rejected() -> None:
    permit = make_permit()

    with pytest.raises(InvalidMessage, match="message_type 'permit.endorsed'"):
        build(permit, MessageType.PERMIT_ENDORSED)


def test_value_outside_feed_schema_names_its_element() -> None:
    permit = make_permit(make_item("A"), make_item("B", term="SKINS"))

    with pytest.raises(InvalidMessage, match=r"Line\[2\]/TermCode") as caught:
        build(permit)

    assert caught.value.findings[0].path == "/PermitFeed/LPCO/Line[2]/TermCode"
    assert "SKINS" in caught.value.findings[0].message


def test_document_missing_a_required_element_is_invalid() -> None:
    data = build(make_permit()).replace(b"<Action>issued</Action>", b"")

    with pytest.raises(InvalidMessage, match="Action"):
        customs_lpco.from_feed(data)


def test_document_with_other_root_is_rejected() -> None:
    data = customs_lpco.to_acknowledgement("accepted")

    with pytest.raises(InvalidMessage, match="expected 'PermitFeed'"):
        customs_lpco.from_feed(data)


def test_document_with_dtd_is_rejected_as_unsafe() -> None:
    data = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><PermitFeed>&e;</PermitFeed>'

    with pytest.raises(UnsafeXML, match="DTD|entit"):
        customs_lpco.from_feed(data)


def test_acknowledgement_round_trip() -> None:
    data = customs_lpco.to_acknowledgement(
        "rejected", message_id="msg-1", permit_number="GH2026000123", reasons=["first", "second"]
    )

    acknowledgement = customs_lpco.from_acknowledgement(data)

    assert acknowledgement == {
        "status": "rejected",
        "message_id": "msg-1",
        "permit_number": "GH2026000123",
        "reference": None,
        "reasons": ["first", "second"],
    }


def test_xsd_annotations_name_format_and_wco_ids() -> None:
    text = schemas.path(customs_lpco.SCHEMA_FILE).read_text(encoding="utf-8")

    assert "the cites-hub's own format" in text
    for wco_id in ("D013", "D014", "WCO 017"):
        assert wco_id in text
