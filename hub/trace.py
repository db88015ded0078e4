"""``cites-hub trace``: a permit's timeline, hop by hop, as the journal recorded it."""

from __future__ import annotations

from hub.journal import Journal, TimelineEvent

_SKIPPED_DETAIL = {"destination", "sha256"}


def format_event(event: TimelineEvent, previous: TimelineEvent | None) -> str:
    step = (event.at - previous.at).total_seconds() * 1000 if previous else 0.0
    destination = event.detail.get("destination", "")
    extra = ", ".join(f"{k}={v}" for k, v in event.detail.items() if k not in _SKIPPED_DETAIL)
    return (f"{event.at.isoformat(timespec='milliseconds')}  +{step:8.1f} ms  {event.action:24} "
            f"{destination:16} by {event.actor} at {event.location}  {extra}").rstrip()


def print_timeline(journal: Journal, party: str | None, number: str) -> int:
    """Print every event about the permit, grouped by message; return the exit status."""
    events = journal.timeline(party, number)
    if not events:
        print(f"permit {party + '/' if party else ''}{number} is not in the journal {journal.url}")
        return 1
    by_message: dict[str, list[TimelineEvent]] = {}
    for event in events:
        by_message.setdefault(event.message_id, []).append(event)
    for message_id, message_events in by_message.items():
        record = journal.get_message(message_id)
        kind = record.envelope.message_type.value if record else "?"
        print(f"message {message_id} ({kind}) from {record.envelope.sender if record else '?'}")
        previous = None
        for event in message_events:
            print("  " + format_event(event, previous))
            previous = event
    return 0
