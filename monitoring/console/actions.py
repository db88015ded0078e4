"""The console's actions on parked deliveries: replay, discard and bulk replay; each needs the operator role."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hub.errors import InvalidMessage, NotFound
from monitoring.console import parked
from monitoring.console.accounts import Role
from monitoring.console.auth import Console, ConsoleError, Submission, safe_next

MAX_REASON_CHARS = 1000


def add_routes(router: APIRouter, console: Console) -> None:
    """Add the form posts that change deliveries."""
    operator = Depends(console.action(Role.OPERATOR))
    hub = console.hub

    @router.post("/parked/replay", name="console_bulk_replay")
    async def bulk_replay(request: Request, submission: Submission = operator) -> Response:
        reason = _reason(submission, "replay the selected deliveries")
        delivery_ids = _selection(submission)
        audit_id = await run_in_threadpool(parked.bulk_replay, hub, delivery_ids,
                                           operator=submission.who.operator.name, reason=reason)
        return RedirectResponse(request.url_for("console_batch", audit_id=audit_id).path, status_code=303)

    @router.post("/parked/{delivery_id}/{action}", name="console_delivery_action")
    async def settle(request: Request, delivery_id: str, action: str, submission: Submission = operator) -> Response:
        if action not in ("replay", "discard"):
            raise ConsoleError(f"action '{action}' is not known; expected replay or discard", submission.who)
        reason = _reason(submission, f"{action} delivery {delivery_id}")
        settle_one = parked.replay if action == "replay" else parked.discard
        try:
            await run_in_threadpool(settle_one, hub, delivery_id, operator=submission.who.operator.name,
                                    reason=reason)
            notice = f"delivery {delivery_id}: {action} done"
        except (NotFound, InvalidMessage) as error:
            notice = f"delivery {delivery_id} was not changed: {error}"
        back = safe_next(request, submission.form.get("return_to") or request.url_for("console_parked").path)
        response = RedirectResponse(back, status_code=303)
        console.set_notice(response, request, notice)
        return response


def _reason(submission: Submission, doing: str) -> str:
    reason = submission.form.get("reason").strip()
    if not reason:
        raise ConsoleError(f"a reason is required to {doing}; go back and give one", submission.who)
    if len(reason) > MAX_REASON_CHARS:
        raise ConsoleError(f"the reason has {len(reason)} characters; expected at most {MAX_REASON_CHARS}",
                           submission.who)
    return reason


def _selection(submission: Submission) -> list[str]:
    """Return the deliveries to replay: those ticked, or with ``scope=shown`` every one listed on the page."""
    field = "shown" if submission.form.get("scope") == "shown" else "delivery_id"
    delivery_ids = [value for value in submission.form.getlist(field) if value]
    if not delivery_ids:
        raise ConsoleError("no delivery was selected; tick at least one parked delivery", submission.who)
    if len(delivery_ids) > parked.MAX_BULK:
        raise ConsoleError(f"{len(delivery_ids)} deliveries were selected; expected at most {parked.MAX_BULK} "
                           "at once", submission.who)
    return delivery_ids
