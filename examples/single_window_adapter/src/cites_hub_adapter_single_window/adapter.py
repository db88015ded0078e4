"""The Single Window adapter: POSTs each permit event to the Single Window as a JSON feed document.

Each permit message (issued, amended, cancelled, replaced) becomes one feed document (``feed.py``),
POSTed to the ``url`` option through the hub's HTTP transport. The Single Window responds with
JSON. ``REGISTERED`` (HTTP 201) gives a receipt with its reference and any warnings. A rejection
(HTTP 4xx with ``errors``, each naming a field) is permanent and carries those errors. Timeouts,
refused connections, HTTP 408, 429 and 5xx are transient.

Options:
    ``url``              the feed endpoint, http:// or https://. In the hub's configuration, the value
                         ``simulator`` starts :class:`SingleWindowSimulator` instead
    ``timeout_seconds``  limit for connect, write, read and pool wait, each (default 5)
    ``api_key_env``      name of the environment variable holding the Single Window's token, sent in
                         the ``X-SW-Token`` header
    ``agency_code``      the code the Single Window knows the Management Authority by (default CITES-MA)
"""

from __future__ import annotations

import os
from typing import Any

import httpx
from pydantic import Field

from adapters import (
    Adapter,
    AdapterContext,
    ConfigError,
    DeliveryJob,
    Direction,
    HttpOptions,
    HttpTransport,
    Outbound,
    PermanentDeliveryError,
    Receipt,
)
from cites_hub_adapter_single_window import feed
from cites_hub_adapter_single_window.simulator import PERMITS_PATH, TOKEN_HEADER

MAX_REASON_CHARS = 300


class SingleWindowOptions(HttpOptions):
    """Options of the Single Window adapter (see the module docstring)."""

    agency_code: str = Field(
        default="CITES-MA", pattern=r"^[A-Z0-9-]{2,20}$", description="sender code in the feed's submittedBy"
    )


class SingleWindowAdapter(Adapter):
    name = "single_window"
    description = "Feeds issued, amended, cancelled and replaced permits to a national Single Window as JSON."
    directions = frozenset({Direction.OUTBOUND})
    message_types = frozenset(feed.EVENTS)
    formats = (feed.FORMAT,)
    options_model = SingleWindowOptions
    simulator = "cites_hub_adapter_single_window.simulator:SingleWindowSimulator"
    simulator_path = PERMITS_PATH

    def __init__(self, partner: str, options: dict[str, Any] | None = None, context: AdapterContext | None = None):
        super().__init__(partner, options, context)
        self._transport = HttpTransport(
            system=f"single window partner '{partner}'",
            timeout_seconds=self.options.timeout_seconds,
            headers=token_header(self.options.api_key_env, partner=partner),
            read_reason=rejection_reason,
        )

    def map_out(self, job: DeliveryJob) -> Outbound:
        if job.permit is None:
            raise PermanentDeliveryError(
                f"delivery {job.delivery_id}: message {job.envelope.message_id} has no parsed permit; "
                "expected a permit message (issued, amended, cancelled or replaced)"
            )
        document = feed.to_document(
            job.permit,
            job.envelope.message_type,
            message_id=job.envelope.message_id,
            correlation_id=job.envelope.correlation_id,
            submitted_by=self.options.agency_code,
        )
        return Outbound(body=feed.to_bytes(document), content_type=feed.CONTENT_TYPE)

    def send(self, outbound: Outbound, job: DeliveryJob) -> Receipt:
        response = self._transport.post(self.options.url, outbound, job)
        try:
            data = response.json()
        except ValueError:
            # A 2xx status already means that the Single Window took the document.
            return Receipt(warnings=("Single Window response is not JSON",), detail=f"HTTP {response.status_code}")

        warnings = tuple(str(warning) for warning in data.get("warnings", ())) if isinstance(data, dict) else ()
        reference = data.get("swReference") if isinstance(data, dict) else None
        return Receipt(warnings=warnings, reference=reference, detail=f"HTTP {response.status_code}")

    def close(self) -> None:
        self._transport.close()


def token_header(api_key_env: str | None, *, partner: str) -> dict[str, str]:
    """Return the ``X-SW-Token`` header read from the variable ``api_key_env``, or no header when it is None.

    Raises ConfigError, naming the variable but never its value, when the variable is unset or empty.
    """
    if api_key_env is None:
        return {}
    token = os.environ.get(api_key_env, "").strip()
    if not token:
        raise ConfigError(
            f"partner '{partner}' (adapter single_window): environment variable {api_key_env} named by option "
            "api_key_env is not set or empty; expected the Single Window token in it"
        )
    return {TOKEN_HEADER: token}


def rejection_reason(response: httpx.Response) -> str:
    """Return the Single Window's errors from a rejection as 'field: message; ...', or the start of the body."""
    try:
        errors = response.json().get("errors") or []
        reasons = [f"{error['field']}: {error['message']}" for error in errors]
    except (ValueError, AttributeError, KeyError, TypeError):
        reasons = []
    text = "; ".join(reasons) or " ".join(response.text.split()) or "(empty body)"
    return text[:MAX_REASON_CHARS]
