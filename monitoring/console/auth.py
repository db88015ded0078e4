"""Access control of the console: sessions, roles, CSRF checks and sign-in throttling.

Pages depend on :meth:`Console.page` and form posts on :meth:`Console.action`, each with the role
they need. A post must carry the session's CSRF token in the ``csrf_token`` field. The errors
below are turned into responses by :class:`monitoring.console.router.ConsoleRoute`.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs

from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from monitoring.console import accounts, render, sessions
from monitoring.console.accounts import Operator, Role

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 256 * 1024
SIGN_IN_MAX_FAILURES = 10
SIGN_IN_WINDOW_SECONDS = 600


class ConsoleError(Exception):
    """A request the console responds to with an error page; ``who`` is set when the caller is known."""

    status = 400

    def __init__(self, message: str, who: "SignedIn | None" = None) -> None:
        super().__init__(message)
        self.who = who


class SignInRequired(ConsoleError):
    """No valid session: the browser is sent to the sign-in page, then back to ``next_path``."""

    status = 303

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in to continue")
        self.next_path = next_path


class Forbidden(ConsoleError):
    status = 403


class PageNotFound(ConsoleError):
    status = 404


class TooManyAttempts(ConsoleError):
    status = 429


@dataclass(frozen=True)
class SignedIn:
    """The operator behind a request, with the session whose CSRF token the page's forms carry."""

    operator: Operator
    session: sessions.Session

    @property
    def csrf(self) -> str:
        return self.session.csrf

    def can(self, role: str) -> bool:
        return self.operator.role.allows(Role(role))


class Form:
    """The fields of a URL-encoded form post."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self._fields = fields

    def get(self, name: str, default: str = "") -> str:
        values = self._fields.get(name)
        return values[0] if values else default

    def getlist(self, name: str) -> list[str]:
        return list(self._fields.get(name, []))


@dataclass(frozen=True)
class Submission:
    """A form post whose CSRF token matched the session of an operator with the needed role."""

    who: SignedIn
    form: Form


class Throttle:
    """Counts failed sign-ins per client address and rejects more after too many in a window.

    NOTE: the counts live in this process only; several API processes each keep their own.
    """

    def __init__(self, max_failures: int = SIGN_IN_MAX_FAILURES, window: float = SIGN_IN_WINDOW_SECONDS) -> None:
        self.max_failures, self.window = max_failures, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, key: str) -> float:
        """Return the seconds until ``key`` may try again; 0 when it may try now."""
        with self._lock:
            failures = self._recent(key)
            if len(failures) < self.max_failures:
                return 0.0
            return failures[0] + self.window - time.monotonic()

    def failed(self, key: str) -> None:
        with self._lock:
            self._recent(key).append(time.monotonic())

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] < time.monotonic() - self.window:
            failures.popleft()
        return failures


class Console:
    """The console's shared state: the hub, the cookie signer and the sign-in throttle."""

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        if not hub.config.embedded and not os.environ.get(sessions.SECRET_ENV):
            log.warning("%s is not set, so console sessions are signed with a key from %s; API processes that "
                        "do not share that folder will not accept each other's sessions", sessions.SECRET_ENV,
                        hub.config.data_dir)
        self.signer = sessions.Signer(sessions.load_secret(hub.config.data_dir))
        self.throttle = Throttle()

    # -- dependencies ---------------------------------------------------------------------------

    def page(self, role: Role) -> Callable[[Request], SignedIn]:
        """Build a dependency for a page that needs ``role``: it returns the caller or raises."""
        def signed_in(request: Request) -> SignedIn:
            return self.signed_in(request, role)
        return signed_in

    def action(self, role: Role) -> Callable[[Request], Awaitable[Submission]]:
        """Build a dependency for a form post that needs ``role`` and the session's CSRF token."""
        async def submission(request: Request) -> Submission:
            form = await read_form(request)
            who = await run_in_threadpool(self.signed_in, request, role)
            if not hmac.compare_digest(form.get("csrf_token").encode(), who.csrf.encode()):
                raise Forbidden("the form's CSRF token is missing or stale; reload the page and try again", who)
            return Submission(who, form)
        return submission

    def signed_in(self, request: Request, role: Role) -> SignedIn:
        session = self.session(request)
        if session is None or session.operator is None:
            raise SignInRequired(_here(request))
        operator = accounts.get_operator(self.hub.journal, session.operator)
        if operator is None or operator.disabled:
            raise SignInRequired(_here(request))
        who = SignedIn(operator, session)
        if not operator.role.allows(role):
            raise Forbidden(f"this needs the {role.value} role; {operator.name} has the {operator.role.value} role",
                            who)
        return who

    # -- cookies --------------------------------------------------------------------------------

    def session(self, request: Request) -> sessions.Session | None:
        return sessions.load_session(self.signer, request.cookies.get(sessions.SESSION_COOKIE))

    def set_session(self, response: Response, request: Request, session: sessions.Session) -> None:
        response.set_cookie(sessions.SESSION_COOKIE, sessions.dump_session(self.signer, session),
                            max_age=sessions.LIFETIME_SECONDS, **_cookie_options(request))

    def clear_session(self, response: Response, request: Request) -> None:
        response.delete_cookie(sessions.SESSION_COOKIE, **_cookie_options(request))

    def set_notice(self, response: Response, request: Request, text: str) -> None:
        """Keep a one-line message for the next page this browser loads (after a redirect)."""
        response.set_cookie(sessions.NOTICE_COOKIE, sessions.dump_notice(self.signer, text),
                            max_age=sessions.NOTICE_SECONDS, **_cookie_options(request))

    def render(self, request: Request, template: str, who: SignedIn | None, *, status: int = 200,
               **values: Any) -> Response:
        """Render a page for ``who``, showing and then forgetting a pending notice."""
        notice = sessions.load_notice(self.signer, request.cookies.get(sessions.NOTICE_COOKIE))
        response = render.render(request, template, status=status, who=who, notice=notice, **values)
        if sessions.NOTICE_COOKIE in request.cookies:
            response.delete_cookie(sessions.NOTICE_COOKIE, **_cookie_options(request))
        return response


async def read_form(request: Request) -> Form:
    """Read a URL-encoded form body of at most MAX_FORM_BYTES."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != "application/x-www-form-urlencoded":
        raise ConsoleError(f"form posted as '{content_type}'; expected application/x-www-form-urlencoded")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_FORM_BYTES:
            raise ConsoleError(f"form is larger than {MAX_FORM_BYTES} bytes; select fewer deliveries")
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=5000)
    return Form(fields)


def console_root(request: Request) -> str:
    """Return the path the console is mounted at, without a trailing slash (``/console``)."""
    return request.url_for("console_overview").path.rstrip("/") or "/"


def safe_next(request: Request, candidate: str | None) -> str:
    """Return ``candidate`` when it is a path inside the console, else the overview, so no redirect leaves it."""
    root = console_root(request)
    if candidate and candidate.startswith(root + "/") and not candidate.startswith("//") and "\\" not in candidate:
        return candidate
    return request.url_for("console_overview").path


def _here(request: Request) -> str:
    if request.method != "GET":
        return request.url_for("console_overview").path
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def _cookie_options(request: Request) -> dict[str, Any]:
    return {"path": console_root(request), "httponly": True, "samesite": "lax",
            "secure": request.url.scheme == "https"}
