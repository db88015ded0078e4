"""A Customs system that receives the permit feed, served on 127.0.0.1 for tests and the demo.

Routes:
    ``POST /permit-feed``            a PermitFeed document; the response is a FeedAcknowledgement
    ``GET /permit-feed/received``    a JSON summary of what was received, per permit number

A feed is accepted (HTTP 200, ``accepted``, with a Customs reference) unless it is unsafe XML,
invalid against the feed XSD, an amendment or cancellation of a permit never received, or any
action on a permit already cancelled or replaced. Otherwise the response is HTTP 422,
``rejected``, with the reasons. A replacement of an unknown permit is accepted, because its feed may carry the
new permit rather than the one it replaces.

``reject_reason`` makes it reject every feed with that reason; ``delay_seconds`` and
``fail_next`` come from the :class:`~adapters.simulation.Simulator` base.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapters.simulation import SimulatedRequest, SimulatedResponse, Simulator
from hub.errors import InvalidMessage
from mappings import customs_lpco

FEED_PATH = "/permit-feed"
RECEIVED_PATH = "/permit-feed/received"
MAX_REASONS = 10
MAX_REASON_CHARS = 512  # TextType's maxLength in PermitFeed_1.xsd
CLOSED_STATUSES = frozenset({"cancelled", "replaced"})


@dataclass
class FeedAction:
    """One accepted feed: its action, the hub's message id, the Customs reference and the flag codes."""

    action: str
    message_id: str
    reference: str
    risk_flags: list[str]


@dataclass
class CustomsPermit:
    """A permit as stored by the simulated Customs system: its last status and every accepted action."""

    number: str
    status: str
    actions: list[FeedAction] = field(default_factory=list)
    feed: dict[str, Any] = field(default_factory=dict, repr=False)


class CustomsSimulator(Simulator):
    """The simulated Customs system; see the module docstring for its routes and rules."""

    name = "customs"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        delay_seconds: float = 0.0,
        reject_reason: str | None = None,
    ) -> None:
        super().__init__(host=host, port=port, delay_seconds=delay_seconds)
        self.reject_reason = reject_reason
        self.accepted = 0
        self.rejected = 0
        self._permits: dict[str, CustomsPermit] = {}

    @property
    def feed_url(self) -> str:
        return self.url + FEED_PATH

    def permits(self) -> dict[str, CustomsPermit]:
        """Return the permits received so far, by permit number."""
        with self._lock:
            return dict(self._permits)

    def summary(self) -> dict[str, Any]:
        """Return the counts and each permit's status and actions. Trader names are left out."""
        with self._lock:
            permits = [
                {
                    "number": permit.number,
                    "status": permit.status,
                    "actions": [vars(action) for action in permit.actions],
                }
                for permit in self._permits.values()
            ]
            return {"accepted": self.accepted, "rejected": self.rejected, "replayed": self.replayed, "permits": permits}

    def handle(self, request: SimulatedRequest) -> SimulatedResponse:
        if request.path == RECEIVED_PATH and request.method == "GET":
            return SimulatedResponse.json(200, self.summary())
        if request.path == FEED_PATH and request.method == "POST":
            return self._receive(request.body)
        return super().handle(request)

    def _receive(self, body: bytes) -> SimulatedResponse:
        try:
            feed = customs_lpco.from_feed(body)
        except InvalidMessage as error:
            return self._reject(None, None, [f"{finding.path}: {finding.message}" for finding in error.findings])

        if self.reject_reason:
            return self._reject(feed["message_id"], feed["permit_number"], [self.reject_reason])
        problem = self._lifecycle_problem(feed["permit_number"], feed["action"])
        if problem:
            return self._reject(feed["message_id"], feed["permit_number"], [problem])
        return self._accept(feed)

    def _lifecycle_problem(self, number: str, action: str) -> str | None:
        permit = self._permits.get(number)
        if permit is None and action in ("amended", "cancelled"):
            return f"permit {number}: action '{action}' for a permit Customs never received; expected 'issued' first"
        if permit is not None and permit.status in CLOSED_STATUSES:
            return f"permit {number} is {permit.status}; action '{action}' cannot change it"
        return None

    def _accept(self, feed: dict[str, Any]) -> SimulatedResponse:
        self.accepted += 1
        reference = f"CUS-{self.accepted:06d}"
        number = feed["permit_number"]

        permit = self._permits.setdefault(number, CustomsPermit(number=number, status=feed["status"]))
        permit.status = feed["status"]
        permit.feed = feed
        flags = [flag["code"] for flag in feed["risk_flags"]]
        permit.actions.append(FeedAction(feed["action"], feed["message_id"], reference, flags))

        body = customs_lpco.to_acknowledgement(
            "accepted", message_id=feed["message_id"], permit_number=number, reference=reference
        )
        return SimulatedResponse.xml(200, body)

    def _reject(self, message_id: str | None, number: str | None, reasons: list[str]) -> SimulatedResponse:
        self.rejected += 1
        clipped = [reason[:MAX_REASON_CHARS] for reason in reasons[:MAX_REASONS]]
        body = customs_lpco.to_acknowledgement("rejected", message_id=message_id, permit_number=number, reasons=clipped)
        return SimulatedResponse.xml(422, body)
