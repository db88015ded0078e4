"""An ETIS import service that receives seizure records, served on 127.0.0.1 for tests and the demo.

Routes: ``POST /etis/seizures`` and ``GET /etis/seizures``, as in
:class:`~adapters.enforcement.SeizureDatabaseSimulator`. A record is accepted when it is a JSON
object with ``source_reference``, an integer ``seizure_year`` and ``discovered_country`` (the
minimum ETIS needs for analysis), and at least one raw or worked ivory quantity or one entry in
``other_products``. It is rejected when an entry of ``other_products`` is not an elephant, or when
it carries ``persons`` or ``companies``: ETIS records neither.
"""

from __future__ import annotations

from typing import Any

from adapters.enforcement import SeizureDatabaseSimulator, json_object
from adapters.simulation import SimulatedRequest
from hub.seizure_rules import is_elephant_taxon

RECORDS_PATH = "/etis/seizures"
IVORY_QUANTITIES = ("raw_pieces", "raw_weight", "worked_pieces", "worked_weight")


class EtisSimulator(SeizureDatabaseSimulator):
    """The simulated ETIS import service; see the module docstring for its rules."""

    name = "etis"
    records_path = RECORDS_PATH
    reference_prefix = "ETIS"

    def read_record(self, request: SimulatedRequest) -> tuple[str, Any]:
        record = json_object(request.body)
        if not record.get("source_reference") or not record.get("discovered_country"):
            raise ValueError("record is missing source_reference or discovered_country; expected both")
        if not isinstance(record.get("seizure_year"), int):
            raise ValueError(f"seizure_year '{record.get('seizure_year')}' is not a year; expected e.g. 2026")
        if "persons" in record or "companies" in record:
            raise ValueError("record carries nominal data (persons, companies); ETIS records none")

        products = record.get("other_products") or []
        if not isinstance(products, list) or not all(isinstance(product, dict) for product in products):
            raise ValueError("other_products is not a list of objects; expected e.g. [{\"scientific_name\": ..., \"term\": ...}]")
        if not any(record.get(name) for name in IVORY_QUANTITIES) and not products:
            raise ValueError(f"record has no ivory quantity and no other product; expected one of {', '.join(IVORY_QUANTITIES)} or other_products")
        names = {str(product.get("scientific_name", "")) for product in products}
        strangers = sorted(name for name in names if not is_elephant_taxon(name))
        if strangers:
            raise ValueError(f"other_products lists non-elephant taxa ({', '.join(strangers)}); ETIS records elephant specimens only")
        return str(record["source_reference"]), record
