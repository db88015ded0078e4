"""The Customs usage report (``urn:cites-hub:customs:usage-report:1``) ⇄ :class:`hub.usage.UsageReport`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from threading import Lock

from lxml import etree

import schemas
from hub import safexml
from hub.errors import Finding, InvalidMessage, Severity
from hub.permit import Quantity
from hub.usage import UsageLine, UsageReport

NAMESPACE = "urn:cites-hub:customs:usage-report:1"
SCHEMA_FILE = "customs/UsageReport_1.xsd"
_NS = {"ur": NAMESPACE}
_schema_lock = Lock()  # lxml keeps the error log on the schema object


@cache
def _schema() -> etree.XMLSchema:
    return safexml.compile_schema(schemas.path(SCHEMA_FILE))


def check(root: etree._Element) -> tuple[UsageReport | None, list[Finding]]:
    """Validate a parsed usage report against its XSD and map it; never raises for bad input."""
    schema = _schema()
    with _schema_lock:
        valid = schema.validate(root)
        errors = list(schema.error_log)
    if not valid:
        return None, [Finding(Severity.ERROR, e.path or "/", e.message, expected="a UsageReport valid against "
                              f"{SCHEMA_FILE}") for e in errors]
    try:
        return _read(root), []
    except InvalidMessage as error:
        return None, error.findings


def _read(root: etree._Element) -> UsageReport:
    text = lambda path: (root.findtext(path, namespaces=_NS) or "").strip() or None  # noqa: E731
    used_at = datetime.fromisoformat(text("ur:UsedDateTime"))
    if used_at.tzinfo is None:
        raise InvalidMessage("UsedDateTime has no UTC offset", [Finding(
            Severity.ERROR, "/UsageReport/UsedDateTime", "the date-time has no UTC offset",
            value=text("ur:UsedDateTime"), expected="e.g. 2026-05-04T10:30:00+02:00")])
    return UsageReport(
        permit_number=text("ur:PermitID"), issuing_party=text("ur:IssuingCountryID"), direction=text("ur:Direction"),
        used_at=used_at, declaration=text("ur:DeclarationID"), port=text("ur:PortID"), office=text("ur:OfficeName"),
        lines=tuple(_line(index, line) for index, line in enumerate(root.findall("ur:Line", _NS), start=1)),
    )


def _line(index: int, line: etree._Element) -> UsageLine:
    quantity = line.find("ur:Quantity", _NS)
    try:
        value = Decimal(quantity.text.strip())
    except (InvalidOperation, AttributeError):
        value = Decimal(-1)
    if value <= 0:
        raise InvalidMessage("usage quantity must be positive", [Finding(
            Severity.ERROR, f"/UsageReport/Line[{index}]/Quantity", "quantity must be positive",
            value=quantity.text, expected="a number above 0")])
    return UsageLine(line_id=line.findtext("ur:ID", namespaces=_NS).strip(),
                     quantity=Quantity(value=value, unit=quantity.get("unitCode") or None))


def to_xml(report: UsageReport) -> bytes:
    """Write a usage report; used by the Customs simulator, the tests and the README example."""
    root = etree.Element(f"{{{NAMESPACE}}}UsageReport", nsmap={None: NAMESPACE})
    for name, value in (("PermitID", report.permit_number), ("IssuingCountryID", report.issuing_party),
                        ("Direction", report.direction), ("UsedDateTime", report.used_at.isoformat()),
                        ("PortID", report.port), ("DeclarationID", report.declaration),
                        ("OfficeName", report.office)):
        if value is not None:
            etree.SubElement(root, f"{{{NAMESPACE}}}{name}").text = value
    for line in report.lines:
        element = etree.SubElement(root, f"{{{NAMESPACE}}}Line")
        etree.SubElement(element, f"{{{NAMESPACE}}}ID").text = line.line_id
        quantity = etree.SubElement(element, f"{{{NAMESPACE}}}Quantity")
        quantity.text = str(line.quantity.value)
        if line.quantity.unit:
            quantity.set("unitCode", line.quantity.unit)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
