"""Small builders of test permits and hubs, so that each test states only what it is about."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from hub.config import from_dict
from hub.permit import Address, Permit, PermitItem, Quantity, Signatory, TradeParty

ISSUED = datetime(2026, 11, 2, 9, 30, tzinfo=timezone(timedelta(hours=1)))


def make_item(line_id: str = "A", **changes: Any) -> PermitItem:
    values = dict(line_id=line_id, scientific_name="Crocodylus niloticus", common_name="Nile crocodile",
                  term="SKI", appendix="II", source="C", quantity=Quantity(value=Decimal("12"), unit=None))
    values.update(changes)
    return PermitItem(**values)


def make_permit(number: str = "FR2026000123", **changes: Any) -> Permit:
    """An export permit from France to Switzerland with one item, valid for six months."""
    values = dict(
        number=number, type="E", issued_at=ISSUED, valid_from=ISSUED, valid_until=ISSUED + timedelta(days=180),
        purpose="T",
        exporter=TradeParty(name="Exporter SA", address=Address(city="Lyon", country="FR")),
        importer=TradeParty(name="Importer AG", address=Address(city="Basel", country="CH")),
        signatories=[Signatory(role="A", id="S0042", party=TradeParty(
            name="Management Authority of France", address=Address(country="FR")))],
        items=[make_item()],
    )
    values.update(changes)
    return Permit(**values)


def permit_xml(permit: Permit | None = None, **changes: Any) -> bytes:
    from mappings import citesepermit

    return citesepermit.to_xml(permit or make_permit(**changes))


def hub_config(tmp_path: Path, *, broker_url: str = "memory://", journal_url: str | None = None,
               destinations: dict[str, dict] | None = None, routes: list[dict] | None = None,
               delivery: dict | None = None, broker: dict | None = None) -> Any:
    """A hub configuration with a sending permit store (API key 'test-key') and stub destinations."""
    from hub.config import PERMIT_MESSAGE_TYPES, hash_api_key

    destinations = destinations if destinations is not None else {"customs-stub": {"adapter": "stub"}}
    partners = {
        "permit-store": {"adapter": "permit_store", "api_key_sha256": hash_api_key("test-key"),
                         "may_send": [t.value for t in PERMIT_MESSAGE_TYPES], "options": {"url": "http://127.0.0.1:9"}},
        **destinations,
    }
    raw = {
        "data_dir": str(tmp_path / "data"),
        "broker": {"url": broker_url, "namespace": f"t{uuid.uuid4().hex[:12]}", **(broker or {})},
        "journal": {"url": journal_url or f"sqlite:///{tmp_path / 'journal.sqlite3'}"},
        "delivery": {"backoff_initial_seconds": 0.05, "backoff_max_seconds": 0.2, "sweep_interval_seconds": 0.2,
                     "lease_seconds": 5, **(delivery or {})},
        "partners": partners,
        "routes": routes if routes is not None else [
            {"name": "permits", "match": {"message_type": [t.value for t in PERMIT_MESSAGE_TYPES]},
             "to": list(destinations)}],
    }
    return from_dict(raw)
