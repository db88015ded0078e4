"""Finding messages in the journal: by permit number, message type, Party, status and time range.

A permit number matches from its start, so ``FR2026`` finds every number that begins so; a
``PARTY/NUMBER`` query also fixes the issuing Party.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from sqlalchemy import and_, exists, func, select, true

from hub.envelope import MessageType
from hub.journal import DeliveryState, Journal, MessageStatus, TimelineEvent
from hub.journal.tables import deliveries, events, messages

PAGE_SIZE = 50
MESSAGE_STATUSES = (MessageStatus.ACCEPTED, MessageStatus.ACCEPTED_WITH_WARNINGS, MessageStatus.REJECTED)
DELIVERY_STATES = (DeliveryState.PENDING, DeliveryState.IN_FLIGHT, DeliveryState.FAILED, DeliveryState.DELIVERED,
                   DeliveryState.DELIVERED_WITH_WARNINGS, DeliveryState.ACKNOWLEDGED, DeliveryState.PARKED,
                   DeliveryState.DISCARDED)
TIME_EXPECTED = "a date and time such as 2026-03-01T12:00 (UTC) or a date such as 2026-03-01"


@dataclass
class MessageQuery:
    """The search form's fields, checked; ``problems`` names each field that could not be read."""

    permit: str = ""
    message_type: str = ""
    party: str = ""
    status: str = ""
    delivery_state: str = ""
    received_from: datetime | None = None
    received_to: datetime | None = None
    page: int = 1
    text: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE


@dataclass(frozen=True)
class MessageRow:
    message_id: str
    received_at: datetime
    message_type: str
    permit_party: str | None
    permit_number: str | None
    sender: str
    status: str
    deliveries: list[tuple[str, str]]


def parse_query(params: Mapping[str, str]) -> MessageQuery:
    """Read the search form from query parameters; a bad field is reported, not applied."""
    text = {name: params.get(name, "").strip() for name in
            ("permit", "message_type", "party", "status", "delivery_state", "received_from", "received_to")}
    query = MessageQuery(text=text, permit=text["permit"], party=text["party"].upper())
    query.message_type = _choice(query, "message_type", text["message_type"], [t.value for t in MessageType])
    query.status = _choice(query, "status", text["status"], list(MESSAGE_STATUSES))
    query.delivery_state = _choice(query, "delivery_state", text["delivery_state"], list(DELIVERY_STATES))
    if query.party and not (len(query.party) == 2 and query.party.isalpha()):
        query.problems.append(f"Party '{text['party']}' is not valid; expected an ISO 3166 alpha-2 code such as FR")
        query.party = ""
    query.received_from = _time(query, "received_from", text["received_from"])
    query.received_to = _time(query, "received_to", text["received_to"])
    query.page = _page(params.get("page", "1"))
    return query


def _choice(query: MessageQuery, name: str, value: str, allowed: list[str]) -> str:
    if value and value not in allowed:
        query.problems.append(f"{name.replace('_', ' ')} '{value}' is not known; expected one of {', '.join(allowed)}")
        return ""
    return value


def _time(query: MessageQuery, name: str, value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        query.problems.append(f"{name.replace('_', ' ')} '{value}' is not valid; expected {TIME_EXPECTED}")
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _page(value: str) -> int:
    return int(value) if value.isdigit() and 0 < int(value) < 1_000_000 else 1


def search(journal: Journal, query: MessageQuery) -> tuple[list[MessageRow], int]:
    """Return one page of matching messages, newest first, and how many match in all."""
    condition = and_(true(), *_conditions(query))
    listing = (select(messages.c.message_id, messages.c.received_at, messages.c.message_type, messages.c.permit_party,
                      messages.c.permit_number, messages.c.sender, messages.c.status)
               .where(condition).order_by(messages.c.received_at.desc(), messages.c.message_id)
               .limit(PAGE_SIZE).offset(query.offset))
    with journal.engine.connect() as connection:
        total = int(connection.execute(select(func.count()).select_from(messages).where(condition)).scalar() or 0)
        rows = connection.execute(listing).all()
        states = _delivery_states(connection, [row.message_id for row in rows])
    return [MessageRow(row.message_id, _utc(row.received_at), row.message_type, row.permit_party, row.permit_number,
                       row.sender, row.status, states.get(row.message_id, [])) for row in rows], total


def _conditions(query: MessageQuery) -> list[Any]:
    conditions = []
    party, number = _split_permit(query.permit)
    if number:
        conditions.append(messages.c.permit_number.startswith(number, autoescape=True))
    if party or query.party:
        conditions.append(messages.c.permit_party == (party or query.party))
    if query.message_type:
        conditions.append(messages.c.message_type == query.message_type)
    if query.status:
        conditions.append(messages.c.status == query.status)
    if query.delivery_state:
        conditions.append(exists().where(deliveries.c.message_id == messages.c.message_id,
                                         deliveries.c.state == query.delivery_state))
    if query.received_from:
        conditions.append(messages.c.received_at >= query.received_from)
    if query.received_to:
        conditions.append(messages.c.received_at <= query.received_to)
    return conditions


def _split_permit(text: str) -> tuple[str | None, str]:
    party, slash, number = text.partition("/")
    if slash and len(party) == 2 and party.isalpha():
        return party.upper(), number.strip()
    return None, text


def _delivery_states(connection: Any, message_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    if not message_ids:
        return {}
    rows = connection.execute(select(deliveries.c.message_id, deliveries.c.destination, deliveries.c.state)
                              .where(deliveries.c.message_id.in_(message_ids)).order_by(deliveries.c.destination))
    states: dict[str, list[tuple[str, str]]] = {}
    for message_id, destination, state in rows:
        states.setdefault(message_id, []).append((destination, state))
    return states


def message_events(journal: Journal, message_id: str) -> list[TimelineEvent]:
    """Return every event of one message, oldest first."""
    query = select(events).where(events.c.message_id == message_id).order_by(events.c.at, events.c.event_id)
    with journal.engine.connect() as connection:
        rows = connection.execute(query).all()
    return [TimelineEvent(at=_utc(row.at), message_id=row.message_id, delivery_id=row.delivery_id, actor=row.actor,
                          action=row.action, location=row.location, detail=json.loads(row.detail or "{}"))
            for row in rows]


def signer_of(journal: Journal, message_id: str) -> str | None:
    """Return the subject of the certificate that signed the message, when its signature was verified."""
    with journal.engine.connect() as connection:
        return connection.execute(select(messages.c.signer).where(messages.c.message_id == message_id)).scalar()


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
