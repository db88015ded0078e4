"""A national Single Window that takes the JSON permit feed, served on 127.0.0.1 for tests and the demo.

Routes:
    ``POST /api/v1/cites/permits``    a feed document (``feed.py``); the response is JSON
    ``GET /api/v1/cites/permits``     the permits registered so far: number, status and events

A document is registered (HTTP 201, ``{"status": "REGISTERED", "swReference", "warnings"}``)
unless one of these holds. Each of them gets the response ``{"status": "REJECTED", "errors":
[{"field", "message"}]}``:

- the ``X-SW-Token`` header differs from ``token``, when ``token`` is set (HTTP 401);
- the body is not JSON (HTTP 400) or not a valid feed document (HTTP 422);
- ``reject_reason`` is set (HTTP 422);
- an amendment or cancellation names a permit never registered, or any event names a permit
  already cancelled or replaced (HTTP 409).

A permit without ``validUntil`` is registered with a warning. ``Idempotency-Key``,
``delay_seconds`` and ``fail_next`` behave as in the hub's :class:`adapters.Simulator` base.
"""

from __future__ import annotations

import json
from typing import Any

from adapters import SimulatedRequest, SimulatedResponse, Simulator
from cites_hub_adapter_single_window import feed

PERMITS_PATH = "/api/v1/cites/permits"
TOKEN_HEADER = "X-SW-Token"
CLOSING_EVENTS = {"PERMIT_CANCELLED": "CANCELLED", "PERMIT_REPLACED": "REPLACED"}
NEEDS_REGISTERED = ("PERMIT_AMENDED", "PERMIT_CANCELLED")


class SingleWindowSimulator(Simulator):
    """The simulated Single Window; see the module docstring for its routes and rules."""

    name = "single_window"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        delay_seconds: float = 0.0,
        token: str | None = None,
        reject_reason: str | None = None,
    ) -> None:
        super().__init__(host=host, port=port, delay_seconds=delay_seconds)
        self.token = token
        self.reject_reason = reject_reason
        self.registered = 0
        self._permits: dict[str, dict[str, Any]] = {}

    def permits(self) -> dict[str, dict[str, Any]]:
        """Return the permits registered so far, by number: status, events and Single Window references."""
        with self._lock:
            return {number: dict(permit) for number, permit in self._permits.items()}

    def handle(self, request: SimulatedRequest) -> SimulatedResponse:
        if request.path != PERMITS_PATH:
            return super().handle(request)
        if request.method == "GET":
            return SimulatedResponse.json(200, self.permits())
        if request.method == "POST":
            return self._receive(request)
        return _rejected(405, "(method)", f"method {request.method} is not allowed; expected POST or GET")

    def _receive(self, request: SimulatedRequest) -> SimulatedResponse:
        if self.token is not None and request.headers.get(TOKEN_HEADER.lower()) != self.token:
            return _rejected(401, TOKEN_HEADER, "missing or invalid token")
        try:
            document = json.loads(request.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            return _rejected(400, "(body)", f"body is not JSON: {error}")

        problems = feed.validate(document)
        if problems:
            errors = [dict(zip(("field", "message"), problem.split(": ", 1))) for problem in problems]
            return SimulatedResponse.json(422, {"status": "REJECTED", "errors": errors})
        if self.reject_reason:
            return _rejected(422, "(document)", self.reject_reason)
        conflict = self._lifecycle_conflict(document["permit"]["number"], document["event"])
        if conflict:
            return _rejected(409, "permit.number", conflict)
        return self._register(document)

    def _lifecycle_conflict(self, number: str, event: str) -> str | None:
        permit = self._permits.get(number)
        if permit is None and event in NEEDS_REGISTERED:
            return f"permit {number} was never registered; expected PERMIT_ISSUED before {event}"
        if permit is not None and permit["status"] in CLOSING_EVENTS.values():
            return f"permit {number} is {permit['status']}; {event} cannot change it"
        return None

    def _register(self, document: dict[str, Any]) -> SimulatedResponse:
        self.registered += 1
        reference = f"SW-{self.registered:06d}"
        number, event = document["permit"]["number"], document["event"]

        permit = self._permits.setdefault(number, {"status": "VALID", "events": [], "references": []})
        permit["status"] = CLOSING_EVENTS.get(event, "VALID")
        permit["events"].append(event)
        permit["references"].append(reference)

        warnings = [] if document["permit"].get("validUntil") else ["permit.validUntil missing; 6 months assumed"]
        return SimulatedResponse.json(201, {"status": "REGISTERED", "swReference": reference, "warnings": warnings})


def _rejected(status: int, field: str, message: str) -> SimulatedResponse:
    return SimulatedResponse.json(status, {"status": "REJECTED", "errors": [{"field": field, "message": message}]})
