"""Risk flags the hub adds from what it knows beyond the permit itself.

The Customs feed mapping already flags what the permit shows (Appendix I, sources W, U, I and O,
live specimens). The hub adds: a permit close to expiry, an earlier partial use, and a species
under a trade suspension or an export quota in the configured trade-restrictions file (a local
copy of Species+ ``cites_legislation`` suspensions and quotas, so that no lookup leaves the hub on
the message path).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from hub.envelope import utcnow
from hub.errors import ConfigError
from hub.journal import Journal
from hub.permit import Permit
from mappings.customs_lpco import RiskFlag

log = logging.getLogger(__name__)

EXPIRY_WARNING_DAYS = 30
RESTRICTION_KINDS = ("suspension", "quota")


@dataclass(frozen=True)
class TradeRestriction:
    """A suspension or quota on a taxon (a species or a genus), for one exporting country or all ('*')."""

    taxon: str
    country: str
    kind: str
    note: str


def load_restrictions(path: Path) -> list[TradeRestriction]:
    """Read a CSV with the columns taxon, country, kind (suspension or quota) and note."""
    try:
        with Path(path).open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise ConfigError(f"cannot read trade restrictions {path}: {error.strerror}") from error
    restrictions = []
    for line, row in enumerate(rows, start=2):
        kind = (row.get("kind") or "").strip()
        if kind not in RESTRICTION_KINDS:
            raise ConfigError(f"{path} line {line}: kind '{kind}' is invalid; expected suspension or quota")
        restrictions.append(TradeRestriction(row["taxon"].strip(), (row.get("country") or "*").strip() or "*",
                                             kind, (row.get("note") or "").strip()))
    return restrictions


class RiskAssessor:
    """Computes the hub's own risk flags of a permit from the journal and the restrictions."""

    def __init__(self, journal: Journal, restrictions: list[TradeRestriction] | None = None) -> None:
        self.journal = journal
        self.restrictions = restrictions or []

    def flags(self, permit: Permit) -> list[RiskFlag]:
        return self._expiry(permit) + self._earlier_use(permit) + self._restricted(permit)

    @staticmethod
    def _expiry(permit: Permit) -> list[RiskFlag]:
        if permit.valid_until is None:
            return []
        left = permit.valid_until - utcnow()
        if timedelta(0) <= left <= timedelta(days=EXPIRY_WARNING_DAYS):
            return [RiskFlag("CLOSE_TO_EXPIRY", f"permit expires on {permit.valid_until.date().isoformat()}, "
                                                f"in {left.days} day(s)")]
        return []

    def _earlier_use(self, permit: Permit) -> list[RiskFlag]:
        party = permit.issuing_party
        used = self.journal.usage_by_line(party, permit.number) if party else {}
        return [RiskFlag("EARLIER_PARTIAL_USE", f"line {line}: {quantity} already cleared against this permit", line)
                for line, quantity in sorted(used.items())]

    def _restricted(self, permit: Permit) -> list[RiskFlag]:
        exporter = permit.exporter.address.country if permit.exporter and permit.exporter.address else None
        flags = []
        for item in permit.items:
            genus = item.scientific_name.split(" ", 1)[0]
            for restriction in self.restrictions:
                if restriction.taxon in (item.scientific_name, genus) and restriction.country in ("*", exporter):
                    code = "TRADE_SUSPENSION" if restriction.kind == "suspension" else "EXPORT_QUOTA"
                    flags.append(RiskFlag(code, f"line {item.line_id} ({item.scientific_name}): {restriction.kind} "
                                                f"for {restriction.country}: {restriction.note}", item.line_id))
        return flags
