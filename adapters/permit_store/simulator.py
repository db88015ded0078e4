"""A national permit system that receives messages back from the hub, served on 127.0.0.1.

Routes:
    ``POST /messages``    a canonical payload with its envelope as ``X-Cites-*`` headers
    ``GET /messages``     a JSON list of the messages received: ids, type, permit and size

A message is accepted (HTTP 202 with a reference) when it carries ``X-Cites-Message-Id`` and
``X-Cites-Message-Type``. Otherwise the response is HTTP 400. ``Idempotency-Key``,
``delay_seconds`` and ``fail_next`` behave as in the :class:`~adapters.simulation.Simulator` base.
"""

from __future__ import annotations

from typing import Any

from adapters.simulation import SimulatedRequest, SimulatedResponse, Simulator

MESSAGES_PATH = "/messages"
REQUIRED_HEADERS = ("x-cites-message-id", "x-cites-message-type")


class PermitStoreSimulator(Simulator):
    """The simulated permit system; see the module docstring for its routes."""

    name = "permit_store"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, delay_seconds: float = 0.0) -> None:
        super().__init__(host=host, port=port, delay_seconds=delay_seconds)
        self._messages: list[SimulatedRequest] = []

    @property
    def messages_url(self) -> str:
        return self.url + MESSAGES_PATH

    def messages(self) -> list[SimulatedRequest]:
        """Return the messages accepted so far, oldest first, each with its headers and body."""
        with self._lock:
            return list(self._messages)

    def summary(self) -> list[dict[str, Any]]:
        """Return one line per accepted message: ids, type, permit and size in bytes."""
        with self._lock:
            return [
                {
                    "message_id": message.headers.get("x-cites-message-id"),
                    "correlation_id": message.headers.get("x-cites-correlation-id"),
                    "message_type": message.headers.get("x-cites-message-type"),
                    "permit": message.headers.get("x-cites-permit"),
                    "bytes": len(message.body),
                }
                for message in self._messages
            ]

    def handle(self, request: SimulatedRequest) -> SimulatedResponse:
        if request.path != MESSAGES_PATH:
            return super().handle(request)
        if request.method == "GET":
            return SimulatedResponse.json(200, self.summary())
        if request.method == "POST":
            return self._receive(request)
        return SimulatedResponse.json(405, {"status": "rejected", "reason": f"method {request.method} is not allowed"})

    def _receive(self, request: SimulatedRequest) -> SimulatedResponse:
        missing = [name for name in REQUIRED_HEADERS if not request.headers.get(name)]
        if missing:
            reason = f"missing envelope header(s) {', '.join(missing)}; expected the X-Cites-* headers of the envelope"
            return SimulatedResponse.json(400, {"status": "rejected", "reason": reason})

        self._messages.append(request)
        reference = f"PS-{len(self._messages):06d}"
        return SimulatedResponse.json(202, {"status": "accepted", "reference": reference})
