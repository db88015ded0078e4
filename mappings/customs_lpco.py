"""Canonical permit → Customs permit feed, the hub's own format built on WCO Data Model LPCO elements.

One ``PermitFeed`` document informs Customs or the Single Window that a permit was issued, amended,
cancelled or replaced, with the data Customs needs to clear a consignment against it and the risk
flags the hub raised. The schema is ``schemas/customs/PermitFeed_1.xsd``, namespace
:data:`NAMESPACE`. The receiving system answers with a ``FeedAcknowledgement`` in the same
namespace. Output is deterministic: the same permit, message type and ids give the same bytes, so
a retried delivery carries the body its idempotency key was first sent with.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from collections.abc import Sequence
from typing import Any

from lxml import etree

import schemas
from hub import safexml
from hub.envelope import MessageType
from hub.errors import Finding, InvalidMessage, Severity
from hub.permit import Permit, PermitItem, TradeParty

NAMESPACE = "urn:cites-hub:customs:permit-feed:1"
FORMAT = "customs-permit-feed:1"
SCHEMA_FILE = "customs/PermitFeed_1.xsd"

ACTIONS: dict[MessageType, str] = {
    MessageType.PERMIT_ISSUED: "issued",
    MessageType.PERMIT_AMENDED: "amended",
    MessageType.PERMIT_CANCELLED: "cancelled",
    MessageType.PERMIT_REPLACED: "replaced",
}
STATUS_AFTER_ACTION = {"issued": "valid", "amended": "valid", "cancelled": "cancelled", "replaced": "replaced"}

# Sources that make Customs look closer: code → (flag code, reason).
SOURCE_FLAGS = {
    "W": ("SOURCE_WILD", "specimens taken from the wild (source W)"),
    "U": ("SOURCE_UNKNOWN", "source unknown (source U), which the permit must justify"),
    "I": ("SOURCE_CONFISCATED", "confiscated or seized specimens (source I)"),
    "O": ("SOURCE_PRE_CONVENTION", "pre-Convention specimens (source O)"),
}


@dataclass(frozen=True)
class RiskFlag:
    """A reason for Customs to inspect a consignment more closely. ``line_id`` is None for the whole permit."""

    code: str
    reason: str
    line_id: str | None = None


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


@functools.cache
def _schema() -> etree.XMLSchema:
    return safexml.compile_schema(schemas.path(SCHEMA_FILE))


def validate(root: etree._Element, document: str = "customs permit feed") -> None:
    """Raise InvalidMessage, with one finding per schema error, unless ``root`` is valid against the feed XSD."""
    schema = _schema()
    if schema.validate(root):
        return

    findings = [Finding(Severity.ERROR, _readable_path(root, entry.path), entry.message) for entry in schema.error_log]
    first = findings[0]
    raise InvalidMessage(f"{document} is invalid against {SCHEMA_FILE}: {first.path}: {first.message}", findings)


def _readable_path(root: etree._Element, path: str | None) -> str:
    # libxml2 reports namespaced elements as '*' (e.g. /*/*[4]/*[1]), so rebuild the path from local names.
    try:
        found = root.getroottree().xpath(path) if path else []
    except etree.XPathError:
        return path or "/"
    if not found or not isinstance(found[0], etree._Element):
        return path or "/"

    steps = []
    for element in [found[0], *found[0].iterancestors()]:
        siblings = [] if element.getparent() is None else element.getparent().findall(element.tag)
        position = f"[{siblings.index(element) + 1}]" if len(siblings) > 1 else ""
        steps.append(safexml.localname(element) + position)
    return "/" + "/".join(reversed(steps))


def risk_flags(permit: Permit) -> list[RiskFlag]:
    """Return the risk flags of ``permit``: Appendix I, sources W, U, I and O, and live specimens."""
    flags = []
    for item in permit.items:
        flags.extend(_item_flags(item))
    return flags


def _item_flags(item: PermitItem) -> list[RiskFlag]:
    subject = f"line {item.line_id} ({item.scientific_name})"
    flags = []
    if item.appendix.strip().upper() == "I":
        flags.append(RiskFlag("APPENDIX_I", f"{subject}: species listed in CITES Appendix I", item.line_id))

    source_flag = SOURCE_FLAGS.get(item.source.strip().upper())
    if source_flag:
        code, reason = source_flag
        flags.append(RiskFlag(code, f"{subject}: {reason}", item.line_id))

    if item.term.strip().upper() == "LIV":
        flags.append(RiskFlag("LIVE_SPECIMENS", f"{subject}: live specimens (term LIV)", item.line_id))
    return flags


def to_feed(permit: Permit, message_type: MessageType, *, message_id: str, correlation_id: str,
            extra_flags: Sequence[RiskFlag] = ()) -> bytes:
    """Build the feed document for ``permit`` and return its UTF-8 bytes, validated against the XSD.

    Raises InvalidMessage when ``message_type`` is not a permit message type, or when the permit
    contains a value the feed cannot carry (the finding names the element, the value and the rule).
    """
    action = ACTIONS.get(message_type)
    if action is None:
        expected = ", ".join(t.value for t in ACTIONS)
        raise InvalidMessage(f"message_type '{message_type.value}' has no Customs feed action; expected one of: {expected}")

    root = etree.Element(_q("PermitFeed"), nsmap={None: NAMESPACE})
    _add(root, "MessageID", message_id)
    _add(root, "CorrelationID", correlation_id)
    _add(root, "Action", action)
    _add_lpco(root, permit, action)
    _add_risk_flags(root, [*risk_flags(permit), *extra_flags])

    validate(root, f"permit {permit.key}: customs permit feed")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _add(parent: etree._Element, name: str, text: str | None, **attributes: str) -> etree._Element | None:
    if text is None:
        return None
    element = etree.SubElement(parent, _q(name), attributes)
    element.text = text
    return element


def _add_lpco(root: etree._Element, permit: Permit, action: str) -> None:
    lpco = etree.SubElement(root, _q("LPCO"))
    _add(lpco, "TypeCode", permit.type)
    _add(lpco, "ID", permit.number)
    _add(lpco, "Name", permit.name)
    _add(lpco, "FunctionCode", permit.purpose)
    _add(lpco, "StatusCode", STATUS_AFTER_ACTION[action])
    _add(lpco, "IssueDateTime", _datetime(permit.issued_at))
    _add(lpco, "EffectiveDateTime", _datetime(permit.valid_from))
    _add(lpco, "ExpirationDateTime", _datetime(permit.valid_until))

    authority = permit.management_authority
    _add_party(lpco, "IssuingAuthority", authority.name if authority else None, permit.issuing_party)
    _add(lpco, "ExportCountryCode", _export_country(permit))
    _add(lpco, "ImportCountryCode", _import_country(permit))
    _add_trade_party(lpco, "Exporter", permit.exporter)
    _add_trade_party(lpco, "Importer", permit.importer)

    for item in permit.items:
        _add_line(lpco, item)


def _export_country(permit: Permit) -> str | None:
    country = _country(permit.exporter)
    if country is None and permit.type in ("E", "R"):
        return permit.issuing_party
    return country


def _import_country(permit: Permit) -> str | None:
    country = _country(permit.importer)
    if country is None and permit.type == "I":
        return permit.issuing_party
    return country


def _country(party: TradeParty | None) -> str | None:
    return party.address.country if party and party.address else None


def _add_trade_party(parent: etree._Element, name: str, party: TradeParty | None) -> None:
    if party is not None:
        _add_party(parent, name, party.name, _country(party))


def _add_party(parent: etree._Element, name: str, party_name: str | None, country: str | None) -> None:
    if party_name is None and country is None:
        return
    element = etree.SubElement(parent, _q(name))
    _add(element, "Name", party_name)
    _add(element, "CountryCode", country)


def _add_line(lpco: etree._Element, item: PermitItem) -> None:
    line = etree.SubElement(lpco, _q("Line"))
    _add(line, "ID", item.line_id)
    _add(line, "ScientificName", item.scientific_name)
    _add(line, "CommonName", item.common_name)
    _add(line, "AppendixCode", item.appendix)
    _add(line, "SourceCode", item.source)
    _add(line, "TermCode", item.term)

    unit = {"unitCode": item.quantity.unit} if item.quantity.unit else {}
    _add(line, "Quantity", _decimal(item.quantity.value), **unit)
    _add(line, "OriginCountryCode", item.origin_country)


def _add_risk_flags(root: etree._Element, flags: list[RiskFlag]) -> None:
    container = etree.SubElement(root, _q("RiskFlags"))
    for flag in flags:
        element = etree.SubElement(container, _q("RiskFlag"))
        _add(element, "Code", flag.code)
        _add(element, "Reason", flag.reason)
        _add(element, "LineID", flag.line_id)


def _datetime(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _decimal(value: Decimal) -> str:
    # xs:decimal has no exponent form, and str(Decimal("1E+2")) would give one.
    return format(value, "f")


def from_feed(data: bytes) -> dict[str, Any]:
    """Parse and validate a feed document and return its content as plain Python values.

    Dates become datetimes and quantities Decimals. Absent optional elements become None. Raises
    UnsafeXML for unsafe or malformed XML, InvalidMessage for a document that is not a valid feed.
    """
    root = safexml.parse(data)
    _expect_root(root, "PermitFeed")
    validate(root)

    lpco = root.find(_q("LPCO"))
    return {
        "message_id": _text(root, "MessageID"),
        "correlation_id": _text(root, "CorrelationID"),
        "action": _text(root, "Action"),
        **_read_lpco(lpco),
        "risk_flags": [_read_flag(element) for element in root.iterfind(f"{_q('RiskFlags')}/{_q('RiskFlag')}")],
    }


def _expect_root(root: etree._Element, name: str) -> None:
    if root.tag != _q(name):
        raise InvalidMessage(
            f"root element is '{root.tag}'; expected '{name}' in namespace {NAMESPACE}",
            [Finding(Severity.ERROR, "/", "wrong root element", value=root.tag, expected=_q(name))],
        )


def _read_lpco(lpco: etree._Element) -> dict[str, Any]:
    return {
        "permit_type": _text(lpco, "TypeCode"),
        "permit_number": _text(lpco, "ID"),
        "name": _text(lpco, "Name"),
        "purpose": _text(lpco, "FunctionCode"),
        "status": _text(lpco, "StatusCode"),
        "issued_at": _read_datetime(lpco, "IssueDateTime"),
        "valid_from": _read_datetime(lpco, "EffectiveDateTime"),
        "valid_until": _read_datetime(lpco, "ExpirationDateTime"),
        "issuing_authority": _read_party(lpco.find(_q("IssuingAuthority"))),
        "export_country": _text(lpco, "ExportCountryCode"),
        "import_country": _text(lpco, "ImportCountryCode"),
        "exporter": _read_party(lpco.find(_q("Exporter"))),
        "importer": _read_party(lpco.find(_q("Importer"))),
        "lines": [_read_line(line) for line in lpco.iterfind(_q("Line"))],
    }


def _read_party(element: etree._Element | None) -> dict[str, str | None] | None:
    if element is None:
        return None
    return {"name": _text(element, "Name"), "country": _text(element, "CountryCode")}


def _read_line(line: etree._Element) -> dict[str, Any]:
    quantity = line.find(_q("Quantity"))
    return {
        "line_id": _text(line, "ID"),
        "scientific_name": _text(line, "ScientificName"),
        "common_name": _text(line, "CommonName"),
        "appendix": _text(line, "AppendixCode"),
        "source": _text(line, "SourceCode"),
        "term": _text(line, "TermCode"),
        "quantity": Decimal(quantity.text.strip()),
        "unit": quantity.get("unitCode"),
        "origin_country": _text(line, "OriginCountryCode"),
    }


def _read_flag(element: etree._Element) -> dict[str, str | None]:
    return {"code": _text(element, "Code"), "reason": _text(element, "Reason"), "line_id": _text(element, "LineID")}


def _text(parent: etree._Element, name: str) -> str | None:
    element = parent.find(_q(name))
    if element is None or element.text is None:
        return None
    return element.text.strip()


def _read_datetime(parent: etree._Element, name: str) -> datetime | None:
    text = _text(parent, name)
    return datetime.fromisoformat(text) if text else None


def to_acknowledgement(
    status: str,
    *,
    message_id: str | None = None,
    permit_number: str | None = None,
    reference: str | None = None,
    reasons: list[str] | None = None,
) -> bytes:
    """Build a FeedAcknowledgement (``status`` accepted or rejected), as the Customs system sends it."""
    root = etree.Element(_q("FeedAcknowledgement"), nsmap={None: NAMESPACE})
    _add(root, "StatusCode", status)
    _add(root, "MessageID", message_id)
    _add(root, "PermitID", permit_number)
    _add(root, "CustomsReference", reference)
    for reason in reasons or []:
        _add(root, "Reason", reason)

    validate(root, "feed acknowledgement")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def from_acknowledgement(data: bytes) -> dict[str, Any]:
    """Parse and validate a FeedAcknowledgement and return its status, ids and reasons."""
    root = safexml.parse(data)
    _expect_root(root, "FeedAcknowledgement")
    validate(root, "feed acknowledgement")
    return {
        "status": _text(root, "StatusCode"),
        "message_id": _text(root, "MessageID"),
        "permit_number": _text(root, "PermitID"),
        "reference": _text(root, "CustomsReference"),
        "reasons": [element.text.strip() for element in root.iterfind(_q("Reason"))],
    }
