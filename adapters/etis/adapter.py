"""The ETIS adapter: sends seizures of elephant ivory and other elephant products to ETIS.

Each ``seizure.reported`` message becomes one ETIS record in JSON (``mappings/etis.py``), sent by
HTTP POST to ``url`` or written to ``export_dir`` as ``<seizure id>.json``. JSON because the
record has the ETIS seizure fields plus lists of countries per role in the trade chain, as the
ETIS schema's junction tables do. ETIS publishes no exchange format: Management Authorities enter
records in ETIS Online, so the receiver is an import service or a person loading the file.

ETIS must never receive a seizure without elephant specimens. Routing sends it only those
(``hub.seizure_rules.is_elephant_ivory``), and this adapter refuses any other seizure itself with
``PermanentDeliveryError``, in case a route is written wrongly. Of a seizure with several
species, only the elephant items are sent. ETIS takes no nominal data, so none is ever sent.

Options: those of :class:`~adapters.enforcement.SeizureExportOptions` (``url`` or
``export_dir``, ``timeout_seconds``, ``api_key_env``).
"""

from __future__ import annotations

from adapters.enforcement import SeizureDatabaseAdapter, SeizureExportOptions
from adapters.etis.simulator import RECORDS_PATH
from hub.errors import PermanentDeliveryError
from hub.seizure import Seizure
from hub.seizure_rules import is_elephant_ivory
from mappings import etis


class EtisOptions(SeizureExportOptions):
    """Options of the ETIS adapter (see the module docstring)."""


class EtisAdapter(SeizureDatabaseAdapter):
    name = "etis"
    description = "Sends seizures of elephant ivory and other elephant products to ETIS; rejects any other seizure."
    formats = (etis.FORMAT,)
    options_model = EtisOptions
    content_type = etis.CONTENT_TYPE
    file_suffix = ".json"
    simulator = "adapters.etis.simulator:EtisSimulator"
    simulator_path = RECORDS_PATH

    def build(self, seizure: Seizure) -> bytes:
        if not is_elephant_ivory(seizure):
            names = ", ".join(sorted({item.scientific_name for item in seizure.items}))
            raise PermanentDeliveryError(
                f"etis partner '{self.partner}': seizure {seizure.id} has no elephant specimens ({names}); "
                "ETIS takes only seizures with an item of Loxodonta africana or Elephas maximus"
            )
        return etis.to_json(seizure)
