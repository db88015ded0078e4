"""The two small documents the EPIX adapter carries through the hub: a certificate request and a quantities confirmation.

``permit.requested`` has a :class:`CertificateRequest` as payload: fetch permit NUMBER issued by
Party PARTY, as issued or in its final (endorsed) form, with the permit's security token when it
has one. ``permit.quantities_confirmed`` has a :class:`QuantitiesConfirmation`: the quantity
inspected on import for each position (block letter) of that permit.

Both identify the permit the way the permit itself does, in the RABIE aggregates of
CITESEPermit v2. ``HeaderExchangedDocument/ID`` is the permit number (box 1). The first
signatory (type A, the Management Authority) carries the token as its ``ID``, which is the
security stamp number of box 5b, and the issuing Party as
``ProviderTradeParty/PostalTradeAddress/CountryID``. So the hub's journal files these documents
under the permit they are about, as it does permits.

Both are our design (namespace :data:`NAMESPACE`), not part of any CITES standard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from lxml import etree

from hub import safexml
from hub.errors import InvalidMessage

NAMESPACE = "urn:cites-hub:data-exchange:1"
RAM_NAMESPACE = "urn:un:unece:uncefact:data:draft:ReusableAggregateBusinessInformationEntity:1"
REQUEST_ROOT = "CitesCertificateRequest"
CONFIRMATION_ROOT = "CitesQuantitiesConfirmation"

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_POSITION_ID = re.compile(r"^\S{1,35}$")
COUNTRY_EXPECTED = "an ISO 3166-1 alpha-2 code: two upper-case letters such as FR"


@dataclass(frozen=True)
class PermitReference:
    """The permit a document is about: issuing Party, number, and its security token if any."""

    party: str
    number: str
    token: str | None = field(default=None, repr=False)

    @property
    def key(self) -> str:
        return f"{self.party}/{self.number}"


@dataclass(frozen=True)
class CertificateRequest:
    """A request to fetch a permit from the Party that issued it; ``final`` requests it after export endorsement."""

    permit: PermitReference
    final: bool = False

    def to_xml(self) -> bytes:
        root = _root(REQUEST_ROOT, self.permit)
        _leaf(root, _tag("Final"), "true" if self.final else "false")
        return _serialize(root)


@dataclass(frozen=True)
class Position:
    """The quantity inspected on import for one position (block) of the permit."""

    id: str
    quantity: Decimal


@dataclass(frozen=True)
class QuantitiesConfirmation:
    """The importing Party's inspected quantities, reported to the Party that issued the permit."""

    permit: PermitReference
    positions: tuple[Position, ...]
    inspecting_party: str | None = None
    """The importing Party; set by the service that receives the confirmation, from the caller's certificate."""

    def to_xml(self) -> bytes:
        root = _root(CONFIRMATION_ROOT, self.permit)
        if self.inspecting_party:
            _leaf(root, _tag("InspectingCountryID"), self.inspecting_party)
        quantities = etree.SubElement(root, _tag("ConfirmedQuantities"))
        for position in self.positions:
            element = etree.SubElement(quantities, _tag("CitesPosition"))
            _leaf(element, _tag("ID"), position.id)
            _leaf(element, _tag("InspectedUnitQuantity"), format_quantity(position.quantity))
        return _serialize(root)


def format_quantity(quantity: Decimal) -> str:
    """Write a quantity without exponent or trailing zeros: 12, 0.5."""
    return format(quantity.normalize(), "f")


def check_reference(party: str, number: str, token: str | None = None) -> PermitReference:
    """Return the reference, or raise InvalidMessage naming the field that is invalid."""
    if not _COUNTRY.match(party or ""):
        raise InvalidMessage(f"issuing Party '{party}' is not valid; expected {COUNTRY_EXPECTED}")
    if not number or len(number) > 70:
        raise InvalidMessage(f"permit number '{number[:80]}' is not valid; expected 1 to 70 characters")
    return PermitReference(party=party, number=number, token=token or None)


def check_positions(positions: list[Position]) -> tuple[Position, ...]:
    """Return the positions, or raise InvalidMessage for none, a repeated or malformed ID, or a negative quantity."""
    if not positions:
        raise InvalidMessage("ConfirmedQuantities has no CitesPosition; expected one per position inspected")
    seen: set[str] = set()
    for position in positions:
        if not _POSITION_ID.match(position.id):
            raise InvalidMessage(f"CitesPosition ID '{position.id[:40]}' is not valid; expected the block letter "
                                 "of the permit item, 1 to 35 characters without white space, e.g. A")
        if position.id in seen:
            raise InvalidMessage(f"CitesPosition ID '{position.id}' occurs twice; expected each position once")
        if position.quantity < 0:
            raise InvalidMessage(f"CitesPosition {position.id} InspectedUnitQuantity '{position.quantity}' is "
                                 "negative; expected 0 or more")
        seen.add(position.id)
    return tuple(positions)


def parse_quantity(text: str, position_id: str) -> Decimal:
    try:
        quantity = Decimal(text)
    except InvalidOperation:
        raise InvalidMessage(f"CitesPosition {position_id} InspectedUnitQuantity '{text[:40]}' is not a number; "
                             "expected a decimal such as 12 or 0.5") from None
    if not quantity.is_finite():
        raise InvalidMessage(f"CitesPosition {position_id} InspectedUnitQuantity '{text[:40]}' is not a finite "
                             "number; expected a decimal such as 12 or 0.5")
    return quantity


# Reading.


def read_certificate_request(data: bytes) -> CertificateRequest:
    """Parse a certificate request with the hardened parser; InvalidMessage names what is wrong."""
    root = _parse_root(data, REQUEST_ROOT)
    final_text = _text(root, _tag("Final")) or "false"
    if final_text not in ("true", "false", "1", "0"):
        raise InvalidMessage(f"{REQUEST_ROOT}/Final '{final_text[:20]}' is not a boolean; expected true or false")
    return CertificateRequest(permit=_read_reference(root), final=final_text in ("true", "1"))


def read_quantities_confirmation(data: bytes) -> QuantitiesConfirmation:
    """Parse a quantities confirmation with the hardened parser; InvalidMessage names what is wrong."""
    root = _parse_root(data, CONFIRMATION_ROOT)
    positions = []
    for element in root.iterfind(f"{_tag('ConfirmedQuantities')}/{_tag('CitesPosition')}"):
        position_id = _text(element, _tag("ID")) or ""
        quantity = parse_quantity(_text(element, _tag("InspectedUnitQuantity")) or "", position_id)
        positions.append(Position(id=position_id, quantity=quantity))
    inspecting = _text(root, _tag("InspectingCountryID"))
    return QuantitiesConfirmation(permit=_read_reference(root), positions=check_positions(positions),
                                  inspecting_party=inspecting or None)


def _parse_root(data: bytes, name: str) -> etree._Element:
    root = safexml.parse(data)
    if root.tag != _tag(name):
        raise InvalidMessage(f"root element {etree.QName(root).text} is not a {name}; expected {_tag(name)}")
    return root


def _read_reference(root: etree._Element) -> PermitReference:
    header = root.find(_tag("HeaderExchangedDocument"))
    if header is None:
        raise InvalidMessage(f"{safexml.localname(root)} has no HeaderExchangedDocument; expected the permit "
                             "number and issuing Party in it")
    signatory = header.find(_ram("FirstSignatoryDocumentAuthentication"))
    number = _text(header, _ram("ID")) or ""
    token = _text(signatory, _ram("ID")) if signatory is not None else None
    country_path = "/".join(_ram(step) for step in ("ProviderTradeParty", "PostalTradeAddress", "CountryID"))
    party = (signatory.findtext(country_path) or "").strip() if signatory is not None else ""
    return check_reference(party, number, token)


def _text(parent: etree._Element, tag: str) -> str | None:
    value = parent.findtext(tag)
    return value.strip() if value is not None else None


# Writing.


def _root(name: str, permit: PermitReference) -> etree._Element:
    root = etree.Element(_tag(name), nsmap={"x": NAMESPACE, "ram": RAM_NAMESPACE})
    header = etree.SubElement(root, _tag("HeaderExchangedDocument"))
    _leaf(header, _ram("ID"), permit.number)
    signatory = etree.SubElement(header, _ram("FirstSignatoryDocumentAuthentication"))
    _leaf(signatory, _ram("TypeCode"), "A")
    if permit.token:
        _leaf(signatory, _ram("ID"), permit.token)
    party = etree.SubElement(signatory, _ram("ProviderTradeParty"))
    address = etree.SubElement(party, _ram("PostalTradeAddress"))
    _leaf(address, _ram("CountryID"), permit.party)
    return root


def _leaf(parent: etree._Element, tag: str, text: str) -> None:
    etree.SubElement(parent, tag).text = text


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _tag(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _ram(name: str) -> str:
    return f"{{{RAM_NAMESPACE}}}{name}"
