"""Validation of permit messages: hardened parse, namespace, XSD, mapping, code lists, rules.

:func:`validate` does not raise for bad input. Every problem becomes a :class:`Finding` graded
error, warning or info, with the path of the element (XML steps) or of the model field (dotted,
0-based, e.g. ``items[1].quantity.value``). The message is accepted when no finding is an error.

The schemas are compiled once per process on first use. The validator is on the message path,
so the XSD step uses lxml only.
"""

from __future__ import annotations

import calendar
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from functools import cache

from lxml import etree

import schemas
from hub import codelists, safexml
from hub.envelope import PERMIT_PAYLOAD_TYPES, MessageType
from hub.errors import Finding, InvalidMessage, Severity
from hub.permit import Permit, PermitItem, Quantity, TradeParty
from hub.seizure import Seizure
from hub.species import SpeciesChecker
from hub.usage import UsageReport
from mappings import cbfship, citesepermit, seizure_report, usage_report

logger = logging.getLogger(__name__)

# Message types whose payload is a permit document. An endorsed permit is the "final"
# certificate, the same document with box 14 filled in.
PERMIT_MESSAGE_TYPES = PERMIT_PAYLOAD_TYPES | {MessageType.PERMIT_ENDORSED}

# Maximum validity in months after issue (Res. Conf. 12.3): export permits and re-export
# certificates 6, import permits 12. Other certificates (O) have no general maximum.
MAX_VALIDITY_MONTHS = {"E": 6, "R": 6, "I": 12}

SIGNATORY_ROLES = ("A", "B", "C", "D")


@dataclass
class ValidationResult:
    """The outcome of validating one message: the mapped permit (when it could be mapped) and the findings."""

    permit: Permit | None
    findings: list[Finding] = field(default_factory=list)
    schema: str = ""
    seizure: Seizure | None = None
    usage: UsageReport | None = None

    @property
    def ok(self) -> bool:
        """True when no finding is an error."""
        return not any(finding.severity is Severity.ERROR for finding in self.findings)

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity is Severity.ERROR]


@dataclass(frozen=True)
class PermitFormat:
    """A permit document format the hub reads: its root, schema file and mapping."""

    namespace: str
    root_name: str
    schema_file: str
    read: Callable[[etree._Element], Permit]


FORMATS = {
    citesepermit.NAMESPACE: PermitFormat(
        citesepermit.NAMESPACE, citesepermit.ROOT_NAME, citesepermit.SCHEMA_FILE, citesepermit.from_xml
    ),
    cbfship.NAMESPACE: PermitFormat(cbfship.NAMESPACE, cbfship.ROOT_NAME, cbfship.SCHEMA_FILE, cbfship.from_xml),
}


def warm_up() -> None:
    """Compile every schema validation uses, so that no message waits for a compilation."""
    for permit_format in FORMATS.values():
        compiled_schema(permit_format.schema_file)
    seizure_report._schema()
    usage_report._schema()


def validate(data: bytes, message_type: MessageType, species: SpeciesChecker | None = None) -> ValidationResult:
    """Validate a message payload and map it to a Permit.

    The steps are the hardened parse, the root namespace, the XSD and the mapping, and a step
    that finds an error ends the validation. When the permit maps, the code-list and
    business-rule checks of :func:`validate_permit` follow. A message type whose payload is not
    a permit gets the hardened parse only.
    """
    try:
        root = safexml.parse(data)
    except InvalidMessage as error:
        return _result(None, list(error.findings), "")

    if message_type is MessageType.SEIZURE_REPORTED:
        seizure, findings = seizure_report.check(root)
        return ValidationResult(None, findings, seizure_report.NAMESPACE, seizure=seizure)
    if message_type is MessageType.PERMIT_ENDORSED and safexml.namespace(root) == usage_report.NAMESPACE:
        usage, findings = usage_report.check(root)
        return ValidationResult(None, findings, usage_report.NAMESPACE, usage=usage)
    if message_type not in PERMIT_MESSAGE_TYPES:
        note = f"no payload checks are defined for message type '{message_type.value}'; only the XML was parsed"
        return _result(None, [Finding(Severity.INFO, "/", note)], safexml.namespace(root) or "")

    permit_format, findings = _detect_format(root)
    if permit_format is None:
        return _result(None, findings, safexml.namespace(root) or "")

    document = citesepermit.qualify_root(root, permit_format.namespace)
    findings += _schema_findings(document, permit_format)
    if any(finding.severity is Severity.ERROR for finding in findings):
        return _result(None, findings, permit_format.namespace)

    try:
        permit = permit_format.read(document)
    except InvalidMessage as error:
        return _result(None, findings + error.findings, permit_format.namespace)

    findings += validate_permit(permit, species)
    return _result(permit, findings, permit_format.namespace)


def validate_permit(permit: Permit, species: SpeciesChecker | None = None) -> list[Finding]:
    """Check the code lists and business rules of a permit, e.g. one built in code.

    With ``species``, each item's name and appendix are checked against the species list too.
    """
    findings = _header_code_findings(permit)
    if species is not None:
        findings += species.check_permit(permit)
    for index, item in enumerate(permit.items):
        findings += _item_code_findings(index, item)
    findings += _validity_findings(permit)
    findings += _quantity_findings(permit)
    findings += _line_id_findings(permit)
    findings += _party_findings(permit)
    return findings


def _result(permit: Permit | None, findings: list[Finding], schema: str) -> ValidationResult:
    result = ValidationResult(permit, findings, schema)
    logger.debug(
        "validated %s: %s, %d findings (%d errors)",
        permit.key if permit else "payload",
        "accepted" if result.ok else "rejected",
        len(findings),
        len(result.errors),
    )
    return result


# Namespace.


def _detect_format(root: etree._Element) -> tuple[PermitFormat | None, list[Finding]]:
    name = safexml.localname(root)
    namespace = safexml.namespace(root)
    if namespace in FORMATS and FORMATS[namespace].root_name == name:
        return FORMATS[namespace], []

    # Inside an EPIX SOAP body the root has no namespace while its children keep theirs.
    children = [child for child in root if isinstance(child.tag, str)]
    inner = safexml.namespace(children[0]) if children else None
    if namespace is None and inner in FORMATS and FORMATS[inner].root_name == name:
        note = f"root element {name} has no namespace, as inside an EPIX SOAP response; read as {{{inner}}}{name}"
        return FORMATS[inner], [Finding(Severity.INFO, "/" + name, note, value=name, expected=f"{{{inner}}}{name}")]

    return None, [_wrong_root_finding(root)]


def _wrong_root_finding(root: etree._Element) -> Finding:
    read = etree.QName(root).text
    expected = " or ".join(f"{{{ns}}}{permit_format.root_name}" for ns, permit_format in FORMATS.items())
    message = f"root element {read} is not a CITES permit; expected {expected}"
    if safexml.localname(root) == "Envelope":
        message += ". Send the permit element from the SOAP body, not the envelope"
    return Finding(Severity.ERROR, "/" + safexml.localname(root), message, value=read, expected=expected)


# XSD.

# lxml keeps the error log on the schema object, so two threads validating with the same
# schema at once would mix their errors. NOTE: the lock serialises XSD validation; a schema
# per thread would remove it if this step ever shows up in profiles.
_SCHEMA_LOCK = threading.Lock()


@cache
def compiled_schema(relative: str) -> etree.XMLSchema:
    """Compile the schema file ``relative`` (under ``schemas/``) once per process."""
    return safexml.compile_schema(schemas.path(relative))


def _schema_findings(document: etree._Element, permit_format: PermitFormat) -> list[Finding]:
    schema = compiled_schema(permit_format.schema_file)
    with _SCHEMA_LOCK:
        if schema.validate(document):
            return []
        entries = list(schema.error_log)
    return [_schema_finding(document, entry, permit_format) for entry in entries]


_SCHEMA_VALUE = re.compile(r"': '(?P<value>.*)' is not a valid value of the (?:\w+ )*type '(?:ram:)?(?P<type>\w+)'")
_SCHEMA_EXPECTED = re.compile(r"Expected is (?:one of )?\( (?P<expected>.*) \)")

# Expected forms of the schema's value types, worded as in the mapping's findings.
_VALUE_TYPES_EXPECTED = {
    "DateTimeValue": citesepermit.DATE_TIME_EXPECTED,
    "DecimalValue": citesepermit.DECIMAL_EXPECTED,
    "BooleanValue": "true or false",
}


def _schema_finding(document: etree._Element, entry: etree._LogEntry, permit_format: PermitFormat) -> Finding:
    message = _short_names(entry.message, permit_format)
    value_match = _SCHEMA_VALUE.search(message)
    expected_match = _SCHEMA_EXPECTED.search(message)

    value = expected = None
    if value_match:
        value = value_match["value"]
        expected = _VALUE_TYPES_EXPECTED.get(value_match["type"], value_match["type"])
    elif expected_match:
        expected = expected_match["expected"]
    return Finding(Severity.ERROR, _schema_path(document, entry.path), f"line {entry.line}: {message}", value, expected)


def _short_names(message: str, permit_format: PermitFormat) -> str:
    message = message.replace(f"{{{permit_format.namespace}}}", "rsm:")
    return message.replace(f"{{{citesepermit.RAM_NAMESPACE}}}", "ram:")


def _schema_path(document: etree._Element, path: str | None) -> str:
    """Turn libxml2's path (prefixed steps or ``*[n]`` steps) into local-name steps."""
    if not path:
        return "/"

    prefixes = {prefix: uri for element in document.iter() for prefix, uri in element.nsmap.items() if prefix}
    try:
        found = document.getroottree().xpath(path, namespaces=prefixes)
    except etree.XPathError:
        found = []
    if isinstance(found, list) and len(found) == 1 and isinstance(found[0], etree._Element):
        return citesepermit.element_path(found[0])
    return re.sub(r"(?<=/)[^/:\[]+:", "", path)


# Code lists.


def _header_code_findings(permit: Permit) -> list[Finding]:
    checks = [
        codelists.check("permit_type", permit.type, "type", subject="permit type"),
        codelists.check("purpose", permit.purpose, "purpose", subject="purpose"),
    ]
    findings = [finding for finding in checks if finding is not None]

    if permit.purpose is None:
        findings.append(_warning("purpose", "purpose (box 5a) is missing", None, "a purpose code such as T"))
    findings += _signatory_findings(permit)
    return findings


def _signatory_findings(permit: Permit) -> list[Finding]:
    findings = []
    seen: set[str] = set()
    for index, signatory in enumerate(permit.signatories):
        path = f"signatories[{index}].role"
        if signatory.role not in SIGNATORY_ROLES:
            message = f"signatory role '{signatory.role}' is unknown; expected one of A, B, C, D"
            findings.append(_error(path, message, signatory.role, "one of A, B, C, D"))
        elif signatory.role in seen:
            message = f"signatory role '{signatory.role}' occurs more than once; expected each role at most once"
            findings.append(_error(path, message, signatory.role, "each role at most once"))
        seen.add(signatory.role)
    return findings


def _item_code_findings(index: int, item: PermitItem) -> list[Finding]:
    prefix = f"items[{index}]"
    subject = f"item {item.line_id}"
    checks = [
        codelists.check("term", item.term, f"{prefix}.term", subject=f"{subject} term"),
        codelists.check("appendix", item.appendix, f"{prefix}.appendix", subject=f"{subject} appendix"),
        codelists.check("source", item.source, f"{prefix}.source", subject=f"{subject} source"),
    ]
    for name, quantity in _item_quantities(item):
        if quantity is not None:
            path = f"{prefix}.{name}.unit"
            checks.append(codelists.check("unit", quantity.unit, path, subject=f"{subject} {name} unit"))
    return [finding for finding in checks if finding is not None]


def _item_quantities(item: PermitItem) -> list[tuple[str, Quantity | None]]:
    return [
        ("quantity", item.quantity),
        ("quota_used_to_date", item.quota_used_to_date),
        ("annual_quota", item.annual_quota),
        ("exported_quantity", item.exported_quantity),
    ]


# Business rules.


def _validity_findings(permit: Permit) -> list[Finding]:
    if permit.valid_until is None:
        return [_warning("valid_until", "valid-until date (box 2) is missing", None, "the date the permit expires")]

    findings = []
    until = permit.valid_until.isoformat()
    for name, start in (("issued_at", permit.issued_at), ("valid_from", permit.valid_from)):
        if start is not None and _aware(permit.valid_until) <= _aware(start):
            message = f"valid_until '{until}' is not after {name} '{start.isoformat()}'"
            findings.append(_error("valid_until", message, until, f"a date-time after {start.isoformat()}"))

    findings += _maximum_validity_findings(permit)
    return findings


def _maximum_validity_findings(permit: Permit) -> list[Finding]:
    months = MAX_VALIDITY_MONTHS.get(permit.type)
    start = permit.issued_at or permit.valid_from
    if months is None or start is None or permit.valid_until is None:
        return []

    latest = _add_months(start, months)
    if _aware(permit.valid_until) <= _aware(latest):
        return []
    until = permit.valid_until.isoformat()
    message = (
        f"valid_until '{until}' is more than {months} months after issue ({start.isoformat()}); "
        f"a permit of type {permit.type} is valid for at most {months} months"
    )
    return [_error("valid_until", message, until, f"at most {latest.isoformat()}")]


def _quantity_findings(permit: Permit) -> list[Finding]:
    findings = []
    for index, item in enumerate(permit.items):
        for name, quantity in _item_quantities(item):
            if quantity is None:
                continue
            # The quantity traded must be positive. Quota figures and the exported quantity
            # (box 14) may be zero, but none may be negative.
            minimum_ok = quantity.value > 0 if name == "quantity" else quantity.value >= 0
            if not minimum_ok:
                findings.append(_quantity_finding(index, item, name, quantity.value))
    return findings


def _quantity_finding(index: int, item: PermitItem, name: str, value: Decimal) -> Finding:
    rule = "positive" if name == "quantity" else "zero or more"
    message = f"item {item.line_id} {name} '{value}' must be {rule}"
    expected = "a number greater than 0" if name == "quantity" else "a number of 0 or more"
    return _error(f"items[{index}].{name}.value", message, str(value), expected)


def _line_id_findings(permit: Permit) -> list[Finding]:
    findings = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(permit.items):
        if item.line_id in first_index:
            message = f"item line ID '{item.line_id}' is already used by items[{first_index[item.line_id]}]"
            findings.append(_error(f"items[{index}].line_id", message, item.line_id, "a line ID unique in the permit"))
        first_index.setdefault(item.line_id, index)
    return findings


def _party_findings(permit: Permit) -> list[Finding]:
    importer = _country(permit.importer)
    exporter = _country(permit.exporter)
    if importer is None or importer != exporter:
        return []
    message = f"importer and exporter are both in country '{importer}'"
    return [_warning("importer.address.country", message, importer, "a country other than the exporter's")]


def _country(party: TradeParty | None) -> str | None:
    if party is None or party.address is None:
        return None
    return party.address.country


def _add_months(moment: datetime, months: int) -> datetime:
    """Add calendar months, moving to the month's last day when the day does not exist (31 Aug + 6 → 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _aware(moment: datetime) -> datetime:
    # NOTE: a date-time without an offset is compared as UTC; senders should always give one.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _error(path: str, message: str, value: str | None, expected: str | None) -> Finding:
    return Finding(Severity.ERROR, path, message, value=value, expected=expected)


def _warning(path: str, message: str, value: str | None, expected: str | None) -> Finding:
    return Finding(Severity.WARNING, path, message, value=value, expected=expected)
