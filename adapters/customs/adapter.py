"""The Customs adapter: feeds every permit event to Customs or the Single Window.

Each permit message (issued, amended, cancelled, replaced) becomes one PermitFeed document
(``mappings/customs_lpco.py``), POSTed to the ``url`` option through the shared HTTP transport.
Customs responds with a FeedAcknowledgement, in XML or as JSON ``{"status", "reference",
"reason"}``: ``accepted`` gives a receipt with the Customs reference, ``rejected`` (usually with
HTTP 422) raises ``PermanentDeliveryError`` carrying Customs' reasons.

Options:
    ``url``              the feed endpoint, http:// or https://. In the hub's configuration, the
                         value ``simulator`` starts the built-in ``CustomsSimulator`` instead
    ``timeout_seconds``  limit for connect, write, read and pool wait, each (default 5)
    ``api_key_env``      name of the environment variable holding the API key, sent as a bearer token
"""

from __future__ import annotations

from typing import Any

import httpx

from adapters.base import Adapter, AdapterContext, DeliveryJob, Direction, Outbound, Receipt
from adapters.customs.simulator import FEED_PATH
from adapters.http_transport import HttpOptions, HttpTransport, bearer_header, short_body
from hub.envelope import PERMIT_PAYLOAD_TYPES
from hub.errors import InvalidMessage, PermanentDeliveryError
from hub.permit import Permit
from mappings import customs_lpco


class CustomsOptions(HttpOptions):
    """Options of the Customs adapter: feed endpoint, timeout and API key variable (see the module docstring)."""


class CustomsAdapter(Adapter):
    name = "customs"
    description = "Feeds issued, amended, cancelled and replaced permits to Customs, with risk flags."
    directions = frozenset({Direction.OUTBOUND})
    message_types = PERMIT_PAYLOAD_TYPES
    formats = (customs_lpco.FORMAT,)
    signs = True
    wants_risk_flags = True
    options_model = CustomsOptions
    simulator = "adapters.customs.simulator:CustomsSimulator"
    simulator_path = FEED_PATH

    def __init__(self, partner: str, options: dict[str, Any] | None = None, context: AdapterContext | None = None):
        super().__init__(partner, options, context)
        self._transport = HttpTransport(
            system=f"customs partner '{partner}'",
            timeout_seconds=self.options.timeout_seconds,
            headers=bearer_header(self.options.api_key_env, partner=partner, adapter=self.name),
            read_reason=rejection_reason,
        )

    def map_out(self, job: DeliveryJob) -> Outbound:
        envelope = job.envelope
        try:
            body = customs_lpco.to_feed(
                self._permit(job),
                envelope.message_type,
                message_id=envelope.message_id,
                correlation_id=envelope.correlation_id,
                extra_flags=job.risk_flags,
            )
        except InvalidMessage as error:
            raise PermanentDeliveryError(f"delivery {job.delivery_id}: cannot build the Customs feed: {error}") from error
        return Outbound(body=body, content_type="application/xml")

    def send(self, outbound: Outbound, job: DeliveryJob) -> Receipt:
        response = self._transport.post(self.options.url, outbound, job)
        try:
            acknowledgement = read_acknowledgement(response)
        except (InvalidMessage, ValueError) as error:
            # A 2xx status already means that Customs took the feed. Only its business response is unreadable.
            return Receipt(warnings=(f"Customs acknowledgement could not be read: {error}",), detail=f"HTTP {response.status_code}")

        if acknowledgement["status"] != "accepted":
            reasons = "; ".join(acknowledgement["reasons"]) or "no reason given"
            raise PermanentDeliveryError(f"customs partner '{self.partner}' rejected the feed: {reasons}")
        return Receipt(reference=acknowledgement["reference"], detail=f"HTTP {response.status_code}: accepted")

    def close(self) -> None:
        self._transport.close()

    def _permit(self, job: DeliveryJob) -> Permit:
        if job.permit is None:
            raise PermanentDeliveryError(
                f"delivery {job.delivery_id}: message {job.envelope.message_id} has no parsed permit; "
                "expected the pipeline to set DeliveryJob.permit for permit messages"
            )
        return job.permit


def read_acknowledgement(response: httpx.Response) -> dict[str, Any]:
    """Return the status, reference and reasons of a Customs response in XML or JSON.

    Raises InvalidMessage or ValueError when the body is neither a FeedAcknowledgement nor a
    JSON object with a ``status``.
    """
    if "json" not in response.headers.get("Content-Type", ""):
        return customs_lpco.from_acknowledgement(response.content)

    data = response.json()
    if not isinstance(data, dict) or "status" not in data:
        raise ValueError("JSON response has no 'status'; expected an object such as {\"status\": \"accepted\"}")
    reasons = data.get("reasons") or ([data["reason"]] if data.get("reason") else [])
    return {"status": data["status"], "reference": data.get("reference"), "reasons": [str(r) for r in reasons]}


def rejection_reason(response: httpx.Response) -> str:
    """Return Customs' reasons from a rejection, or the start of the body when it is not an acknowledgement."""
    try:
        reasons = read_acknowledgement(response)["reasons"]
    except (InvalidMessage, ValueError):
        return short_body(response)
    return "; ".join(reasons) or short_body(response)
