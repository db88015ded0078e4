"""Routing: declarative rules from the configuration turn a message into a recipient list."""

from __future__ import annotations

from dataclasses import dataclass

from hub.config import RouteConfig, RouteMatch
from hub.envelope import Envelope
from hub.permit import Permit
from hub.seizure import Seizure
from hub.seizure_rules import is_elephant_ivory, twix_region


@dataclass(frozen=True)
class Recipient:
    destination: str
    route: str


def _any(wanted: list[str], values: list[str | None]) -> bool:
    return not wanted or any(v in wanted for v in values if v is not None)


def _taxon_matches(wanted: list[str], names: list[str]) -> bool:
    """Return True when a name equals a rule's taxon or has it as its genus (the first word)."""
    if not wanted:
        return True
    return any(name == taxon or name.split(" ", 1)[0] == taxon for name in names for taxon in wanted)


def matches(rule: RouteMatch, envelope: Envelope, permit: Permit | None, seizure: Seizure | None = None,
            twix_regions: dict[str, list[str]] | None = None) -> bool:
    """Return True when every condition of ``rule`` holds for the message."""
    if rule.message_type and envelope.message_type not in rule.message_type:
        return False
    if not _any(rule.sender, [envelope.sender]):
        return False
    if rule.elephant is not None or rule.twix_region:
        return _seizure_matches(rule, seizure, twix_regions or {})
    needs_permit = rule.permit_type or rule.issuing_party or rule.exporter_country or rule.importer_country \
        or rule.taxon or rule.term or rule.appendix
    if not needs_permit:
        return True
    if permit is None:
        return False
    return (
        _any(rule.permit_type, [permit.type])
        and _any(rule.issuing_party, [permit.issuing_party])
        and _any(rule.exporter_country, [_country(permit.exporter)])
        and _any(rule.importer_country, [_country(permit.importer)])
        and _taxon_matches(rule.taxon, [item.scientific_name for item in permit.items])
        and _any(rule.term, [item.term for item in permit.items])
        and _any(rule.appendix, [item.appendix for item in permit.items])
    )


def _seizure_matches(rule: RouteMatch, seizure: Seizure | None, twix_regions: dict[str, list[str]]) -> bool:
    if seizure is None:
        return False
    if rule.elephant is not None and is_elephant_ivory(seizure) != rule.elephant:
        return False
    return not rule.twix_region or twix_region(seizure, twix_regions) in rule.twix_region


def _country(party) -> str | None:
    return party.address.country if party is not None and party.address is not None else None


class Router:
    """Apply every route in order; a destination named by several routes is listed once."""

    def __init__(self, routes: list[RouteConfig], twix_regions: dict[str, list[str]] | None = None) -> None:
        self.routes = list(routes)
        self.twix_regions = twix_regions or {}

    def route(self, envelope: Envelope, permit: Permit | None, seizure: Seizure | None = None) -> list[Recipient]:
        recipients: dict[str, Recipient] = {}
        for rule in self.routes:
            if matches(rule.match, envelope, permit, seizure, self.twix_regions):
                for destination in rule.to:
                    if destination != envelope.sender:
                        recipients.setdefault(destination, Recipient(destination, rule.name))
        return list(recipients.values())
