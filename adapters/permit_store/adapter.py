"""The permit store adapter: the national permit system (eCITES).

Inbound, the permit system pushes issued, amended, cancelled and replaced permits to the hub's
API, so this adapter has nothing to do for that direction but declare it. Outbound, it receives
what the hub brings back: export endorsements, quantities confirmed on import, permits issued by
another Party, seizure reports and acknowledgements. Each is POSTed unchanged to the ``url``
option, as ``application/xml`` with the envelope as ``X-Cites-*`` headers.

Options:
    ``url``              the endpoint, http:// or https://. In the hub's configuration, the value
                         ``simulator`` starts the built-in ``PermitStoreSimulator`` instead
    ``timeout_seconds``  limit for connect, write, read and pool wait, each (default 5)
    ``api_key_env``      name of the environment variable holding the API key, sent as a bearer token
"""

from __future__ import annotations

from typing import Any

import httpx

from adapters.base import Adapter, AdapterContext, DeliveryJob, Direction, Outbound, Receipt
from adapters.http_transport import HttpOptions, HttpTransport, bearer_header
from adapters.permit_store.simulator import MESSAGES_PATH
from hub.envelope import MessageType


class PermitStoreOptions(HttpOptions):
    """Options of the permit store adapter: endpoint, timeout and API key variable (see the module docstring)."""


class PermitStoreAdapter(Adapter):
    name = "permit_store"
    description = "The national permit system: sends permits to the hub, receives usage, confirmations and seizures."
    directions = frozenset({Direction.INBOUND, Direction.OUTBOUND})
    # Outbound types only: Adapter.accepts() reads this set for deliveries to the permit system.
    message_types = frozenset(
        {
            MessageType.PERMIT_ENDORSED,
            MessageType.PERMIT_QUANTITIES_CONFIRMED,
            MessageType.PERMIT_ISSUED,
            MessageType.SEIZURE_REPORTED,
            MessageType.ACK,
        }
    )
    formats = ("CITESEPermit:2",)
    signs = True
    options_model = PermitStoreOptions
    simulator = "adapters.permit_store.simulator:PermitStoreSimulator"
    simulator_path = MESSAGES_PATH

    def __init__(self, partner: str, options: dict[str, Any] | None = None, context: AdapterContext | None = None):
        super().__init__(partner, options, context)
        self._transport = HttpTransport(
            system=f"permit store partner '{partner}'",
            timeout_seconds=self.options.timeout_seconds,
            headers=bearer_header(self.options.api_key_env, partner=partner, adapter=self.name),
        )

    def map_out(self, job: DeliveryJob) -> Outbound:
        return Outbound(body=job.payload, content_type="application/xml", headers=job.envelope.to_headers())

    def send(self, outbound: Outbound, job: DeliveryJob) -> Receipt:
        response = self._transport.post(self.options.url, outbound, job)
        return Receipt(reference=_reference(response), detail=f"HTTP {response.status_code}")

    def close(self) -> None:
        self._transport.close()


def _reference(response: httpx.Response) -> str | None:
    if "json" not in response.headers.get("Content-Type", ""):
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    return str(data["reference"]) if isinstance(data, dict) and data.get("reference") else None
