"""Signing in and out of the console, and changing one's own password.

The sign-in form carries the CSRF token of a session without an operator. A successful sign-in
replaces that session with a new one and a new token, so a token seen before sign-in is useless after it.
"""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from monitoring.console import accounts, audit, passwords, sessions
from monitoring.console.accounts import AccountError, Role
from monitoring.console.audit import Action
from monitoring.console.auth import Console, Forbidden, SignedIn, Submission, TooManyAttempts, read_form, safe_next

log = logging.getLogger(__name__)


def add_routes(router: APIRouter, console: Console) -> None:
    """Add the sign-in, sign-out and account pages."""
    hub = console.hub

    @router.get("/sign-in", name="console_sign_in")
    def sign_in_page(request: Request, next: str = "") -> Response:
        session = console.session(request)
        if session is None or session.operator is not None:
            session = sessions.Session.new()
        response = console.render(request, "sign_in.html", None, csrf=session.csrf, next=safe_next(request, next),
                                  error=None, name="")
        console.set_session(response, request, session)
        return response

    @router.post("/sign-in", name="console_sign_in_post")
    async def sign_in(request: Request) -> Response:
        form = await read_form(request)
        session = console.session(request)
        if session is None or not hmac.compare_digest(form.get("csrf_token").encode(), session.csrf.encode()):
            raise Forbidden("the sign-in form expired or its CSRF token is missing; reload the page and try again")
        client = request.client.host if request.client else "unknown"
        wait = console.throttle.wait_seconds(client)
        if wait > 0:
            raise TooManyAttempts(f"too many failed sign-ins from {client}; try again in {int(wait // 60) + 1} min")

        name = form.get("name").strip()
        operator = await run_in_threadpool(accounts.authenticate, hub.journal, name, form.get("password"))
        if operator is None:
            console.throttle.failed(client)
            await run_in_threadpool(audit.record, hub.journal, name[:100] or "(empty)", Action.SIGN_IN_FAILED,
                                    target=name[:200], detail={"client": client})
            log.warning("console sign-in failed from %s", client)
            response = console.render(request, "sign_in.html", None, status=401, csrf=session.csrf,
                                      next=safe_next(request, form.get("next")), name=name,
                                      error="name or password is wrong, or the account is disabled")
            return response
        console.throttle.clear(client)
        await run_in_threadpool(audit.record, hub.journal, operator.name, Action.SIGN_IN, target=operator.name,
                                detail={"client": client})
        response = RedirectResponse(safe_next(request, form.get("next")), status_code=303)
        console.set_session(response, request, sessions.Session.new(operator.name))
        return response

    @router.post("/sign-out", name="console_sign_out")
    async def sign_out(request: Request, submission: Submission = Depends(console.action(Role.VIEWER))) -> Response:
        name = submission.who.operator.name
        await run_in_threadpool(audit.record, hub.journal, name, Action.SIGN_OUT, target=name)
        response = RedirectResponse(request.url_for("console_sign_in").path, status_code=303)
        console.clear_session(response, request)
        return response

    @router.get("/account", name="console_account")
    def account(request: Request, who: SignedIn = Depends(console.page(Role.VIEWER))) -> Response:
        return console.render(request, "account.html", who, nav="account", error=None,
                              min_length=passwords.MIN_LENGTH)

    @router.post("/account/password", name="console_password")
    def change_password(request: Request, submission: Submission = Depends(console.action(Role.VIEWER))) -> Response:
        who, form = submission.who, submission.form
        error = _password_change_error(console, who, form.get("current"), form.get("new"), form.get("again"))
        if error:
            return console.render(request, "account.html", who, status=400, nav="account", error=error,
                                  min_length=passwords.MIN_LENGTH)
        accounts.forget_first_admin_password(hub.config.data_dir, who.operator.name)
        response = RedirectResponse(request.url_for("console_account").path, status_code=303)
        console.set_notice(response, request, "your password was changed")
        return response


def _password_change_error(console: Console, who: SignedIn, current: str, new: str, again: str) -> str | None:
    """Change the password when the form is right; otherwise return what is wrong with it."""
    if accounts.authenticate(console.hub.journal, who.operator.name, current) is None:
        return "the current password is wrong"
    if new != again:
        return "the two new passwords differ"
    try:
        accounts.set_password(console.hub.journal, who.operator.name, new, actor=who.operator.name)
    except AccountError as error:
        return str(error)
    return None
