"""SeizureReport XML ⇄ the ``Seizure`` model: the hub's own format for reporting a seizure.

The schema is ``schemas/seizure/SeizureReport_1.xsd``, namespace :data:`NAMESPACE`. Reading goes
hardened parse → root name and namespace → XSD → mapping → code lists (term and unit), and stops
after the first step that finds an error. Every problem is a :class:`~hub.errors.Finding` whose
path is the element's (``/SeizureReport/Item[2]/TermCode``, or ``.../Quantity/@unitCode`` for an
attribute) and whose value is the text read.

A finding inside ``Nominal`` never carries the value or the schema's message, because both may
contain a person's name. Output of :func:`to_xml` is deterministic and valid against the XSD.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from decimal import Decimal
from typing import Any

from lxml import etree
from pydantic import ValidationError

import schemas
from hub import codelists, safexml
from hub.errors import Finding, InvalidMessage, Severity
from hub.permit import Quantity
from hub.seizure import (
    Company,
    NominalData,
    OriginCountry,
    Person,
    Seizure,
    SeizureItem,
    TradeChain,
    TransitCountry,
)
from mappings.citesepermit import element_path, parse_date_time

logger = logging.getLogger(__name__)

NAMESPACE = "urn:cites-hub:seizure-report:1"
ROOT_NAME = "SeizureReport"
FORMAT = "cites-hub-seizure-report:1"
SCHEMA_FILE = "seizure/SeizureReport_1.xsd"

NOMINAL_PATH = f"/{ROOT_NAME}/Nominal"
NOMINAL_WITHHELD = "invalid nominal data; the value and the schema's message are withheld because they may contain personal data"

_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
_SCHEMA_VALUE = re.compile(r"(?:The value '(?P<facet>.*?)'|': '(?P<atomic>.*?)' is not a valid value)")
# Patterns that read the expected value from libxml2's messages, tried in this order.
_SCHEMA_EXPECTED = [
    (re.compile(r"Expected is (?:one of )?\( (.*?) \)"), "{0}"),
    (re.compile(r"must be (.*?)\.?$"), "a value {0}"),
    (re.compile(r"not accepted by the pattern '(.*)'"), "a value matching the pattern {0}"),
    (re.compile(r"not an element of the set \{(.*)\}"), "one of {0}"),
    (re.compile(r"the allowed (maximum|minimum) length of '(\d+)'"), "a {0} length of {1} characters"),
    (re.compile(r"of the atomic type '(.*?)'"), "a value of type {0}"),
]
_MISSING_CHILD = re.compile(r"Expected is \( (\w+) \)")
# Plainer words than the schema's facets, for the values senders get wrong most often.
_EXPECTED_BY_ELEMENT = {
    "SeizureDateTime": "an xs:dateTime with its UTC offset, e.g. 2026-03-14T06:40:00+01:00",
    "Quantity": "a decimal number greater than 0",
    "WeightKg": "a decimal number of kilograms greater than 0",
    "Pieces": "a whole number greater than 0",
    "TermCode": "a CITES term code: three upper-case letters such as TUS",
    "CountryCode": "an ISO 3166-1 alpha-2 code: two upper-case letters such as FR",
    "LocationCode": "a UN/LOCODE: country code and three letters or digits, e.g. FRCDG",
}


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


# Reading.


def from_bytes(data: bytes) -> Seizure:
    """Parse ``data`` with the hardened parser and map the SeizureReport it contains.

    Raises UnsafeXML for a document the parser rejects and InvalidMessage, with every finding,
    for a report that is invalid.
    """
    return from_xml(safexml.parse(data))


def from_xml(root: etree._Element) -> Seizure:
    """Map a parsed SeizureReport element to a Seizure. Raises InvalidMessage with every finding."""
    seizure, findings = check(root)
    if seizure is None:
        first = findings[0]
        raise InvalidMessage(f"invalid seizure report: {first.path}: {first.message}", findings)
    return seizure


def check(root: etree._Element) -> tuple[Seizure | None, list[Finding]]:
    """Validate a parsed SeizureReport and map it, without raising for bad input.

    Returns the seizure (None when any finding is an error) and the findings.
    """
    findings = _root_findings(root)
    if not findings:
        findings = _schema_findings(root)
    if findings:
        return None, findings

    reader = _Reader(root)
    seizure = reader.read()
    if seizure is None:
        return None, reader.findings
    logger.debug("read seizure report %s: %d item(s)", seizure.id, len(seizure.items))
    return seizure, []


def _root_findings(root: etree._Element) -> list[Finding]:
    name = etree.QName(root)
    if name.localname == ROOT_NAME and name.namespace == NAMESPACE:
        return []

    expected = f"{{{NAMESPACE}}}{ROOT_NAME}"
    message = f"root element {name.text} is not a seizure report; expected {expected}"
    return [Finding(Severity.ERROR, "/" + name.localname, message, value=name.text, expected=expected)]


# XSD.

# lxml keeps the error log on the schema object, so two threads validating at once would mix
# their errors.
_SCHEMA_LOCK = threading.Lock()


@functools.cache
def _schema() -> etree.XMLSchema:
    return safexml.compile_schema(schemas.path(SCHEMA_FILE))


def _schema_findings(root: etree._Element) -> list[Finding]:
    schema = _schema()
    with _SCHEMA_LOCK:
        if schema.validate(root):
            return []
        entries = list(schema.error_log)

    findings: list[Finding] = []
    for entry in entries:
        finding = _schema_finding(root, entry)
        if not any(earlier.path == finding.path and earlier.value == finding.value for earlier in findings):
            findings.append(finding)
    return findings


def _schema_finding(root: etree._Element, entry: etree._LogEntry) -> Finding:
    element = _element_at(root, entry.path)
    path = element_path(element) if element is not None else (entry.path or "/")
    message = entry.message.replace(f"{{{NAMESPACE}}}", "")
    if path.startswith(NOMINAL_PATH):
        return Finding(Severity.ERROR, path, f"line {entry.line}: {NOMINAL_WITHHELD}")

    missing = _missing_element(element, message)
    if missing is not None:
        parent, name = missing
        expected = f"a {name} element"
        return Finding(Severity.ERROR, f"{element_path(parent)}/{name}", f"{name} is missing; expected {expected}", None, expected)

    value = None
    value_match = _SCHEMA_VALUE.search(message)
    if value_match:
        value = value_match["facet"] if value_match["facet"] is not None else value_match["atomic"]
    name = safexml.localname(element) if element is not None else ""
    expected = _EXPECTED_BY_ELEMENT.get(name) if value is not None else None
    return Finding(Severity.ERROR, path, f"line {entry.line}: {message}", value, expected or _expected(message))


def _expected(message: str) -> str | None:
    for pattern, template in _SCHEMA_EXPECTED:
        match = pattern.search(message)
        if match:
            return template.format(*match.groups())
    return None


def _element_at(root: etree._Element, path: str | None) -> etree._Element | None:
    # libxml2 writes the elements of a default namespace as '*' steps, e.g. /*/*[5]/*[1].
    if not path:
        return None
    try:
        found = root.getroottree().xpath(path)
    except etree.XPathError:
        return None
    if isinstance(found, list) and found and isinstance(found[0], etree._Element):
        return found[0]
    return None


def _missing_element(element: etree._Element | None, message: str) -> tuple[etree._Element, str] | None:
    """Return the parent and name of the one required child that is absent, when the schema error is about that."""
    match = _MISSING_CHILD.search(message)
    if element is None or match is None:
        return None

    name = match[1]
    parent = element if "Missing child element" in message else element.getparent()
    if parent is None or parent.find(_q(name)) is not None:
        return None
    return parent, name


# Mapping.


class _Reader:
    """Reads a schema-valid SeizureReport into a Seizure, collecting code-list and model findings."""

    def __init__(self, root: etree._Element) -> None:
        self.root = root
        self.findings: list[Finding] = []

    def read(self) -> Seizure | None:
        root = self.root
        discovery = root.find(_q("Discovery"))
        items = [self._item(element, number) for number, element in enumerate(root.findall(_q("Item")), start=1)]
        values: dict[str, Any] = {
            "id": _text(root, "SeizureID"),
            "seized_at": self._date_time(root.find(_q("SeizureDateTime"))),
            "status": _text(root, "Status"),
            "sharing": _text(root, "Sharing"),
            "discovery_country": _text(discovery, "CountryCode"),
            "discovery_locode": _text(discovery, "LocationCode"),
            "discovery_place": _text(discovery, "PlaceName"),
            "agency": _text(discovery, "Agency"),
            "detection_method": _text(discovery, "DetectionMethod"),
            "items": items,
            "trade_chain": self._trade_chain(root.find(_q("TradeChain"))),
            "transport_mode": _text(root, "TransportMode"),
            "concealment": _text(root, "Concealment"),
            "permit_numbers": _texts(root, "LinkedPermit"),
            "disposal": _text(root, "Disposal"),
            "nominal": self._nominal(root.find(_q("Nominal"))),
        }
        if self.findings:
            return None
        return self._build(Seizure, _compact(values), root)

    def _item(self, element: etree._Element, number: int) -> SeizureItem | None:
        path = element_path(element)
        term = _text(element, "TermCode")
        self._check_code("term", term, f"{path}/TermCode", f"item {number} term")

        quantity_element = element.find(_q("Quantity"))
        quantity = None
        if quantity_element is not None:
            unit = quantity_element.get("unitCode")
            self._check_code("unit", unit, f"{path}/Quantity/@unitCode", f"item {number} unit")
            quantity = Quantity(value=Decimal(_own_text(quantity_element)), unit=unit)

        values = {
            "scientific_name": _text(element, "ScientificName"),
            "common_name": _text(element, "CommonName"),
            "taxon_id": _text(element, "TaxonID"),
            "term": term,
            "description": _text(element, "Description"),
            "quantity": quantity,
            "pieces": _text(element, "Pieces"),
            "weight_kg": _text(element, "WeightKg"),
            "ivory_form": _text(element, "IvoryForm"),
        }
        return self._build(SeizureItem, _compact(values), element)

    def _trade_chain(self, element: etree._Element | None) -> TradeChain | None:
        if element is None:
            return None
        origins = [
            OriginCountry(country=_own_text(origin), proportion=origin.get("proportion"))
            for origin in element.findall(_q("Origin"))
        ]
        transits = [
            TransitCountry(country=_own_text(transit), seizure_opportunity=_boolean(transit.get("seizureOpportunity")))
            for transit in element.findall(_q("Transit"))
        ]
        values = {"origin": origins, "export": _texts(element, "Export"), "transit": transits,
                  "destination": _text(element, "Destination")}
        return self._build(TradeChain, _compact(values) or {}, element)

    def _nominal(self, element: etree._Element | None) -> NominalData | None:
        if element is None:
            return None
        try:
            persons = [_person(person) for person in element.findall(_q("Person"))]
            companies = [_company(company) for company in element.findall(_q("Company"))]
        except ValidationError:
            # Not chained or quoted: the model's error repeats its input, which is personal data.
            self.findings.append(Finding(Severity.ERROR, element_path(element), NOMINAL_WITHHELD))
            return None
        return NominalData(persons=persons, companies=companies)

    def _date_time(self, element: etree._Element | None) -> Any:
        text = "" if element is None else _own_text(element)
        try:
            return parse_date_time(text)
        except ValueError as error:
            path = element_path(element) if element is not None else f"/{ROOT_NAME}/SeizureDateTime"
            self.findings.append(Finding(Severity.ERROR, path, f"'{text}' is not a valid date-time ({error})", text,
                                         "an xs:dateTime with its offset, e.g. 2026-03-14T06:40:00+01:00"))
            return None

    def _check_code(self, list_name: str, code: str | None, path: str, subject: str) -> None:
        finding = codelists.check(list_name, code, path, subject=subject)
        if finding is not None:
            self.findings.append(finding)

    def _build(self, model: type[Any], values: dict[str, Any], element: etree._Element) -> Any:
        """Build ``model`` from ``values``; a rule the XSD cannot express becomes a finding on ``element``."""
        try:
            return model(**values)
        except ValidationError as error:
            path = element_path(element)
            for problem in error.errors():
                where = ".".join(str(step) for step in problem["loc"])
                text = problem["msg"].removeprefix("Value error, ")
                message = f"{where}: {text}" if where else text
                self.findings.append(Finding(Severity.ERROR, path, message, value=_shown(problem.get("input"))))
            return None


def _person(element: etree._Element) -> Person:
    return Person(**_compact({
        "name": _text(element, "Name"),
        "role": _text(element, "Role"),
        "nationality": _text(element, "Nationality"),
        "birth_date": _text(element, "BirthDate"),
        "identity_document": _text(element, "IdentityDocument"),
    }))


def _company(element: etree._Element) -> Company:
    return Company(**_compact({
        "name": _text(element, "Name"),
        "role": _text(element, "Role"),
        "country": _text(element, "CountryCode"),
        "registration_id": _text(element, "RegistrationID"),
    }))


def _text(parent: etree._Element | None, name: str) -> str | None:
    if parent is None:
        return None
    element = parent.find(_q(name))
    return None if element is None else _own_text(element)


def _texts(parent: etree._Element, name: str) -> list[str]:
    return [_own_text(element) for element in parent.findall(_q(name))]


def _own_text(element: etree._Element) -> str:
    return (element.text or "").strip()


def _boolean(text: str | None) -> bool | None:
    return None if text is None else _BOOLEANS[text.strip()]


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None and value != []}


def _shown(value: Any) -> str | None:
    # Only plain values are quoted; a model or a dict in the input would repeat the whole record.
    return str(value) if isinstance(value, (str, int, float, Decimal)) else None


# Writing.


def to_xml(seizure: Seizure) -> bytes:
    """Serialise ``seizure`` as a SeizureReport (UTF-8, with an XML declaration), valid against the XSD.

    Optional fields that are empty are left out. Raises InvalidMessage when the model holds a
    value the schema refuses, e.g. a text longer than the element allows.
    """
    root = etree.Element(_q(ROOT_NAME), nsmap={None: NAMESPACE})
    _add(root, "SeizureID", seizure.id)
    _add(root, "SeizureDateTime", seizure.seized_at.isoformat())
    _add(root, "Status", seizure.status.value)
    _add(root, "Sharing", seizure.sharing.value)
    _add_discovery(root, seizure)
    for item in seizure.items:
        _add_item(root, item)
    _add_trade_chain(root, seizure.trade_chain)
    _add(root, "TransportMode", seizure.transport_mode.value if seizure.transport_mode else None)
    _add(root, "Concealment", seizure.concealment)
    for number in seizure.permit_numbers:
        _add(root, "LinkedPermit", number)
    _add(root, "Disposal", seizure.disposal)
    if seizure.nominal is not None:
        _add_nominal(root, seizure.nominal)

    findings = _schema_findings(root)
    if findings:
        raise InvalidMessage(f"seizure {seizure.id} cannot be written as a seizure report: {findings[0].path}: {findings[0].message}", findings)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _add(parent: etree._Element, name: str, text: str | None, **attributes: str) -> None:
    if text is None:
        return
    element = etree.SubElement(parent, _q(name), attributes)
    element.text = text


def _add_discovery(root: etree._Element, seizure: Seizure) -> None:
    discovery = etree.SubElement(root, _q("Discovery"))
    _add(discovery, "CountryCode", seizure.discovery_country)
    _add(discovery, "LocationCode", seizure.discovery_locode)
    _add(discovery, "PlaceName", seizure.discovery_place)
    _add(discovery, "Agency", seizure.agency)
    _add(discovery, "DetectionMethod", seizure.detection_method)


def _add_item(root: etree._Element, item: SeizureItem) -> None:
    element = etree.SubElement(root, _q("Item"))
    _add(element, "ScientificName", item.scientific_name)
    _add(element, "CommonName", item.common_name)
    _add(element, "TaxonID", item.taxon_id)
    _add(element, "TermCode", item.term)
    _add(element, "Description", item.description)
    if item.quantity is not None:
        unit = {"unitCode": item.quantity.unit} if item.quantity.unit else {}
        _add(element, "Quantity", decimal_text(item.quantity.value), **unit)
    _add(element, "Pieces", str(item.pieces) if item.pieces is not None else None)
    _add(element, "WeightKg", decimal_text(item.weight_kg) if item.weight_kg is not None else None)
    _add(element, "IvoryForm", item.ivory_form.value if item.ivory_form else None)


def _add_trade_chain(root: etree._Element, chain: TradeChain) -> None:
    if not (chain.origin or chain.export or chain.transit or chain.destination):
        return
    element = etree.SubElement(root, _q("TradeChain"))
    for origin in chain.origin:
        proportion = {"proportion": decimal_text(origin.proportion)} if origin.proportion is not None else {}
        _add(element, "Origin", origin.country, **proportion)
    for country in chain.export:
        _add(element, "Export", country)
    for transit in chain.transit:
        opportunity = {} if transit.seizure_opportunity is None else {"seizureOpportunity": str(transit.seizure_opportunity).lower()}
        _add(element, "Transit", transit.country, **opportunity)
    _add(element, "Destination", chain.destination)


def _add_nominal(root: etree._Element, nominal: NominalData) -> None:
    element = etree.SubElement(root, _q("Nominal"))
    for person in nominal.persons:
        person_element = etree.SubElement(element, _q("Person"))
        _add(person_element, "Name", person.name)
        _add(person_element, "Role", person.role)
        _add(person_element, "Nationality", person.nationality)
        _add(person_element, "BirthDate", person.birth_date.isoformat() if person.birth_date else None)
        _add(person_element, "IdentityDocument", person.identity_document)
    for company in nominal.companies:
        company_element = etree.SubElement(element, _q("Company"))
        _add(company_element, "Name", company.name)
        _add(company_element, "Role", company.role)
        _add(company_element, "CountryCode", company.country)
        _add(company_element, "RegistrationID", company.registration_id)


def decimal_text(value: Decimal) -> str:
    """Write ``value`` as an xs:decimal, never in exponent form (``1E+2`` becomes ``100``)."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
