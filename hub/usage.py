"""Customs usage reports: what was cleared against a permit, and the checks against what it allows.

A permit is valid for one shipment (Res. Conf. 12.3), so a second use of an export permit,
re-export certificate or import permit is refused; certificates of type O may be used again.
Each check that fails is a finding naming the line, the value and what the permit allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from hub.errors import Finding, Severity
from hub.lifecycle import PermitState
from hub.permit import Quantity

SINGLE_USE_TYPES = frozenset({"E", "R", "I"})


@dataclass(frozen=True)
class UsageLine:
    line_id: str
    quantity: Quantity


@dataclass(frozen=True)
class UsageReport:
    """One clearance of goods against a permit, as Customs reported it."""

    permit_number: str
    issuing_party: str
    direction: str
    used_at: datetime
    declaration: str
    lines: tuple[UsageLine, ...]
    port: str | None = None
    office: str | None = None

    @property
    def permit_key(self) -> str:
        return f"{self.issuing_party}/{self.permit_number}"


@dataclass
class PermitAllowance:
    """What the journal knows of a permit: its state, type, validity and quantities per line."""

    state: str
    permit_type: str | None
    valid_until: datetime | None
    allowed: dict[str, tuple[Decimal, str | None]]
    used: dict[str, Decimal] = field(default_factory=dict)
    uses: int = 0


def check_usage(report: UsageReport, permit: PermitAllowance | None) -> list[Finding]:
    """Return an error finding for each way ``report`` goes beyond what the permit allows."""
    if permit is None:
        return [_error("/UsageReport/PermitID", f"permit {report.permit_key} is not in the journal",
                       report.permit_number, "a permit the hub has received")]
    findings = _state_findings(report, permit)
    for index, line in enumerate(report.lines, start=1):
        findings += _line_findings(report, permit, index, line)
    return findings


def _state_findings(report: UsageReport, permit: PermitAllowance) -> list[Finding]:
    findings = []
    if permit.state in PermitState.TERMINAL:
        findings.append(_error("/UsageReport/PermitID", f"permit {report.permit_key} is {permit.state}",
                               report.permit_number, "a permit that is neither cancelled nor replaced"))
    if permit.valid_until is not None and report.used_at > permit.valid_until:
        findings.append(_error("/UsageReport/UsedDateTime", f"permit {report.permit_key} expired on "
                               f"{permit.valid_until.isoformat()}", report.used_at.isoformat(),
                               f"a date on or before {permit.valid_until.isoformat()}"))
    if permit.uses and permit.permit_type in SINGLE_USE_TYPES:
        findings.append(_error("/UsageReport/DeclarationID", f"permit {report.permit_key} was already used "
                               f"({permit.uses} time(s)); a type {permit.permit_type} permit is valid for one shipment",
                               report.declaration, "a permit not yet used"))
    return findings


def _line_findings(report: UsageReport, permit: PermitAllowance, index: int, line: UsageLine) -> list[Finding]:
    path = f"/UsageReport/Line[{index}]"
    if line.line_id not in permit.allowed:
        return [_error(f"{path}/ID", f"permit {report.permit_key} has no block {line.line_id}", line.line_id,
                       f"one of {', '.join(sorted(permit.allowed))}")]
    allowed, unit = permit.allowed[line.line_id]
    findings = []
    if (line.quantity.unit or None) != (unit or None):
        findings.append(_error(f"{path}/Quantity/@unitCode", f"block {line.line_id} unit differs from the permit's",
                               line.quantity.unit or "(number of specimens)", unit or "(number of specimens)"))
    total = permit.used.get(line.line_id, Decimal(0)) + line.quantity.value
    if total > allowed:
        findings.append(_error(f"{path}/Quantity", f"block {line.line_id}: {total} would be used in all, more than "
                               f"the {allowed} the permit allows", str(line.quantity.value),
                               f"at most {allowed - permit.used.get(line.line_id, Decimal(0))}"))
    return findings


def _error(path: str, message: str, value: str, expected: str) -> Finding:
    return Finding(Severity.ERROR, path, message, value=value, expected=expected)
