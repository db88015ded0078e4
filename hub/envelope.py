"""The envelope: what the hub knows about a message besides its payload bytes.

On the bus the envelope travels as AMQP headers (``x-cites-*``); in the journal it is the columns
of the messages table; over HTTP it is ``X-Cites-*`` headers. The payload itself is never changed.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from enum import Enum
from typing import Any


class MessageType(str, Enum):
    """The closed set of message types; a new type is added here, never sent as free text."""

    PERMIT_ISSUED = "permit.issued"
    PERMIT_AMENDED = "permit.amended"
    PERMIT_CANCELLED = "permit.cancelled"
    PERMIT_REPLACED = "permit.replaced"
    PERMIT_ENDORSED = "permit.endorsed"
    PERMIT_QUANTITIES_CONFIRMED = "permit.quantities_confirmed"
    PERMIT_REQUESTED = "permit.requested"
    SEIZURE_REPORTED = "seizure.reported"
    ACK = "ack"

    @classmethod
    def parse(cls, value: str) -> "MessageType":
        try:
            return cls(value)
        except ValueError:
            expected = ", ".join(t.value for t in cls)
            from hub.errors import InvalidMessage

            raise InvalidMessage(f"message_type '{value}' is unknown; expected one of: {expected}") from None


PERMIT_PAYLOAD_TYPES = frozenset(
    {
        MessageType.PERMIT_ISSUED,
        MessageType.PERMIT_AMENDED,
        MessageType.PERMIT_CANCELLED,
        MessageType.PERMIT_REPLACED,
    }
)

HEADER_PREFIX = "x-cites-"


def new_id() -> str:
    return str(uuid.uuid4())


def sha256_hex(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Envelope:
    """Routing and tracing data of one message. ``permit`` is 'PARTY/NUMBER' when known."""

    message_id: str
    correlation_id: str
    message_type: MessageType
    sender: str
    payload_sha256: str
    created_at: datetime = field(default_factory=utcnow)
    permit: str | None = None
    recipient: str | None = None
    schema: str | None = None
    signature_state: str = "unsigned"

    @classmethod
    def for_payload(
        cls,
        payload: bytes,
        *,
        message_type: MessageType,
        sender: str,
        message_id: str | None = None,
        correlation_id: str | None = None,
        **extra: Any,
    ) -> "Envelope":
        message_id = message_id or new_id()
        return cls(
            message_id=message_id,
            correlation_id=correlation_id or message_id,
            message_type=message_type,
            sender=sender,
            payload_sha256=sha256_hex(payload),
            **extra,
        )

    def evolve(self, **changes: Any) -> "Envelope":
        return replace(self, **changes)

    def to_headers(self) -> dict[str, str]:
        """Return the envelope as flat string headers, for AMQP and HTTP alike."""
        headers = {}
        for item in fields(self):
            name, value = item.name, getattr(self, item.name)
            if value is None:
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, Enum):
                value = value.value
            headers[HEADER_PREFIX + name.replace("_", "-")] = str(value)
        return headers

    @classmethod
    def from_headers(cls, headers: dict[str, Any]) -> "Envelope":
        """Read an envelope written by :meth:`to_headers` (header names are case-insensitive)."""
        lowered = {str(k).lower(): v for k, v in headers.items()}

        def get(name: str) -> Any:
            return lowered.get(HEADER_PREFIX + name.replace("_", "-"))

        created = get("created_at")
        return cls(
            message_id=get("message_id"),
            correlation_id=get("correlation_id") or get("message_id"),
            message_type=MessageType.parse(get("message_type")),
            sender=get("sender"),
            payload_sha256=get("payload_sha256"),
            created_at=datetime.fromisoformat(created) if created else utcnow(),
            permit=get("permit"),
            recipient=get("recipient"),
            schema=get("schema"),
            signature_state=get("signature_state") or "unsigned",
        )
