"""The console's read-only pages: overview, messages, a message, a permit, parked deliveries and partners."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from hub.envelope import MessageType
from monitoring.console import flows, parked, partners, permit_form, search, timeline
from monitoring.console.accounts import Role
from monitoring.console.auth import Console, PageNotFound, SignedIn

UNKNOWN_PARTY = "--"


def add_routes(router: APIRouter, console: Console) -> None:
    """Add the read-only pages; each needs the viewer role."""
    viewer = Depends(console.page(Role.VIEWER))
    hub = console.hub

    @router.get("/", name="console_overview")
    def overview(request: Request, who: SignedIn = viewer) -> Response:
        return console.render(request, "overview.html", who, nav="overview", flows=flows.flows(hub),
                              outcomes=flows.last_outcomes(hub), queues=sorted(hub.broker.queue_depths().items()),
                              parked_total=flows.parked_total(hub.journal))

    @router.get("/messages", name="console_messages")
    def messages(request: Request, who: SignedIn = viewer) -> Response:
        query = search.parse_query(request.query_params)
        rows, total = search.search(hub.journal, query)
        return console.render(request, "messages.html", who, nav="messages", query=query, rows=rows, total=total,
                              page_size=search.PAGE_SIZE, message_types=_message_types(),
                              statuses=search.MESSAGE_STATUSES, delivery_states=search.DELIVERY_STATES)

    @router.get("/messages/{message_id}", name="console_message")
    def message(request: Request, message_id: str, who: SignedIn = viewer) -> Response:
        view = timeline.message_view(hub.journal, message_id)
        if view is None:
            raise PageNotFound(f"message {message_id} is not in the journal", who)
        return console.render(request, "message.html", who, nav="messages", view=view,
                              permit_link=_permit_link(view.record.envelope.permit))

    @router.get("/messages/{message_id}/payload", name="console_payload")
    def payload(message_id: str, who: SignedIn = viewer) -> Response:
        data = hub.journal.payload_of(message_id)
        if data is None:
            raise PageNotFound(f"message {message_id} is not in the journal", who)
        return Response(data, media_type="application/octet-stream", headers={
            "Content-Disposition": f'attachment; filename="{message_id}.xml"', "X-Content-Type-Options": "nosniff"})

    @router.get("/permits/{party}/{number:path}", name="console_permit")
    def permit(request: Request, party: str, number: str, who: SignedIn = viewer) -> Response:
        issuing = party.upper() if party != UNKNOWN_PARTY else None
        events = hub.journal.timeline(issuing, number)
        form = permit_form.permit_form(hub.journal, issuing, number)
        if not events and form.message is None:
            raise PageNotFound(f"permit {party}/{number} is not in the journal", who)
        return console.render(request, "permit.html", who, nav="messages", party=issuing or "??", number=number,
                              form=form, state=permit_form.permit_state(hub.journal, issuing, number),
                              hops=timeline.hops(events))

    @router.get("/parked", name="console_parked")
    def parked_page(request: Request, destination: str = "", page: int = 1, who: SignedIn = viewer) -> Response:
        page = max(1, page)
        rows, total = parked.parked(hub.journal, destination=destination or None, page=page)
        return console.render(request, "parked.html", who, nav="parked", rows=rows, total=total, page=page,
                              page_size=parked.PAGE_SIZE, destination=destination,
                              destinations=flows.destinations(hub), max_bulk=parked.MAX_BULK)

    @router.get("/parked/batches/{audit_id}", name="console_batch")
    def batch(request: Request, audit_id: int, who: SignedIn = viewer) -> Response:
        progress = parked.batch_progress(hub.journal, audit_id)
        if progress is None:
            raise PageNotFound(f"bulk replay {audit_id} is not in the audit log", who)
        return console.render(request, "batch.html", who, nav="parked", progress=progress)

    @router.get("/partners", name="console_partners")
    def partners_page(request: Request, who: SignedIn = viewer) -> Response:
        return console.render(request, "partners.html", who, nav="partners", partners=partners.partner_views(hub),
                              own=partners.own_certificates(hub))


def _message_types() -> list[str]:
    return [kind.value for kind in MessageType]


def _permit_link(permit: str | None) -> tuple[str, str] | None:
    """Split an envelope's ``PARTY/NUMBER`` into the (party, number) path parameters of a permit page."""
    if not permit:
        return None
    party, _, number = permit.partition("/")
    return (party if len(party) == 2 and party.isalpha() else UNKNOWN_PARTY), number
