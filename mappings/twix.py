"""Seizure → TWIX seizure rows, as CSV.

TWIX (Trade in Wildlife Information eXchange: EU-TWIX, AFRICA-TWIX, SADC-TWIX, Eastern
Africa-TWIX) runs access-restricted seizure databases for enforcement officials, and publishes
neither an exchange format nor its field list (eu-twix.org; TRAFFIC's TWIX pages). This mapping
therefore writes the per-seizure fields of the CITES annual illegal trade report (the standard
format of its Guidelines, SC69 2017, revised SC71 2019), which TWIX records have in common with
the other enforcement databases. NOTE: that field list comes from the Guidelines' description, not
from the Excel template itself. Check the columns against the template before relying on them.

CSV because a seizure is one flat record apart from its items, and the report's standard format
is a spreadsheet: UTF-8, comma-separated, RFC 4180 quoting, a header row, then one row per item, with the
seizure's columns repeated on each row. Lists inside a cell are joined with ``;``.

======================== ================================================================
column                   filled from
======================== ================================================================
seizure_id               ``id``
seizure_date             ``seized_at`` (xs:dateTime with offset)
country_of_seizure       ``discovery_country``
place_of_seizure         ``discovery_place``
locode                   ``discovery_locode``
seizing_agency           ``agency``
detection_method         ``detection_method``
species                  item ``scientific_name``
common_name              item ``common_name``
term_code                item ``term`` (CITES term code)
description              item ``description``
quantity, unit           item ``quantity`` (CITES unit code; empty means specimens)
pieces                   item ``piece_count``
weight_kg                item ``weight_in_kg``
countries_of_origin      ``trade_chain.origin`` (``KE`` or ``KE:0.8`` with the proportion)
countries_of_export      ``trade_chain.export``
countries_of_transit     ``trade_chain.transit``
country_of_destination   ``trade_chain.destination``
mode_of_transport        ``transport_mode``
method_of_concealment    ``concealment``
permits_presented        ``permit_numbers``
disposal                 ``disposal``
status                   ``status``
persons                  ``nominal.persons``: ``name (nationality, role)``; only with nominal data
companies                ``nominal.companies``: ``name (country, role)``; only with nominal data
======================== ================================================================

The ``persons`` and ``companies`` columns exist only when the destination takes nominal data, so
a non-nominal TWIX file never carries them, not even empty. They are filled only when the
seizure's sharing restriction allows it.

NOTE: a cell that starts with ``=``, ``+``, ``-`` or ``@`` is written as is; a spreadsheet may
read it as a formula. Neutralising it would change the data that TWIX imports.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from decimal import Decimal

from hub.seizure import Company, Person, Seizure, SeizureItem, TradeChain

FORMAT = "twix-seizure:csv"
CONTENT_TYPE = "text/csv; charset=utf-8"
LIST_SEPARATOR = ";"

COLUMNS = (
    "seizure_id", "seizure_date", "country_of_seizure", "place_of_seizure", "locode", "seizing_agency",
    "detection_method", "species", "common_name", "term_code", "description", "quantity", "unit", "pieces",
    "weight_kg", "countries_of_origin", "countries_of_export", "countries_of_transit", "country_of_destination",
    "mode_of_transport", "method_of_concealment", "permits_presented", "disposal", "status",
)
NOMINAL_COLUMNS = ("persons", "companies")


def columns(*, include_nominal: bool) -> tuple[str, ...]:
    """Return the header of a TWIX file, with the nominal columns when the destination takes nominal data."""
    return COLUMNS + NOMINAL_COLUMNS if include_nominal else COLUMNS


def to_rows(seizure: Seizure, *, include_nominal: bool) -> list[dict[str, str]]:
    """Return one row per item of ``seizure``, each a dict from column to cell text."""
    shared = _seizure_cells(seizure)
    if include_nominal:
        shared.update(_nominal_cells(seizure))
    return [{**shared, **_item_cells(item)} for item in seizure.items]


def to_csv(seizure: Seizure, *, include_nominal: bool) -> bytes:
    """Return the TWIX CSV of ``seizure`` (header and one row per item) as UTF-8 bytes."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns(include_nominal=include_nominal), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(to_rows(seizure, include_nominal=include_nominal))
    return buffer.getvalue().encode("utf-8")


def _seizure_cells(seizure: Seizure) -> dict[str, str]:
    chain = seizure.trade_chain
    return {
        "seizure_id": seizure.id,
        "seizure_date": seizure.seized_at.isoformat(),
        "country_of_seizure": seizure.discovery_country,
        "place_of_seizure": _cell(seizure.discovery_place),
        "locode": _cell(seizure.discovery_locode),
        "seizing_agency": _cell(seizure.agency),
        "detection_method": _cell(seizure.detection_method),
        **_chain_cells(chain),
        "mode_of_transport": seizure.transport_mode.value if seizure.transport_mode else "",
        "method_of_concealment": _cell(seizure.concealment),
        "permits_presented": _joined(seizure.permit_numbers),
        "disposal": _cell(seizure.disposal),
        "status": seizure.status.value,
    }


def _chain_cells(chain: TradeChain) -> dict[str, str]:
    origins = [o.country if o.proportion is None else f"{o.country}:{_decimal(o.proportion)}" for o in chain.origin]
    return {
        "countries_of_origin": _joined(origins),
        "countries_of_export": _joined(chain.export),
        "countries_of_transit": _joined(t.country for t in chain.transit),
        "country_of_destination": _cell(chain.destination),
    }


def _item_cells(item: SeizureItem) -> dict[str, str]:
    quantity = item.quantity
    weight = item.weight_in_kg
    return {
        "species": item.scientific_name,
        "common_name": _cell(item.common_name),
        "term_code": item.term,
        "description": _cell(item.description),
        "quantity": _decimal(quantity.value) if quantity else "",
        "unit": _cell(quantity.unit) if quantity else "",
        "pieces": "" if item.piece_count is None else str(item.piece_count),
        "weight_kg": "" if weight is None else _decimal(weight),
    }


def _nominal_cells(seizure: Seizure) -> dict[str, str]:
    if not seizure.shares_nominal or seizure.nominal is None:
        return {"persons": "", "companies": ""}
    return {
        "persons": _joined(_person(person) for person in seizure.nominal.persons),
        "companies": _joined(_company(company) for company in seizure.nominal.companies),
    }


def _person(person: Person) -> str:
    details = ", ".join(part for part in (person.nationality, person.role) if part)
    return f"{person.name} ({details})" if details else person.name


def _company(company: Company) -> str:
    details = ", ".join(part for part in (company.country, company.role) if part)
    return f"{company.name} ({details})" if details else company.name


def _joined(values: Iterable[str]) -> str:
    return LIST_SEPARATOR.join(values)


def _cell(value: str | None) -> str:
    return value or ""


def _decimal(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
