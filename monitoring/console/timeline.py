"""A message as the console shows it: its hops with their durations, its deliveries and a readable payload."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lxml import etree

from hub import safexml
from hub.errors import InvalidMessage
from hub.journal import Journal, MessageRecord, TimelineEvent
from monitoring.console import search

# Details shown in their own column, or not worth a column of their own.
_DETAIL_SHOWN_ELSEWHERE = {"destination", "sha256"}
MAX_DISPLAY_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Hop:
    """One event of a timeline, with the time since the event before it and since the first."""

    event: TimelineEvent
    since_previous: float
    since_start: float
    destination: str
    details: list[tuple[str, str]]


@dataclass(frozen=True)
class DeliveryView:
    delivery: Any
    hops: list[Hop]


@dataclass(frozen=True)
class PayloadView:
    """A display copy of the payload: indented XML when it parses, else the text as received."""

    text: str
    indented: bool
    problem: str | None
    size: int


@dataclass(frozen=True)
class MessageView:
    record: MessageRecord
    signer: str | None
    hops: list[Hop]
    deliveries: list[DeliveryView]
    payload: PayloadView


def hops(timeline: list[TimelineEvent]) -> list[Hop]:
    """Pair each event with the seconds since the previous one and since the first."""
    result = []
    start: datetime | None = None
    previous: datetime | None = None
    for event in timeline:
        start = start or event.at
        details = [(key, _text(value)) for key, value in event.detail.items() if key not in _DETAIL_SHOWN_ELSEWHERE]
        result.append(Hop(event, (event.at - (previous or event.at)).total_seconds(),
                          (event.at - start).total_seconds(), str(event.detail.get("destination", "")), details))
        previous = event.at
    return result


def message_view(journal: Journal, message_id: str) -> MessageView | None:
    """Everything the message page shows, or None when the message is not in the journal."""
    record = journal.get_message(message_id)
    if record is None:
        return None
    deliveries = [DeliveryView(delivery, hops(journal.delivery_events(delivery.delivery_id)))
                  for delivery in record.deliveries]
    return MessageView(record=record, signer=search.signer_of(journal, message_id),
                       hops=hops(search.message_events(journal, message_id)), deliveries=deliveries,
                       payload=display_payload(record.payload))


def display_payload(payload: bytes) -> PayloadView:
    """Indent a copy of the payload for reading; the journaled bytes are never changed."""
    if len(payload) > MAX_DISPLAY_BYTES:
        return PayloadView(payload[:MAX_DISPLAY_BYTES].decode("utf-8", errors="replace"), False,
                           f"only the first {MAX_DISPLAY_BYTES} bytes are shown", len(payload))
    try:
        root = safexml.parse(payload)
    except InvalidMessage as error:
        return PayloadView(payload.decode("utf-8", errors="replace"), False, str(error), len(payload))
    etree.indent(root, space="  ")
    text = etree.tostring(root, encoding="unicode", pretty_print=True)
    return PayloadView(text, True, None, len(payload))


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}={_text(item)}" for key, item in value.items())
    return str(value)
