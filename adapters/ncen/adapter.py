"""The nCEN adapter: sends each seizure to the WCO nCEN application, or to the global CEN database.

Each ``seizure.reported`` message becomes one nCEN record in JSON (``mappings/ncen.py``), sent by
HTTP POST to ``url`` or written to ``export_dir`` as ``<seizure id>.json``. JSON because an nCEN
record nests: goods, route, persons and companies hang off the seizure. nCEN publishes no
exchange format, so the receiving side is an import service or a person loading the file.

Nominal data: the national nCEN database takes the persons and companies linked to a seizure,
the global CEN database takes only the non-nominal part. With ``scope: national`` the record
carries them when the seizure's sharing restriction allows it; with ``scope: cen`` it never does.

Options: those of :class:`~adapters.enforcement.SeizureExportOptions` (``url`` or
``export_dir``, ``timeout_seconds``, ``api_key_env``), and
    ``scope``   ``national`` (default): the national nCEN database, nominal data allowed;
                ``cen``: the global CEN database, non-nominal data only
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from adapters.enforcement import SeizureDatabaseAdapter, SeizureExportOptions
from adapters.ncen.simulator import RECORDS_PATH
from hub.seizure import Seizure
from mappings import ncen


class NcenOptions(SeizureExportOptions):
    """Options of the nCEN adapter (see the module docstring)."""

    scope: Literal["national", "cen"] = Field(
        default="national",
        description="national: the national nCEN database, which takes nominal data; cen: the global CEN database, non-nominal only",
    )


class NcenAdapter(SeizureDatabaseAdapter):
    name = "ncen"
    description = "Sends seizure records to the WCO nCEN application, or non-nominal ones to the global CEN database."
    formats = (ncen.FORMAT,)
    options_model = NcenOptions
    content_type = ncen.CONTENT_TYPE
    file_suffix = ".json"
    simulator = "adapters.ncen.simulator:NcenSimulator"
    simulator_path = RECORDS_PATH

    @property
    def takes_nominal(self) -> bool:
        """True when the destination is the national nCEN database, the only scope that takes nominal data."""
        return bool(self.options.scope == "national")

    def build(self, seizure: Seizure) -> bytes:
        return ncen.to_json(seizure, include_nominal=self.takes_nominal)
