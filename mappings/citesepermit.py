"""CITESEPermit v2 XML (UN/CEFACT, CITES Electronic Permitting Toolkit v2) ⇄ :class:`Permit`.

The root ``CITESEPermit`` is in :data:`NAMESPACE`, its three children too, and everything below
them is in the RABIE namespace :data:`RAM_NAMESPACE`. Inside an EPIX SOAP response the root
appears without a namespace while its children keep theirs. :func:`from_xml` accepts both forms,
and :func:`qualify_root` returns the qualified form that the schema
``citesepermit/CITESEPermit_2.xsd`` expects.

Reading rules: an empty element or attribute counts as absent, and so does the ``?`` placeholder
that exchanged permits leave in attributes. Where the XML allows several elements and the model
has one value, the first non-empty element wins. Date-times keep their UTC offset, quantities
become ``Decimal`` and identifiers stay strings. Every problem found while reading is collected
and raised at the end as one :class:`InvalidMessage`, whose findings carry the XML path of the
element, the value read and the expected form.
"""

from __future__ import annotations

import copy
import logging
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, Iterable

from lxml import etree
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from hub import safexml
from hub.errors import Finding, InvalidMessage, Severity
from hub.permit import (
    COUNTRY_PATTERN,
    Address,
    Endorsement,
    Permit,
    PermitItem,
    Quantity,
    ReferencedDocument,
    Signatory,
    TradeParty,
)

logger = logging.getLogger(__name__)

NAMESPACE = "urn:un:unece:uncefact:data:standard:CITESEPermit:2"
RAM_NAMESPACE = "urn:un:unece:uncefact:data:draft:ReusableAggregateBusinessInformationEntity:1"
ROOT_NAME = "CITESEPermit"
SCHEMA_FILE = "citesepermit/CITESEPermit_2.xsd"

# UN/EDIFACT 1001 document name codes used for an item's associated documents: 861 is the
# permit of the country of origin (box 12) and 811 the last re-export certificate (box 12a).
# Some senders use the permit type letters instead (E for the origin export permit, R for the
# re-export certificate), so the reader accepts both. The writer uses the first code of each.
ORIGIN_PERMIT_CODES = ("861", "E")
LAST_REEXPORT_CODES = ("811", "R")

# Signatory roles in the order of the header elements that carry them: A is the Management
# Authority (boxes 5b and 6) and C the official who signed the permit (box 13).
SIGNATORY_ELEMENTS = {
    "A": "FirstSignatoryDocumentAuthentication",
    "B": "SecondSignatoryDocumentAuthentication",
    "C": "ThirdSignatoryDocumentAuthentication",
    "D": "FourthSignatoryDocumentAuthentication",
}

# The business-routing context that the toolkit fixes for every CITES e-permit.
CONTEXT_VALUE = "CITES PERMITTING"
CONTEXT_VERSION = "1"

PLACEHOLDER = "?"

_DATE_TIME = re.compile(
    r"(?P<date>-?\d{4,}-\d{2}-\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}:\d{2})(?P<fraction>\.\d+)?)?"
    r"(?P<offset>Z|[+-]\d{2}:\d{2})?"
)
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_COUNTRY = re.compile(COUNTRY_PATTERN)
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}

DATE_TIME_EXPECTED = "an xs:dateTime such as 2026-03-01T12:00:00+01:00, or an xs:date such as 2026-03-01"
DECIMAL_EXPECTED = "a decimal number such as 12 or 0.5"
COUNTRY_EXPECTED = "an ISO 3166-1 alpha-2 code: two upper-case letters such as FR"


def from_bytes(data: bytes) -> Permit:
    """Parse ``data`` with the hardened parser and map the CITESEPermit it contains.

    ``data`` may be a CITESEPermit document or a SOAP envelope that carries one. Raises
    UnsafeXML for a document the parser rejects and InvalidMessage for a permit that cannot be
    mapped.
    """
    root = safexml.parse(data)
    return from_xml(find_permit_element(root))


def from_xml(root: etree._Element) -> Permit:
    """Map a CITESEPermit element, qualified or not, to a Permit. Raises InvalidMessage."""
    return PermitReader(root).read()


def find_permit_element(root: etree._Element) -> etree._Element:
    """Return ``root`` when it is a CITESEPermit, else the first CITESEPermit below it.

    Raises InvalidMessage when there is none, e.g. for a SOAP fault.
    """
    return find_root_element(root, ROOT_NAME, NAMESPACE)


def qualify_root(element: etree._Element, namespace: str = NAMESPACE) -> etree._Element:
    """Return ``element`` when its tag has a namespace, else a copy whose root tag is in ``namespace``.

    Only the root tag changes: the children of a permit taken from an EPIX SOAP body already
    carry their namespaces.
    """
    name = etree.QName(element)
    if name.namespace is not None:
        return element

    qualified = copy.deepcopy(element)
    qualified.tag = etree.QName(namespace, name.localname).text
    return qualified


def to_xml(permit: Permit) -> bytes:
    """Serialise ``permit`` as a CITESEPermit document (UTF-8, with an XML declaration).

    Every box of the model is written and empty optional elements are left out. Raises
    InvalidMessage when a signatory role is not A, B, C or D, or occurs twice, because each
    role has one header element. ``issuing_party_code`` has no element of its own, so it is
    not written: a reader derives the issuing Party from the Management Authority's address.
    """
    root = etree.Element(_rsm(ROOT_NAME), nsmap={"rsm": NAMESPACE, "ram": RAM_NAMESPACE})
    root.append(_context_element())
    root.append(_header_element(permit))
    root.append(_consignment_element(permit))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def find_root_element(root: etree._Element, name: str, namespace: str) -> etree._Element:
    """Return ``root`` or its first descendant named ``name`` in ``namespace`` or in no namespace."""
    for element in root.iter(tag=etree.Element):
        qname = etree.QName(element)
        if qname.localname == name and qname.namespace in (namespace, None):
            return element

    raise InvalidMessage(
        f"no {name} element found in <{etree.QName(root).localname}>; expected a {name} document "
        f"or a SOAP envelope that carries one",
        [
            Finding(
                Severity.ERROR,
                element_path(root),
                f"document has no {name} element",
                value=etree.QName(root).text,
                expected=f"{{{namespace}}}{name}",
            )
        ],
    )


def element_path(element: etree._Element, root: etree._Element | None = None) -> str:
    """Return the path of ``element`` from ``root`` (default: the document root) in local names.

    A step gets a 1-based position when its parent has several children of that name, as in
    ``/CITESEPermit/SpecifiedSupplyChainConsignment/IncludedSupplyChainConsignmentItem[2]/ID``.
    """
    steps = []
    node: etree._Element | None = element
    while node is not None:
        step = etree.QName(node).localname
        parent = node.getparent()
        if parent is not None and node is not root:
            siblings = list(parent.iterchildren(node.tag))
            if len(siblings) > 1:
                step += f"[{siblings.index(node) + 1}]"
        steps.append(step)
        if node is root:
            break
        node = parent
    return "/" + "/".join(reversed(steps))


class PermitReader:
    """Reads one permit element into a Permit, collecting every problem before raising.

    The class attributes name what differs between the v2 shape and the older CBFShip v1
    shape; ``mappings.cbfship`` subclasses this reader.
    """

    namespace: str = NAMESPACE
    root_name: str = ROOT_NAME
    procedure_name: str = "ApplicableCrossBorderRegulatoryProcedure"
    exported_quantity_name: str = "UnitQuantity"

    def __init__(self, root: etree._Element) -> None:
        self.root = root
        self.findings: list[Finding] = []
        self._child_index: dict[etree._Element, dict[str, list[etree._Element]]] = {}

    def read(self) -> Permit:
        """Return the Permit, or raise InvalidMessage with every problem found."""
        self._check_root()
        header = self._required_child(self.namespace, "HeaderExchangedDocument")
        consignment = self._required_child(self.namespace, "SpecifiedSupplyChainConsignment")

        data: dict[str, Any] = {}
        if header is not None:
            data.update(self._header(header))
        if consignment is not None:
            data.update(self._consignment(consignment))

        if self.findings:
            raise InvalidMessage(_summary(self.root_name, data.get("number"), self.findings), self.findings)
        return _build_permit(data, self.root_name)

    # Header: boxes 1, 2, 5, 5a, 5b, 6 and 13.

    def _header(self, header: etree._Element) -> dict[str, Any]:
        period = ("EffectiveSpecifiedPeriod",)
        return {
            "number": self.required_text(header, "ID", expected="the permit number (box 1)"),
            "type": self.required_text(header, "TypeCode", expected="the permit type E, R, I or O (box 1)"),
            "name": self.text(header, "Name"),
            "copy_indicator": self.boolean(header, "CopyIndicator"),
            "issued_at": self.date_time(header, "IssueDateTime"),
            "valid_from": self.date_time(header, *period, "StartDateTime"),
            "valid_until": self.date_time(header, *period, "EndDateTime"),
            "special_conditions": self.texts(header, "Information"),
            # NOTE: the model has one purpose (box 5a), so further PurposeCode elements are not read.
            "purpose": self.text(header, "PurposeCode"),
            "purpose_text": self.text(header, "Purpose"),
            "issue_place": self.text(header, "IssueLogisticsLocation", "Name"),
            "issue_place_id": self.text(header, "IssueLogisticsLocation", "ID"),
            "references": _present(self.document(e) for e in self.find_all(header, "ReferenceReferencedDocument")),
            "signatories": self._signatories(header),
        }

    def _signatories(self, header: etree._Element) -> list[dict[str, Any]]:
        signatories = []
        for role, name in SIGNATORY_ELEMENTS.items():
            element = self.find(header, name)
            if element is None:
                continue
            signatory = _compact(
                {
                    "id": self.text(element, "ID"),
                    "signed_at": self.date_time(element, "ActualDateTime"),
                    "statement": self.text(element, "Statement"),
                    "party": self.party(self.find(element, "ProviderTradeParty")),
                    "place": self.text(element, "IssueLogisticsLocation", "Name"),
                }
            )
            # A signatory block that carries only its type code is a blank box on the form.
            if signatory is not None:
                signatories.append({"role": self.text(element, "TypeCode") or role, **signatory})
        return signatories

    # Consignment: boxes 3, 4, 14 and 15, and the items.

    def _consignment(self, consignment: etree._Element) -> dict[str, Any]:
        items = self.find_all(consignment, "IncludedSupplyChainConsignmentItem")
        if not items:
            self._add(
                self._missing_path(consignment, ("IncludedSupplyChainConsignmentItem",)),
                "permit has no item",
                value=None,
                expected="at least one IncludedSupplyChainConsignmentItem (boxes 7 to 12b)",
            )
        return {
            "exporter": self.party(self.find(consignment, "ConsignorTradeParty")),
            "importer": self.importer(consignment),
            "transport_document": self.text(consignment, "TransportContractReferencedDocument", "ID"),
            "endorsement": self._endorsement(self.find(consignment, "ExaminationTransportEvent")),
            "items": [self._item(element) for element in items],
        }

    def importer(self, consignment: etree._Element) -> dict[str, Any] | None:
        return self.party(self.find(consignment, "ConsigneeTradeParty"))

    def _endorsement(self, event: etree._Element | None) -> dict[str, Any] | None:
        if event is None:
            return None
        # NOTE: the consignment-level UnitQuantity has no field in the model and is not read.
        # Box 14 quantities are read per item.
        return _compact(
            {
                "endorsed_at": self.date_time(event, "ActualOccurrenceDateTime"),
                "port": self.text(event, "OccurrenceLogisticsLocation", "ID"),
                "port_name": self.text(event, "OccurrenceLogisticsLocation", "Name"),
                "office": self.party(self.find(event, "CertifyingTradeParty")),
            }
        )

    # Items: boxes 7 to 12b and the item's part of box 14.

    def _item(self, item: etree._Element) -> dict[str, Any]:
        line = ("IncludedSupplyChainTradeLineItem",)
        product = (*line, "SpecifiedTradeProduct")
        procedure = (self.procedure_name,)
        return {
            "line_id": self.required_text(item, "ID", expected="the item's block letter, e.g. A"),
            "scientific_name": self.required_text(
                item, *product, "ScientificName", expected="the scientific name (box 7)"
            ),
            "common_name": self.text(item, *product, "CommonName"),
            "description": self.text(item, *product, "Description"),
            "term": self.required_text(item, *product, "TypeCode", expected="a CITES term code such as SKI (box 9)"),
            "marks": self.texts(item, "PhysicalLogisticsShippingMarks", "Marking"),
            "appendix": self.required_text(item, *line, "TypeCode", expected="the appendix I, II or III (box 10)"),
            "source": self.required_text(
                item, *line, "TypeExtensionCode", expected="a CITES source code such as W (box 10)"
            ),
            "quantity": self.required_quantity(item, "TransportLogisticsPackage", "ItemQuantity"),
            "quota_used_to_date": self.quantity(item, *procedure, "UsedToDateQuotaQuantity"),
            "annual_quota": self.quantity(item, *procedure, "AnnualQuotaQuantity"),
            "origin_country": self.country(item, "OriginTradeCountry", "ID"),
            "last_reexport_country": self.country(item, "ExportTradeCountry", "ID"),
            **self._item_documents(item),
            "operation_category": self.text(item, *procedure, "CategoryCode"),
            "acquired_at": self.date_time(item, *procedure, "AcquisitionDateTime"),
            "previous_document": self.first_document(item, *procedure, "PreviousReferencedDocument"),
            "seller_assigned_id": self.text(item, *product, "SellerAssignedID"),
            "manufacturer_assigned_id": self.text(item, *product, "ManufacturerAssignedID"),
            "exported_quantity": self.quantity(item, "ExaminationTransportEvent", self.exported_quantity_name),
        }

    def _item_documents(self, item: etree._Element) -> dict[str, Any]:
        documents: dict[str, Any] = {}
        for element in self.find_all(item, "AssociatedReferencedDocument"):
            type_code = self.text(element, "TypeCode")
            if type_code in ORIGIN_PERMIT_CODES:
                documents.setdefault("origin_permit", self.document(element))
            elif type_code in LAST_REEXPORT_CODES:
                documents.setdefault("last_reexport_document", self.document(element))
            elif self.document(element) is not None:
                # NOTE: the model has no place for other associated documents, so they are dropped.
                logger.debug("associated document of type %r at %s not mapped", type_code, self.path(element))
        return documents

    # Aggregates shared by header, consignment and items.

    def party(self, element: etree._Element | None) -> dict[str, Any] | None:
        if element is None:
            return None
        return _compact(
            {
                "id": self.text(element, "ID"),
                "name": self.text(element, "Name"),
                "address": self.address(self.find(element, "PostalTradeAddress")),
                "representative": self.text(element, "SpecifiedRepresentativePerson", "Name"),
                "signatory": self.text(element, "SpecifiedAuthoritativeSignatoryPerson", "Name"),
            }
        )

    def address(self, element: etree._Element | None) -> dict[str, Any] | None:
        if element is None:
            return None
        streets = self.texts(element, "StreetName")
        return _compact(
            {
                # Several StreetName elements are address lines; to_xml splits them again.
                "street": "\n".join(streets) if streets else None,
                "post_office_box": self.text(element, "PostOfficeBox"),
                "postcode": self.text(element, "PostcodeCode"),
                "city": self.text(element, "CityName"),
                **self.address_country(element),
            }
        )

    def address_country(self, address: etree._Element) -> dict[str, Any]:
        return {
            "country": self.country(address, "CountryID"),
            "country_name": self.text(address, "CountryName"),
            "country_subdivision": self.text(address, "CountrySubDivisionName"),
        }

    def document(self, element: etree._Element) -> dict[str, Any] | None:
        period = ("EffectiveSpecifiedPeriod",)
        return _compact(
            {
                "id": self.text(element, "ID"),
                "type_code": self.text(element, "TypeCode"),
                "name": self.text(element, "Name"),
                "issued_at": self.date_time(element, "IssueDateTime"),
                "valid_from": self.date_time(element, *period, "StartDateTime"),
                "valid_until": self.date_time(element, *period, "EndDateTime"),
            }
        )

    def first_document(self, parent: etree._Element, *names: str) -> dict[str, Any] | None:
        return next(iter(_present(self.document(e) for e in self.find_all(parent, *names))), None)

    # Values. Each reader returns None for an absent or empty element.

    def find(self, parent: etree._Element, *names: str) -> etree._Element | None:
        found = self.find_all(parent, *names)
        return found[0] if found else None

    def find_all(self, parent: etree._Element, *names: str) -> list[etree._Element]:
        elements = [parent]
        for name in names:
            tag = _ram(name)
            elements = [child for element in elements for child in self._children(element).get(tag, ())]
        return elements

    def first_filled(self, parent: etree._Element, *names: str) -> etree._Element | None:
        """Return the first element at ``names`` whose text is not blank."""
        return next((element for element in self.find_all(parent, *names) if _text(element)), None)

    def _children(self, element: etree._Element) -> dict[str, list[etree._Element]]:
        # A permit needs over a hundred lookups. Indexing each parent's children by tag once
        # makes them dict lookups, several times faster than ElementPath or XPath calls.
        index = self._child_index.get(element)
        if index is None:
            index = {}
            for child in element.iterchildren(tag=etree.Element):
                index.setdefault(child.tag, []).append(child)
            self._child_index[element] = index
        return index

    def text(self, parent: etree._Element, *names: str) -> str | None:
        element = self.first_filled(parent, *names)
        if element is None:
            return None
        return _text(element) or None

    def texts(self, parent: etree._Element, *names: str) -> list[str]:
        return [text for text in map(_text, self.find_all(parent, *names)) if text]

    def required_text(self, parent: etree._Element, *names: str, expected: str) -> str | None:
        value = self.text(parent, *names)
        if value is None:
            present = self.find(parent, *names)
            path = self.path(present) if present is not None else self._missing_path(parent, names)
            state = "missing" if present is None else "empty"
            self._add(path, f"{names[-1]} is {state}", value=None if present is None else "", expected=expected)
        return value

    def date_time(self, parent: etree._Element, *names: str) -> datetime | None:
        element = self.first_filled(parent, *names)
        if element is None:
            return None

        text = _text(element)
        try:
            return parse_date_time(text)
        except ValueError as error:
            self._add(self.path(element), f"'{text}' is not a valid date-time ({error})", text, DATE_TIME_EXPECTED)
            return None

    def boolean(self, parent: etree._Element, *names: str) -> bool | None:
        element = self.first_filled(parent, *names)
        if element is None:
            return None

        text = _text(element)
        if text not in _BOOLEANS:
            self._add(self.path(element), f"'{text}' is not a boolean", text, "true or false")
        return _BOOLEANS.get(text)

    def quantity(self, parent: etree._Element, *names: str) -> dict[str, Any] | None:
        element = self.first_filled(parent, *names)
        if element is None:
            return None

        text = _text(element)
        value = _parse_decimal(text)
        if value is None:
            self._add(self.path(element), f"'{text}' is not a number", text, DECIMAL_EXPECTED)
            return None
        return {"value": value, "unit": _attribute(element, "unitCode")}

    def required_quantity(self, parent: etree._Element, *names: str) -> dict[str, Any] | None:
        if self.first_filled(parent, *names) is None:
            self.required_text(parent, *names, expected="the quantity of specimens (box 11)")
            return None
        return self.quantity(parent, *names)

    def country(self, parent: etree._Element, *names: str) -> str | None:
        element = self.first_filled(parent, *names)
        if element is None:
            return None

        text = _text(element)
        if not _COUNTRY.match(text):
            self._add(self.path(element), f"'{text}' is not a country code", text, COUNTRY_EXPECTED)
            return None
        return text

    # Paths and findings.

    def path(self, element: etree._Element) -> str:
        return element_path(element, self.root)

    def _missing_path(self, parent: etree._Element, names: Iterable[str]) -> str:
        return "/".join((self.path(parent), *names))

    def _add(self, path: str, message: str, value: str | None, expected: str) -> None:
        full_message = f"{message}; expected {expected}"
        self.findings.append(Finding(Severity.ERROR, path, full_message, value=value, expected=expected))

    def _check_root(self) -> None:
        name = etree.QName(self.root)
        if name.localname == self.root_name and name.namespace in (self.namespace, None):
            return
        path = "/" + name.localname
        expected = f"{{{self.namespace}}}{self.root_name}"
        finding = Finding(Severity.ERROR, path, f"root element is {name.text}", value=name.text, expected=expected)
        raise InvalidMessage(f"root element is {name.text}; expected {expected}", [finding])

    def _required_child(self, namespace: str, name: str) -> etree._Element | None:
        element = self.root.find(f"{{{namespace}}}{name}")
        if element is None:
            path = self._missing_path(self.root, (name,))
            self._add(path, "required element is missing", None, f"{{{namespace}}}{name}")
        return element


def parse_date_time(text: str) -> datetime:
    """Parse an xs:dateTime or xs:date, keeping its offset. Raises ValueError when invalid.

    A date without a time becomes midnight. A value without an offset stays naive.
    """
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        raise ValueError("not in the form YYYY-MM-DDThh:mm:ss with an optional fraction and offset")

    time = match["time"] or "00:00:00"
    return datetime.fromisoformat(f"{match['date']}T{time}{match['fraction'] or ''}{match['offset'] or ''}")


def _parse_decimal(text: str) -> Decimal | None:
    if not _DECIMAL.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _text(element: etree._Element) -> str:
    # NOTE: only the text before the first child counts, so a value split by a comment is cut.
    return (element.text or "").strip()


def _attribute(element: etree._Element, name: str) -> str | None:
    value = (element.get(name) or "").strip()
    return None if value in ("", PLACEHOLDER) else value


def _compact(values: dict[str, Any]) -> dict[str, Any] | None:
    """Drop None values and empty lists; return None when nothing is left."""
    kept = {key: value for key, value in values.items() if value is not None and value != []}
    return kept or None


def _present(values: Iterable[dict[str, Any] | None]) -> list[dict[str, Any]]:
    return [value for value in values if value is not None]


def _summary(root_name: str, number: str | None, findings: list[Finding]) -> str:
    subject = f"{root_name} {number}" if number else root_name
    first = findings[0]
    detail = f"{first.path}: {first.message}"
    more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
    return f"{subject} is invalid: {detail}{more}"


def _build_permit(data: dict[str, Any], root_name: str) -> Permit:
    try:
        return Permit.model_validate(data)
    except ValidationError as error:
        findings = [_model_finding(detail) for detail in error.errors()]
        raise InvalidMessage(_summary(root_name, data.get("number"), findings), findings) from error


def _model_finding(detail: ErrorDetails) -> Finding:
    path = model_path(detail["loc"])
    value = detail.get("input")
    value_text = None if isinstance(value, (dict, list)) or value is None else str(value)
    message = f"{path} {value_text!r}: {detail['msg']}"
    return Finding(Severity.ERROR, path, message, value=value_text, expected=detail["msg"])


def model_path(location: Iterable[int | str]) -> str:
    """Format a pydantic error location as a field path, e.g. ``items[1].quantity.value``."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif path:
            path += f".{part}"
        else:
            path = part
    return path


# Writing. Each builder returns None for an element that would be empty, and _node drops
# None children, so empty optional boxes never reach the document.


def _rsm(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


@cache
def _ram(name: str) -> str:
    return f"{{{RAM_NAMESPACE}}}{name}"


def _leaf(name: str, text: str | None, **attributes: str) -> etree._Element | None:
    if text is None:
        return None
    element = etree.Element(_ram(name), attributes)
    element.text = text
    return element


def _node(tag: str, children: Iterable[etree._Element | None]) -> etree._Element | None:
    present = [child for child in children if child is not None]
    if not present:
        return None
    element = etree.Element(tag if tag.startswith("{") else _ram(tag))
    element.extend(present)
    return element


def _date_time_leaf(name: str, value: datetime | None) -> etree._Element | None:
    return _leaf(name, value.isoformat()) if value is not None else None


def _quantity_leaf(name: str, quantity: Quantity | None) -> etree._Element | None:
    if quantity is None:
        return None
    attributes = {"unitCode": quantity.unit} if quantity.unit else {}
    return _leaf(name, format(quantity.value, "f"), **attributes)


def _context_element() -> etree._Element:
    version = _node("SpecifiedDocumentVersion", [_leaf("ID", CONTEXT_VERSION)])
    parameter = _node("BusinessProcessSpecifiedDocumentContextParameter", [_leaf("Value", CONTEXT_VALUE), version])
    return _required(_node(_rsm("SpecifiedExchangedDocumentContext"), [parameter]))


def _header_element(permit: Permit) -> etree._Element:
    copy_indicator = None if permit.copy_indicator is None else str(permit.copy_indicator).lower()
    place = _node("IssueLogisticsLocation", [_leaf("ID", permit.issue_place_id), _leaf("Name", permit.issue_place)])
    children = [
        _leaf("ID", permit.number),
        _leaf("Name", permit.name),
        _leaf("TypeCode", permit.type),
        _date_time_leaf("IssueDateTime", permit.issued_at),
        _leaf("CopyIndicator", copy_indicator),
        _leaf("Purpose", permit.purpose_text),
        _leaf("PurposeCode", permit.purpose),
        *(_leaf("Information", text) for text in permit.special_conditions),
        *(_document_element("ReferenceReferencedDocument", document) for document in permit.references),
        _period_element(permit.valid_from, permit.valid_until),
        place,
        *_signatory_elements(permit.signatories),
    ]
    return _required(_node(_rsm("HeaderExchangedDocument"), children))


def _signatory_elements(signatories: list[Signatory]) -> list[etree._Element | None]:
    by_role: dict[str, Signatory] = {}
    for index, signatory in enumerate(signatories):
        if signatory.role not in SIGNATORY_ELEMENTS or signatory.role in by_role:
            path = f"signatories[{index}].role"
            message = (
                f"signatory role '{signatory.role}' is unknown or repeated; "
                "expected each of A, B, C, D at most once"
            )
            raise InvalidMessage(message, [Finding(Severity.ERROR, path, message, signatory.role, "A, B, C or D")])
        by_role[signatory.role] = signatory

    return [
        _signatory_element(SIGNATORY_ELEMENTS[role], by_role[role]) for role in SIGNATORY_ELEMENTS if role in by_role
    ]


def _signatory_element(name: str, signatory: Signatory) -> etree._Element | None:
    return _node(
        name,
        [
            _leaf("TypeCode", signatory.role),
            _date_time_leaf("ActualDateTime", signatory.signed_at),
            _leaf("ID", signatory.id),
            _leaf("Statement", signatory.statement),
            _party_element("ProviderTradeParty", signatory.party),
            _node("IssueLogisticsLocation", [_leaf("Name", signatory.place)]),
        ],
    )


def _consignment_element(permit: Permit) -> etree._Element:
    children = [
        _party_element("ConsignorTradeParty", permit.exporter),
        _party_element("ConsigneeTradeParty", permit.importer),
        _node("TransportContractReferencedDocument", [_leaf("ID", permit.transport_document)]),
        _endorsement_element(permit.endorsement),
        *(_item_element(item) for item in permit.items),
    ]
    return _required(_node(_rsm("SpecifiedSupplyChainConsignment"), children))


def _endorsement_element(endorsement: Endorsement | None) -> etree._Element | None:
    if endorsement is None:
        return None
    port = _node("OccurrenceLogisticsLocation", [_leaf("ID", endorsement.port), _leaf("Name", endorsement.port_name)])
    return _node(
        "ExaminationTransportEvent",
        [
            _date_time_leaf("ActualOccurrenceDateTime", endorsement.endorsed_at),
            port,
            _party_element("CertifyingTradeParty", endorsement.office),
        ],
    )


def _item_element(item: PermitItem) -> etree._Element | None:
    product = _node(
        "SpecifiedTradeProduct",
        [
            _leaf("SellerAssignedID", item.seller_assigned_id),
            _leaf("ManufacturerAssignedID", item.manufacturer_assigned_id),
            _leaf("Description", item.description),
            _leaf("TypeCode", item.term),
            _leaf("CommonName", item.common_name),
            _leaf("ScientificName", item.scientific_name),
        ],
    )
    line = _node(
        "IncludedSupplyChainTradeLineItem",
        [_leaf("TypeCode", item.appendix), _leaf("TypeExtensionCode", item.source), product],
    )
    return _node(
        "IncludedSupplyChainConsignmentItem",
        [
            _leaf("ID", item.line_id),
            _node("PhysicalLogisticsShippingMarks", [_leaf("Marking", mark) for mark in item.marks]),
            _node("OriginTradeCountry", [_leaf("ID", item.origin_country)]),
            _node("ExportTradeCountry", [_leaf("ID", item.last_reexport_country)]),
            _associated_document(item.origin_permit, ORIGIN_PERMIT_CODES),
            _associated_document(item.last_reexport_document, LAST_REEXPORT_CODES),
            _node("TransportLogisticsPackage", [_quantity_leaf("ItemQuantity", item.quantity)]),
            line,
            _node("ExaminationTransportEvent", [_quantity_leaf("UnitQuantity", item.exported_quantity)]),
            _procedure_element(item),
        ],
    )


def _procedure_element(item: PermitItem) -> etree._Element | None:
    return _node(
        "ApplicableCrossBorderRegulatoryProcedure",
        [
            _leaf("CategoryCode", item.operation_category),
            _quantity_leaf("UsedToDateQuotaQuantity", item.quota_used_to_date),
            _quantity_leaf("AnnualQuotaQuantity", item.annual_quota),
            _date_time_leaf("AcquisitionDateTime", item.acquired_at),
            _document_element("PreviousReferencedDocument", item.previous_document),
        ],
    )


def _associated_document(document: ReferencedDocument | None, codes: tuple[str, ...]) -> etree._Element | None:
    if document is None:
        return None
    # The type code is what tells a reader which box the document belongs to.
    type_code = document.type_code if document.type_code in codes else codes[0]
    return _document_element("AssociatedReferencedDocument", document.model_copy(update={"type_code": type_code}))


def _document_element(name: str, document: ReferencedDocument | None) -> etree._Element | None:
    if document is None:
        return None
    return _node(
        name,
        [
            _date_time_leaf("IssueDateTime", document.issued_at),
            _leaf("TypeCode", document.type_code),
            _leaf("ID", document.id),
            _leaf("Name", document.name),
            _period_element(document.valid_from, document.valid_until),
        ],
    )


def _period_element(start: datetime | None, end: datetime | None) -> etree._Element | None:
    children = [_date_time_leaf("StartDateTime", start), _date_time_leaf("EndDateTime", end)]
    return _node("EffectiveSpecifiedPeriod", children)


def _party_element(name: str, party: TradeParty | None) -> etree._Element | None:
    if party is None:
        return None
    return _node(
        name,
        [
            _leaf("ID", party.id),
            _leaf("Name", party.name),
            _address_element(party.address),
            _node("SpecifiedRepresentativePerson", [_leaf("Name", party.representative)]),
            _node("SpecifiedAuthoritativeSignatoryPerson", [_leaf("Name", party.signatory)]),
        ],
    )


def _address_element(address: Address | None) -> etree._Element | None:
    if address is None:
        return None
    streets = address.street.split("\n") if address.street else []
    return _node(
        "PostalTradeAddress",
        [
            _leaf("PostcodeCode", address.postcode),
            _leaf("PostOfficeBox", address.post_office_box),
            *(_leaf("StreetName", street) for street in streets),
            _leaf("CityName", address.city),
            _leaf("CountryID", address.country),
            _leaf("CountryName", address.country_name),
            _leaf("CountrySubDivisionName", address.country_subdivision),
        ],
    )


def _required(element: etree._Element | None) -> etree._Element:
    # The header always has box 1 and the consignment at least one item, so neither is empty.
    assert element is not None
    return element
