"""A TWIX import service that receives seizure CSV files, served on 127.0.0.1 for tests and the demo.

Routes: ``POST /twix/seizures`` and ``GET /twix/seizures``, as in
:class:`~adapters.enforcement.SeizureDatabaseSimulator`. A file is accepted when it is UTF-8 CSV
whose header is the TWIX header (``mappings.twix.columns``) and whose rows, at least one, all
carry the same ``seizure_id``. With ``accept_nominal=False`` (the default, as most TWIX
databases are configured) a header with the persons or companies columns is rejected.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from adapters.enforcement import SeizureDatabaseSimulator
from adapters.simulation import SimulatedRequest
from mappings import twix

RECORDS_PATH = "/twix/seizures"


class TwixSimulator(SeizureDatabaseSimulator):
    """The simulated TWIX import service; see the module docstring for its rules."""

    name = "twix"
    records_path = RECORDS_PATH
    reference_prefix = "TWIX"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        delay_seconds: float = 0.0,
        reject_reason: str | None = None,
        accept_nominal: bool = False,
    ) -> None:
        super().__init__(host=host, port=port, delay_seconds=delay_seconds, reject_reason=reject_reason)
        self.accept_nominal = accept_nominal

    def read_record(self, request: SimulatedRequest) -> tuple[str, Any]:
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"body is not UTF-8: {error}") from error

        reader = csv.DictReader(io.StringIO(text, newline=""))
        self._check_header(tuple(reader.fieldnames or ()))
        rows = list(reader)
        if not rows:
            raise ValueError("file has a header but no rows; expected one row per item")
        ids = {row["seizure_id"] for row in rows}
        if len(ids) != 1:
            raise ValueError(f"file carries {len(ids)} seizure ids; expected the rows of one seizure")
        return ids.pop(), rows

    def _check_header(self, header: tuple[str, ...]) -> None:
        nominal = [name for name in twix.NOMINAL_COLUMNS if name in header]
        if nominal and not self.accept_nominal:
            raise ValueError(f"file has nominal columns ({', '.join(nominal)}); this TWIX database takes non-nominal data only")
        expected = twix.columns(include_nominal=bool(nominal))
        if header != expected:
            raise ValueError(f"header is {','.join(header) or '(none)'}; expected {','.join(expected)}")
