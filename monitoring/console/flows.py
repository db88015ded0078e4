"""Flows at a glance: per destination and route, what was routed, delivered, failed and parked.

Counts come from the journal's events in a time window: ``routed`` is a message received for the
destination, and each delivery outcome is counted once per event, so a delivery that failed twice
before it was delivered counts two failures. Latency is from a delivery's ``routed`` event to
its ``delivered`` event, replays included.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased

from hub.envelope import utcnow
from hub.journal import DeliveryState, Journal
from hub.journal.tables import deliveries, events, messages

DELIVERED = (DeliveryState.DELIVERED, DeliveryState.DELIVERED_WITH_WARNINGS)
OUTCOMES = (*DELIVERED, DeliveryState.ACKNOWLEDGED, DeliveryState.FAILED, DeliveryState.PARKED)
WINDOWS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


@dataclass
class Counts:
    received: int = 0
    delivered: int = 0
    failed: int = 0
    parked: int = 0
    p95_seconds: float | None = None


@dataclass
class Flow:
    """One destination and route, with its counts per window (``hour``, ``day``)."""

    destination: str
    adapter: str
    route: str
    windows: dict[str, Counts] = field(default_factory=lambda: {name: Counts() for name in WINDOWS})


@dataclass(frozen=True)
class LastOutcome:
    """The newest delivery outcome of a destination: up when it was delivered."""

    destination: str
    action: str | None
    at: datetime | None
    error: str | None

    @property
    def status(self) -> str:
        if self.action is None:
            return "unknown"
        return "up" if self.action in (*DELIVERED, DeliveryState.ACKNOWLEDGED) else "down"


def flows(hub: Any, now: datetime | None = None) -> list[Flow]:
    """Count each configured destination and route, plus any the journal names, per window."""
    now = now or utcnow()
    table = _configured(hub)
    for window, span in WINDOWS.items():
        for destination, adapter, route, action, count in _event_counts(hub.journal, now - span):
            flow = table.setdefault((destination, route or "–"), Flow(destination, adapter, route or "–"))
            _add(flow.windows[window], action, count)
        for (destination, route), seconds in _latencies(hub.journal, now - span).items():
            flow = table.setdefault((destination, route or "–"), Flow(destination, "?", route or "–"))
            flow.windows[window].p95_seconds = percentile(seconds, 95)
    return sorted(table.values(), key=lambda flow: (flow.destination, flow.route))


def _configured(hub: Any) -> dict[tuple[str, str], Flow]:
    table: dict[tuple[str, str], Flow] = {}
    for route in hub.config.routes:
        for destination in route.to:
            partner = hub.config.partners.get(destination)
            adapter = partner.adapter if partner else "?"
            table[(destination, route.name)] = Flow(destination, adapter, route.name)
    return table


def _add(counts: Counts, action: str, count: int) -> None:
    if action == "routed":
        counts.received += count
    elif action in DELIVERED:
        counts.delivered += count
    elif action == DeliveryState.FAILED:
        counts.failed += count
    elif action == DeliveryState.PARKED:
        counts.parked += count


def _event_counts(journal: Journal, since: datetime) -> list[tuple[str, str, str | None, str, int]]:
    query = (
        select(deliveries.c.destination, deliveries.c.adapter, deliveries.c.route, events.c.action, func.count())
        .join(deliveries, deliveries.c.delivery_id == events.c.delivery_id)
        .where(events.c.at >= since, events.c.action.in_(("routed", *OUTCOMES)))
        .group_by(deliveries.c.destination, deliveries.c.adapter, deliveries.c.route, events.c.action)
    )
    with journal.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def _latencies(journal: Journal, since: datetime) -> dict[tuple[str, str | None], list[float]]:
    """Seconds from routed to delivered of each delivery delivered since ``since``."""
    routed = aliased(events)
    query = (
        select(deliveries.c.destination, deliveries.c.route, routed.c.at, events.c.at)
        .join(deliveries, deliveries.c.delivery_id == events.c.delivery_id)
        .join(routed, and_(routed.c.delivery_id == events.c.delivery_id, routed.c.action == "routed"))
        .where(events.c.at >= since, events.c.action.in_(DELIVERED))
    )
    result: dict[tuple[str, str | None], list[float]] = defaultdict(list)
    with journal.engine.connect() as connection:
        for destination, route, routed_at, delivered_at in connection.execute(query):
            result[(destination, route)].append((_utc(delivered_at) - _utc(routed_at)).total_seconds())
    return result


def percentile(values: list[float], rank: float) -> float | None:
    """Return the nearest-rank percentile of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)]


def last_outcomes(hub: Any) -> list[LastOutcome]:
    """Return the newest delivery outcome of each destination the hub delivers to."""
    return [last_event(hub.journal, destination, OUTCOMES) for destination in destinations(hub)]


def last_event(journal: Journal, destination: str, actions: tuple[str, ...]) -> LastOutcome:
    """Return the newest event among ``actions`` of any delivery to ``destination``."""
    query = (
        select(events.c.action, events.c.at, deliveries.c.last_error)
        .join(deliveries, deliveries.c.delivery_id == events.c.delivery_id)
        .where(deliveries.c.destination == destination, events.c.action.in_(actions))
        .order_by(events.c.at.desc(), events.c.event_id.desc()).limit(1)
    )
    with journal.engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        return LastOutcome(destination, None, None, None)
    error = row.last_error if row.action not in DELIVERED else None
    return LastOutcome(destination, row.action, _utc(row.at), error)


def last_received(journal: Journal, sender: str) -> datetime | None:
    """When the newest message from ``sender`` arrived."""
    query = select(func.max(messages.c.received_at)).where(messages.c.sender == sender)
    with journal.engine.connect() as connection:
        value = connection.execute(query).scalar()
    return _utc(value) if value else None


def destinations(hub: Any) -> list[str]:
    """Destinations of this hub: its adapters and every partner a route names."""
    routed = {destination for route in hub.config.routes for destination in route.to}
    return sorted(routed | set(hub.adapters))


def parked_total(journal: Journal) -> int:
    query = select(func.count()).select_from(deliveries).where(deliveries.c.state == DeliveryState.PARKED)
    with journal.engine.connect() as connection:
        return int(connection.execute(query).scalar() or 0)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
