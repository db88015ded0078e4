"""Seizure → WCO nCEN seizure record, as JSON.

nCEN, the WCO's national Customs Enforcement Network application, publishes no exchange format
or API. Its records are entered in the application. Its Icomm messaging exchanges them with other
nCEN users and sends the non-nominal part to the WCO's global CEN database. The WCO
describes (wcoomd.org, the nCEN page of the CEN suite) what its seizures and offences database
holds: the seizure, the goods, the route, the means of conveyance and the concealment, with the
persons and companies linked to it. No field list is published, so this record groups our fields
under those headings, with our own names:

=================== =========================================================================
part                filled from
=================== =========================================================================
``seizure``         ``id`` (reference), ``seized_at`` (date-time with offset),
                    ``discovery_country``, ``discovery_place``, ``discovery_locode``, ``agency``,
                    ``detection_method``, ``status``, ``permit_numbers`` (documents presented),
                    ``disposal``
``goods``           one entry per item: category ``CITES``, ``scientific_name``,
                    ``common_name``, ``taxon_id``, ``term``, ``description``, quantity and unit,
                    ``pieces``, ``weight_kg``
``route``           ``trade_chain``: origin countries with proportion, export countries,
                    transit countries, destination
``conveyance``      ``transport_mode``
``concealment``     ``concealment``
``persons``         ``nominal.persons``: name, role, nationality, birth date, identity document
``companies``       ``nominal.companies``: name, role, country, registration id
=================== =========================================================================

``persons`` and ``companies`` are written only when the caller asks for nominal data and the
seizure's sharing restriction allows it (``Seizure.shares_nominal``). The national nCEN
database takes nominal data, but the global CEN database takes only the non-nominal part.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hub.seizure import Company, Person, Seizure, SeizureItem, TradeChain

FORMAT = "ncen-seizure:json"
CONTENT_TYPE = "application/json"
GOODS_CATEGORY = "CITES"


def to_record(seizure: Seizure, *, include_nominal: bool) -> dict[str, Any]:
    """Return the nCEN record of ``seizure`` as a JSON-ready dict.

    Persons and companies are included only when ``include_nominal`` is true and the seizure's
    sharing restriction allows it.
    """
    record: dict[str, Any] = {
        "seizure": _seizure(seizure),
        "goods": [_goods(item) for item in seizure.items],
        "route": _route(seizure.trade_chain),
        "conveyance": seizure.transport_mode.value if seizure.transport_mode else None,
        "concealment": seizure.concealment,
    }
    if include_nominal and seizure.shares_nominal and seizure.nominal is not None:
        record["persons"] = [_person(person) for person in seizure.nominal.persons]
        record["companies"] = [_company(company) for company in seizure.nominal.companies]
    return record


def to_json(seizure: Seizure, *, include_nominal: bool) -> bytes:
    """Return the nCEN record of ``seizure`` as UTF-8 JSON; the same input always gives the same bytes."""
    record = to_record(seizure, include_nominal=include_nominal)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _seizure(seizure: Seizure) -> dict[str, Any]:
    return {
        "reference": seizure.id,
        "date_time": seizure.seized_at.isoformat(),
        "country": seizure.discovery_country,
        "place": seizure.discovery_place,
        "locode": seizure.discovery_locode,
        "agency": seizure.agency,
        "detection_method": seizure.detection_method,
        "status": seizure.status.value,
        "documents": list(seizure.permit_numbers),
        "disposal": seizure.disposal,
    }


def _goods(item: SeizureItem) -> dict[str, Any]:
    quantity = item.quantity
    return {
        "category": GOODS_CATEGORY,
        "scientific_name": item.scientific_name,
        "common_name": item.common_name,
        "taxon_id": item.taxon_id,
        "term": item.term,
        "description": item.description,
        "quantity": _number(quantity.value) if quantity else None,
        "unit": quantity.unit if quantity else None,
        "pieces": item.pieces,
        "weight_kg": _number(item.weight_kg),
    }


def _route(chain: TradeChain) -> dict[str, Any]:
    return {
        "origin": [{"country": o.country, "proportion": _number(o.proportion)} for o in chain.origin],
        "export": list(chain.export),
        "transit": [{"country": t.country, "seizure_opportunity": t.seizure_opportunity} for t in chain.transit],
        "destination": chain.destination,
    }


def _person(person: Person) -> dict[str, Any]:
    return {
        "name": person.name,
        "role": person.role,
        "nationality": person.nationality,
        "birth_date": person.birth_date.isoformat() if person.birth_date else None,
        "identity_document": person.identity_document,
    }


def _company(company: Company) -> dict[str, Any]:
    return {
        "name": company.name,
        "role": company.role,
        "country": company.country,
        "registration_id": company.registration_id,
    }


def _number(value: Decimal | None) -> float | None:
    # JSON has one number type; json writes a float's shortest form, so 41.5 stays 41.5.
    return None if value is None else float(value)
