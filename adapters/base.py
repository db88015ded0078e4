"""The adapter interface.

An adapter connects the hub to one kind of external system. It declares what it can do as class
attributes (the hub reads them; nothing is discovered by trial), and implements two steps for each
outbound delivery: :meth:`Adapter.map_out` turns the canonical payload into the destination's
format, and :meth:`Adapter.send` hands those bytes to the destination's transport. Errors that
trying again can cure are raised as ``TransientDeliveryError``; a refusal that will not change is
``PermanentDeliveryError``. Exceptions listed in ``transient_errors`` are classed as transient by
the hub, so an adapter need not catch them itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from hub.envelope import Envelope, MessageType
from hub.errors import ConfigError
from hub.permit import Permit


class Direction(str, Enum):
    """Which way messages flow between the hub and the adapter's system."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class AdapterOptions(BaseModel):
    """Base of each adapter's options model; unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Outbound:
    """The bytes to send to the destination, in its format, with transport headers."""

    body: bytes
    content_type: str = "application/xml"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    """The destination's answer to a delivery it accepted."""

    warnings: tuple[str, ...] = ()
    """Reservations of a destination that accepted the delivery; any makes it delivered with warnings."""
    reference: str | None = None
    """The destination's own identifier of what it received, kept in the journal."""
    detail: str | None = None
    """A short note for operators, e.g. the HTTP status."""

    @property
    def state(self) -> str:
        """The delivery state the hub records: ``delivered`` or ``delivered_with_warnings``."""
        return "delivered_with_warnings" if self.warnings else "delivered"


@dataclass(frozen=True)
class DeliveryJob:
    """One (message, destination) delivery as the adapter sees it."""

    delivery_id: str
    destination: str
    """The partner name in the configuration."""
    envelope: Envelope
    payload: bytes
    """The message's payload bytes as the hub received them."""
    idempotency_key: str
    """The same on every attempt and replay of this delivery: send it so that the destination applies a repeat once."""
    attempt: int = 1
    permit: Permit | None = None
    """The payload mapped to the canonical model for permit messages (issued, amended, cancelled,
    replaced); None for other message types or when the payload no longer maps."""
    risk_flags: tuple[Any, ...] = ()
    """The hub's own risk flags of the permit, for adapters that declare ``wants_risk_flags``."""


@dataclass
class AdapterContext:
    """What the hub gives an adapter: its logger, a metrics hook and journal look-ups."""

    logger: logging.Logger
    lookup_permit: Callable[[str], Permit | None] = lambda key: None
    count: Callable[[str, dict[str, str]], None] = lambda name, labels: None
    submit: Callable[..., Any] | None = None
    """Hand a payload to the hub's ingress as if ``sender`` had sent it, for an adapter that fetches
    messages: ``submit(payload, message_type, sender, *, message_id=None, correlation_id=None)``
    returns the ingress result (``hub.ingress.IngressResult``). None when the hub gives none."""


class Adapter:
    """Base class of every adapter. Subclasses set the class attributes and override the steps."""

    name: ClassVar[str] = ""
    """The name partners give in the configuration's ``adapter`` key, and the name of its entry point."""
    description: ClassVar[str] = ""
    directions: ClassVar[frozenset[Direction]] = frozenset()
    message_types: ClassVar[frozenset[MessageType]] = frozenset()
    """The message types the adapter accepts for outbound delivery."""
    formats: ClassVar[tuple[str, ...]] = ()
    """Names of the formats it sends, e.g. ``("customs-permit-feed:1",)``."""
    signs: ClassVar[bool] = False
    """True when the output of :meth:`map_out` is XML that can carry an enveloped XML signature."""
    transient_errors: ClassVar[tuple[type[BaseException], ...]] = ()
    """Exception types, besides ``TransientDeliveryError``, that the hub treats as transient and retries."""
    options_model: ClassVar[type[AdapterOptions]] = AdapterOptions
    """The pydantic model of the partner's ``options``; unknown keys are rejected."""
    wants_risk_flags: ClassVar[bool] = False
    """Whether the hub should compute its risk flags (expiry, earlier use, restrictions) for each job."""
    simulator: ClassVar[str | None] = None
    """``module:Class`` of a loopback server standing in for the system, used in tests and the demo."""
    simulator_path: ClassVar[str] = ""
    """Path appended to the simulator's base URL to form the adapter's ``url`` option."""

    def __init__(self, partner: str, options: dict[str, Any] | None = None, context: AdapterContext | None = None):
        self.partner = partner
        self.context = context or AdapterContext(logger=logging.getLogger(f"adapters.{self.name}"))
        self.options = self.parse_options(partner, options or {})

    @classmethod
    def parse_options(cls, partner: str, options: dict[str, Any]) -> Any:
        """Validate ``options`` with :attr:`options_model`; ConfigError names the partner and each invalid option."""
        try:
            return cls.options_model.model_validate(options)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(options)'}: {e['msg']}" for e in error.errors()
            )
            raise ConfigError(f"partner '{partner}' (adapter {cls.name}): invalid options: {problems}") from error

    @classmethod
    def capabilities(cls) -> dict[str, Any]:
        """Return the declared capabilities as plain data, for listings and the console."""
        return {
            "name": cls.name,
            "description": cls.description,
            "directions": sorted(d.value for d in cls.directions),
            "message_types": sorted(t.value for t in cls.message_types),
            "formats": list(cls.formats),
            "signs": cls.signs,
        }

    def accepts(self, message_type: MessageType) -> bool:
        """Tell whether the hub may deliver messages of ``message_type`` through this adapter."""
        return Direction.OUTBOUND in self.directions and message_type in self.message_types

    def map_out(self, job: DeliveryJob) -> Outbound:
        """Turn the canonical payload into the destination's format. Default: send it unchanged."""
        return Outbound(body=job.payload)

    def send(self, outbound: Outbound, job: DeliveryJob) -> Receipt:
        """Hand ``outbound`` to the destination and return its receipt."""
        raise NotImplementedError(f"adapter {self.name} does not send")

    def start(self) -> None:
        """Open connections or pools; called once before the first delivery."""

    def close(self) -> None:
        """Release what :meth:`start` opened."""
