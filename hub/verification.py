"""Verification queries: is permit X of Party Y valid now, for what, and what remains of it.

The journal alone (the permits and permit_usage tables) provides the response, so a border
officer's handheld gets it even when no partner is reachable.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from hub.envelope import utcnow
from hub.journal import Journal
from hub.lifecycle import PermitState
from hub.usage import SINGLE_USE_TYPES


def permit_status(journal: Journal, party: str, number: str, at: datetime | None = None) -> dict[str, Any] | None:
    """Return the permit's verification answer, or None when the journal has never seen it."""
    allowance = journal.allowance(party, number)
    if allowance is None:
        return None
    at = at or utcnow()
    reasons = _invalid_reasons(allowance, at)
    return {
        "permit": f"{party}/{number}",
        "valid": not reasons,
        "reasons": reasons,
        "state": allowance.state,
        "type": allowance.permit_type,
        "valid_until": allowance.valid_until.isoformat() if allowance.valid_until else None,
        "uses": allowance.uses,
        "items": [_item(line, allowed, unit, allowance.used.get(line, Decimal(0)))
                  for line, (allowed, unit) in sorted(allowance.allowed.items())],
        "checked_at": at.isoformat(),
    }


def _invalid_reasons(allowance: Any, at: datetime) -> list[str]:
    reasons = []
    if allowance.state in PermitState.TERMINAL:
        reasons.append(f"the permit is {allowance.state}")
    if allowance.valid_until is not None and at > allowance.valid_until:
        reasons.append(f"the permit expired on {allowance.valid_until.isoformat()}")
    if allowance.uses and allowance.permit_type in SINGLE_USE_TYPES:
        reasons.append("the permit was already used for its one shipment")
    if not allowance.allowed:
        reasons.append("the journal holds no issued version of the permit")
    return reasons


def _item(line: str, allowed: Decimal, unit: str | None, used: Decimal) -> dict[str, Any]:
    return {"line_id": line, "allowed": str(allowed), "used": str(used), "remaining": str(max(allowed - used, 0)),
            "unit": unit}
