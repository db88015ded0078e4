"""The permit lifecycle: issued → endorsed → quantities confirmed, or cancelled or replaced.

A permit only moves forward. An event that would move it back (a late ``permit.issued`` after a
cancellation, a second cancellation, an endorsement of a replaced permit) is recorded in the
journal with a warning and is not forwarded, so no destination ever sees a permit reopened.
"""

from __future__ import annotations

from hub.envelope import MessageType


class PermitState:
    ISSUED = "issued"
    ENDORSED = "endorsed"
    CONFIRMED = "quantities_confirmed"
    CANCELLED = "cancelled"
    REPLACED = "replaced"

    TERMINAL = frozenset({CANCELLED, REPLACED})


# For each event: the states it may follow (None: the permit is not yet known) and the new state.
_TRANSITIONS: dict[MessageType, tuple[frozenset[str | None], str | None]] = {
    MessageType.PERMIT_ISSUED: (frozenset({None}), PermitState.ISSUED),
    MessageType.PERMIT_AMENDED: (frozenset({None, PermitState.ISSUED}), PermitState.ISSUED),
    MessageType.PERMIT_ENDORSED: (frozenset({None, PermitState.ISSUED, PermitState.ENDORSED}), PermitState.ENDORSED),
    MessageType.PERMIT_QUANTITIES_CONFIRMED: (
        frozenset({None, PermitState.ISSUED, PermitState.ENDORSED}), PermitState.CONFIRMED),
    MessageType.PERMIT_CANCELLED: (
        frozenset({None, PermitState.ISSUED, PermitState.ENDORSED}), PermitState.CANCELLED),
    MessageType.PERMIT_REPLACED: (frozenset({None, PermitState.ISSUED, PermitState.ENDORSED}), PermitState.REPLACED),
}

TRACKED = frozenset(_TRANSITIONS)


def next_state(current: str | None, event: MessageType) -> str | None:
    """Return the state after ``event``, or None when the event would move the permit backwards.

    Events the lifecycle does not track (requests, seizures, acks) leave the state as it is.
    """
    if event not in _TRANSITIONS:
        return current
    allowed, after = _TRANSITIONS[event]
    return after if current in allowed else None
