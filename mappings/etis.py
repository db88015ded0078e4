"""Seizure → ETIS seizure record, as JSON.

ETIS (the Elephant Trade Information System, managed by TRAFFIC under Res. Conf. 10.10) publishes
no exchange format: Management Authorities enter seizures in ETIS Online. Its data model is public
in the data definitions and SQL of the ETIS analysis code for CITES reporting
(github.com/fmunderwood/ETIS_CITESReporting_RCode, ``DataDefinitions.md`` and ``R/*.R``): a
``seizures`` table and one junction table per role a country plays in the trade chain. This
module fills those fields, named as in that schema, in one JSON object per seizure:

======================== ==================================================================
field                    filled from
======================== ==================================================================
``seizure_year``         the year of ``seized_at``
``discovered_country``   ``discovery_country`` (ISO code; ETIS keys countries by its own id)
``destination_country``  ``trade_chain.destination``
``raw_pieces``           sum of ``piece_count`` over the raw ivory items
``raw_weight``           sum of ``weight_in_kg`` over the raw ivory items (kg)
``worked_pieces``        the same over the worked ivory items
``worked_weight``        the same over the worked ivory items (kg)
``ma_submitted``         always true: the Management Authority submits through the hub
``origin_countries``     ``trade_chain.origin``: ``country`` and ``proportion``
``export_countries``     ``trade_chain.export``
``transit_countries``    ``trade_chain.transit``: ``country`` and ``seizure_opportunity``
======================== ==================================================================

Three fields are ours, not ETIS's: ``source_reference`` (the seizing agency's id; ETIS assigns
its own ``id``), ``seizure_date`` (the schema keeps only the year; the date lets ETIS staff
match the record with other reports of the same seizure), and ``other_products``, the elephant items that are not ivory (skins, hair, meat...), each
with its scientific name, term, quantity, unit, pieces and weight.

Left out: ``id`` and ``status_id`` (ETIS assigns them and validates the record), ``status_note``,
and the raw and worked origin junctions (``seizure_raw_origin_countries``,
``seizure_worked_origin_countries``), because a seizure report gives one origin list for the
whole seizure. Items that are not elephant specimens are never sent, and a seizure without any
elephant item cannot be mapped at all. Nominal data is never sent: ETIS records none.

An item is raw or worked ivory by its ``ivory_form``, else by its term (``IVORY_TERMS`` in
``hub.seizure_rules``). A quantity is null when no item of that kind gives it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hub.errors import Finding, InvalidMessage, Severity
from hub.seizure import IvoryForm, Seizure, SeizureItem
from hub.seizure_rules import elephant_items, ivory_form

FORMAT = "etis-seizure:json"
CONTENT_TYPE = "application/json"


def to_record(seizure: Seizure) -> dict[str, Any]:
    """Return the ETIS record of ``seizure`` as a JSON-ready dict.

    Raises InvalidMessage when no item of ``seizure`` is an elephant specimen.
    """
    items = elephant_items(seizure)
    if not items:
        raise InvalidMessage(_not_elephant(seizure), [_not_elephant_finding(seizure)])

    raw = [item for item in items if ivory_form(item) is IvoryForm.RAW]
    worked = [item for item in items if ivory_form(item) is IvoryForm.WORKED]
    chain = seizure.trade_chain
    return {
        "source_reference": seizure.id,
        "seizure_date": seizure.seized_at.date().isoformat(),
        "seizure_year": seizure.seized_at.year,
        "discovered_country": seizure.discovery_country,
        "destination_country": chain.destination,
        "raw_pieces": _total_pieces(raw),
        "raw_weight": _total_weight(raw),
        "worked_pieces": _total_pieces(worked),
        "worked_weight": _total_weight(worked),
        "ma_submitted": True,
        "origin_countries": [{"country": o.country, "proportion": _number(o.proportion)} for o in chain.origin],
        "export_countries": list(chain.export),
        "transit_countries": [{"country": t.country, "seizure_opportunity": t.seizure_opportunity} for t in chain.transit],
        "other_products": [_other_product(item) for item in items if ivory_form(item) is None],
    }


def to_json(seizure: Seizure) -> bytes:
    """Return the ETIS record of ``seizure`` as UTF-8 JSON; the same seizure always gives the same bytes."""
    return json.dumps(to_record(seizure), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _total_pieces(items: list[SeizureItem]) -> int | None:
    counts = [item.piece_count for item in items if item.piece_count is not None]
    return sum(counts) if counts else None


def _total_weight(items: list[SeizureItem]) -> float | None:
    weights = [item.weight_in_kg for item in items if item.weight_in_kg is not None]
    return _number(sum(weights, Decimal(0))) if weights else None


def _other_product(item: SeizureItem) -> dict[str, Any]:
    quantity = item.quantity
    return {
        "scientific_name": item.scientific_name,
        "term": item.term,
        "quantity": _number(quantity.value) if quantity else None,
        "unit": quantity.unit if quantity else None,
        "pieces": item.pieces,
        "weight_kg": _number(item.weight_kg),
    }


def _number(value: Decimal | None) -> float | None:
    # JSON has one number type. A weight in kg keeps its digits as a float: float() gives the
    # nearest double and json writes its shortest form, so 41.5 stays 41.5.
    return None if value is None else float(value)


def _not_elephant(seizure: Seizure) -> str:
    names = ", ".join(sorted({item.scientific_name for item in seizure.items}))
    return (
        f"seizure {seizure.id} has no elephant specimens ({names}); ETIS records only elephant ivory "
        "and other elephant products: expected an item of Loxodonta africana or Elephas maximus"
    )


def _not_elephant_finding(seizure: Seizure) -> Finding:
    names = ", ".join(sorted({item.scientific_name for item in seizure.items}))
    expected = "an item of Loxodonta africana or Elephas maximus"
    return Finding(Severity.ERROR, "items", _not_elephant(seizure), value=names, expected=expected)
