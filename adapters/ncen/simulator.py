"""An nCEN import service that receives seizure records, served on 127.0.0.1 for tests and the demo.

Routes: ``POST /ncen/seizures`` and ``GET /ncen/seizures``, as in
:class:`~adapters.enforcement.SeizureDatabaseSimulator`. A record is accepted when it is a JSON
object with ``seizure.reference``, ``seizure.country``, ``seizure.date_time`` and at least one
entry in ``goods``. With ``accept_nominal=False`` it stands for the global CEN database and
rejects any record that carries ``persons`` or ``companies``.
"""

from __future__ import annotations

from typing import Any

from adapters.enforcement import SeizureDatabaseSimulator, json_object
from adapters.simulation import SimulatedRequest

RECORDS_PATH = "/ncen/seizures"
REQUIRED_SEIZURE_FIELDS = ("reference", "country", "date_time")
NOMINAL_PARTS = ("persons", "companies")


class NcenSimulator(SeizureDatabaseSimulator):
    """The simulated nCEN import service; see the module docstring for its rules."""

    name = "ncen"
    records_path = RECORDS_PATH
    reference_prefix = "NCEN"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        delay_seconds: float = 0.0,
        reject_reason: str | None = None,
        accept_nominal: bool = True,
    ) -> None:
        super().__init__(host=host, port=port, delay_seconds=delay_seconds, reject_reason=reject_reason)
        self.accept_nominal = accept_nominal

    def read_record(self, request: SimulatedRequest) -> tuple[str, Any]:
        record = json_object(request.body)
        seizure = record.get("seizure")
        if not isinstance(seizure, dict):
            raise ValueError("record has no 'seizure' object; expected the seizure's reference, country and date")
        missing = [name for name in REQUIRED_SEIZURE_FIELDS if not seizure.get(name)]
        if missing:
            raise ValueError(f"seizure is missing {', '.join(missing)}; expected {', '.join(REQUIRED_SEIZURE_FIELDS)}")
        if not isinstance(record.get("goods"), list) or not record["goods"]:
            raise ValueError("record has no goods; expected at least one entry in 'goods'")

        nominal = [part for part in NOMINAL_PARTS if part in record]
        if nominal and not self.accept_nominal:
            raise ValueError(f"record carries nominal data ({', '.join(nominal)}); the global CEN database takes non-nominal data only")
        return str(seizure["reference"]), record
