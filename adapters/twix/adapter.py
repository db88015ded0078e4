"""The TWIX adapter: sends each seizure to one regional TWIX database (EU-TWIX, AFRICA-TWIX, ...).

Each ``seizure.reported`` message becomes a CSV file with a header and one row per item
(``mappings/twix.py``), sent by HTTP POST to ``url`` or written to ``export_dir`` as
``<seizure id>.csv``. CSV because the record is flat apart from its items, and TWIX publishes no
exchange format. Which region gets a seizure is decided by routing
(``hub.seizure_rules.twix_region``): configure one partner per region.

Nominal data: a TWIX database takes persons and companies only where its members agreed to share
them. By default (``nominal: false``) the file has no persons or companies columns at all. With
``nominal: true`` it has them, filled when the seizure's sharing restriction allows it.

Options: those of :class:`~adapters.enforcement.SeizureExportOptions` (``url`` or
``export_dir``, ``timeout_seconds``, ``api_key_env``), and
    ``nominal``   whether this TWIX database takes nominal data (default false)
"""

from __future__ import annotations

from pydantic import Field

from adapters.enforcement import SeizureDatabaseAdapter, SeizureExportOptions
from adapters.twix.simulator import RECORDS_PATH
from hub.seizure import Seizure
from mappings import twix


class TwixOptions(SeizureExportOptions):
    """Options of the TWIX adapter (see the module docstring)."""

    nominal: bool = Field(default=False, description="whether this TWIX database takes persons and companies")


class TwixAdapter(SeizureDatabaseAdapter):
    name = "twix"
    description = "Sends seizure records to a regional TWIX database as CSV, non-nominal unless configured."
    formats = (twix.FORMAT,)
    options_model = TwixOptions
    content_type = twix.CONTENT_TYPE
    file_suffix = ".csv"
    simulator = "adapters.twix.simulator:TwixSimulator"
    simulator_path = RECORDS_PATH

    def build(self, seizure: Seizure) -> bytes:
        return twix.to_csv(seizure, include_nominal=bool(self.options.nominal))
