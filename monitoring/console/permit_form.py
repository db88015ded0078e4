"""A permit as the standard form of Res. Conf. 12.3 lays it out: boxes 1 to 15.

Boxes 1 to 6 and 13 to 15 describe the document. Boxes 7 to 12b repeat for each item (block A,
B, ...), and so does box 14 with the quantity Customs endorsed. The permit shown is read from
the journaled CITESEPermit bytes with the same mapping the hub validates with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select

from hub.envelope import MessageType
from hub.errors import InvalidMessage
from hub.journal import Journal, MessageRecord, MessageStatus
from hub.journal.tables import permit_usage, permits
from hub.permit import Address, Permit, PermitItem, Quantity, ReferencedDocument, TradeParty
from mappings import citesepermit

PERMIT_TYPES = {"E": "Export", "R": "Re-export", "I": "Import", "O": "Other"}
CARRIES_PERMIT = {MessageType.PERMIT_ISSUED, MessageType.PERMIT_AMENDED, MessageType.PERMIT_REPLACED}


@dataclass(frozen=True)
class Box:
    number: str
    caption: str
    lines: list[str]


@dataclass(frozen=True)
class ItemBlock:
    line_id: str
    boxes: list[Box]


@dataclass(frozen=True)
class PermitForm:
    """The boxes of one permit, or why it could not be read."""

    message: MessageRecord | None
    header: list[Box]
    items: list[ItemBlock]
    footer: list[Box]
    problem: str | None = None


@dataclass(frozen=True)
class PermitState:
    """The permits table's row: the lifecycle state and what the permit allows and was used for."""

    state: str
    updated_at: datetime
    valid_until: datetime | None
    usage: list[dict[str, Any]]


def source_message(journal: Journal, party: str | None, number: str) -> MessageRecord | None:
    """The message carrying the permit's current version: the newest accepted issue, amendment or replacement.

    A permit whose every such message was rejected is shown from the newest rejected one.
    """
    records = [record for record in journal.messages_for_permit(party, number)
               if record.envelope.message_type in CARRIES_PERMIT]
    accepted = [record for record in records if record.status != MessageStatus.REJECTED]
    return (accepted or records or [None])[-1]


def permit_form(journal: Journal, party: str | None, number: str) -> PermitForm:
    message = source_message(journal, party, number)
    if message is None:
        return PermitForm(None, [], [], [], problem="no issue, amendment or replacement of this permit is journaled")
    try:
        permit = citesepermit.from_bytes(message.payload)
    except InvalidMessage as error:
        return PermitForm(message, [], [], [], problem=f"the journaled document cannot be read as a permit: {error}")
    return PermitForm(message, header_boxes(permit), [ItemBlock(item.line_id, item_boxes(item)) for item in permit.items],
                      footer_boxes(permit))


def header_boxes(permit: Permit) -> list[Box]:
    importer_country = permit.importer.address if permit.importer else None
    return [
        Box("1", "Permit/certificate No.", [permit.number, _permit_type(permit), *_optional(permit.name),
                                            *(["copy"] if permit.copy_indicator else [])]),
        Box("2", "Valid until", [_date(permit.valid_until)] + ([f"valid from {_date(permit.valid_from)}"]
                                                               if permit.valid_from else [])),
        Box("3", "Importer", _party(permit.importer)),
        Box("3a", "Country of import", [_country(importer_country)]),
        Box("4", "Exporter/re-exporter", _party(permit.exporter)),
        Box("5", "Special conditions", permit.special_conditions or ["–"]),
        Box("5a", "Purpose of the transaction", [" – ".join(filter(None, [permit.purpose, permit.purpose_text]))
                                                 or "–"]),
        Box("5b", "Security stamp No.", [permit.security_stamp or "–"]),
        Box("6", "Management Authority", _party(permit.management_authority)),
    ]


def item_boxes(item: PermitItem) -> list[Box]:
    return [
        Box("7", "Scientific name", [item.scientific_name]),
        Box("8", "Common name", [item.common_name or "–"]),
        Box("9", "Description of specimens", [f"term {item.term}", *_optional(item.description),
                                              *[f"marks: {mark}" for mark in item.marks]]),
        Box("10", "Appendix and source", [f"Appendix {item.appendix}, source {item.source}"]),
        Box("11", "Quantity", [_quantity(item.quantity)]),
        Box("11a", "Total exported / quota", [f"{_quantity(item.quota_used_to_date)} / {_quantity(item.annual_quota)}"]),
        Box("12", "Country of origin, permit, date", [_country_document(item.origin_country, item.origin_permit)]),
        Box("12a", "Country of last re-export, certificate, date",
            [_country_document(item.last_reexport_country, item.last_reexport_document)]),
        Box("12b", "No. of the operation / date of acquisition",
            [" – ".join(filter(None, [item.operation_category, _date(item.acquired_at) if item.acquired_at else None,
                                      _document(item.previous_document)])) or "–"]),
        Box("14", "Quantity actually exported", [_quantity(item.exported_quantity) if item.exported_quantity else "–"]),
    ]


def footer_boxes(permit: Permit) -> list[Box]:
    official = permit.signatory("C")
    endorsement = permit.endorsement
    endorsed = ["–"]
    if endorsement is not None:
        endorsed = [line for line in [_date(endorsement.endorsed_at) if endorsement.endorsed_at else None,
                                      " ".join(filter(None, [endorsement.port, endorsement.port_name])) or None,
                                      endorsement.office.name if endorsement.office else None] if line] or ["–"]
    return [
        Box("13", "Issued by", [line for line in [permit.issue_place, _date(permit.issued_at) if permit.issued_at else None,
                                                  _signatory_name(official)] if line] or ["–"]),
        Box("14", "Export endorsement", endorsed),
        Box("15", "Bill of lading / air waybill No.", [permit.transport_document or "–"]),
    ]


def permit_state(journal: Journal, party: str | None, number: str) -> PermitState | None:
    """Read the permit's lifecycle row and the usage Customs reported; None when the journal has no row."""
    if party is None:
        return None
    key = and_(permits.c.permit_party == party, permits.c.permit_number == number)
    usage_key = and_(permit_usage.c.permit_party == party, permit_usage.c.permit_number == number)
    with journal.engine.connect() as connection:
        row = connection.execute(select(permits).where(key)).first()
        usage = connection.execute(select(permit_usage).where(usage_key).order_by(permit_usage.c.used_at)).all()
    if row is None:
        return None
    return PermitState(row.state, row.updated_at, row.valid_until, [dict(line._mapping) for line in usage])


def _permit_type(permit: Permit) -> str:
    return f"{PERMIT_TYPES.get(permit.type, permit.type)} ({permit.type})"


def _optional(value: str | None) -> list[str]:
    return [value] if value else []


def _date(value: datetime | None) -> str:
    return value.date().isoformat() if value else "–"


def _party(party: TradeParty | None) -> list[str]:
    if party is None:
        return ["–"]
    lines = [line for line in [party.name, party.id and f"ID {party.id}"] if line]
    return lines + _address(party.address) + _optional(party.representative) or ["–"]


def _address(address: Address | None) -> list[str]:
    if address is None:
        return []
    street = " ".join(filter(None, [address.street, address.post_office_box]))
    town = " ".join(filter(None, [address.postcode, address.city, address.country_subdivision]))
    return [line for line in [street, town, _country(address)] if line]


def _country(address: Address | None) -> str:
    if address is None or not (address.country or address.country_name):
        return "–"
    return " ".join(filter(None, [address.country_name, f"({address.country})" if address.country else None]))


def _quantity(quantity: Quantity | None) -> str:
    if quantity is None:
        return "–"
    return f"{quantity.value.normalize():f} {quantity.unit or 'specimens'}"


def _document(document: ReferencedDocument | None) -> str | None:
    if document is None:
        return None
    issued = f"of {_date(document.issued_at)}" if document.issued_at else None
    return " ".join(filter(None, [document.id, document.name, issued])) or None


def _country_document(country: str | None, document: ReferencedDocument | None) -> str:
    return " – ".join(filter(None, [country, _document(document)])) or "–"


def _signatory_name(signatory: Any) -> str | None:
    if signatory is None or signatory.party is None:
        return None
    return signatory.party.name
