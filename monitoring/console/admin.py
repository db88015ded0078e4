"""The admin's pages: operator accounts, the configuration with its secrets hidden, and the audit log."""

from __future__ import annotations

from typing import Any

import yaml
from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from monitoring.console import accounts, audit, partners, passwords
from monitoring.console.accounts import AccountError, Role
from monitoring.console.auth import Console, SignedIn, Submission

AUDIT_PAGE_SIZE = 100


def add_routes(router: APIRouter, console: Console) -> None:
    """Add the pages and forms that need the admin role."""
    admin_page = Depends(console.page(Role.ADMIN))
    admin_action = Depends(console.action(Role.ADMIN))
    hub = console.hub

    @router.get("/operators", name="console_operators")
    def operators_page(request: Request, who: SignedIn = admin_page) -> Response:
        return _operators(console, request, who)

    @router.post("/operators", name="console_operator_add")
    def add_operator(request: Request, submission: Submission = admin_action) -> Response:
        form, who = submission.form, submission.who
        name = form.get("name").strip()
        if form.get("password") != form.get("again"):
            return _operators(console, request, who, status=400, error="the two passwords differ", name=name)
        try:
            accounts.add_operator(hub.journal, name, form.get("password"), accounts.parse_role(form.get("role")),
                                  actor=who.operator.name)
        except AccountError as error:
            return _operators(console, request, who, status=400, error=str(error), name=name)
        return _back_to_operators(console, request, f"operator {name} added")

    @router.post("/operators/{name}/{change}", name="console_operator_change")
    def change_operator(request: Request, name: str, change: str, submission: Submission = admin_action) -> Response:
        if change not in ("disable", "enable"):
            return _operators(console, request, submission.who, status=404,
                              error=f"change '{change}' is not known; expected disable or enable")
        try:
            accounts.set_disabled(hub.journal, name, change == "disable", actor=submission.who.operator.name)
        except AccountError as error:
            return _operators(console, request, submission.who, status=400, error=str(error))
        return _back_to_operators(console, request, f"operator {name}: {change} done")

    @router.get("/configuration", name="console_configuration")
    def configuration(request: Request, who: SignedIn = admin_page) -> Response:
        return console.render(request, "configuration.html", who, nav="configuration",
                              text=configuration_text(hub.config), embedded=hub.config.embedded)

    @router.get("/audit", name="console_audit")
    def audit_page(request: Request, page: int = 1, who: SignedIn = admin_page) -> Response:
        page = max(1, page)
        entries = audit.entries(hub.journal, limit=AUDIT_PAGE_SIZE, offset=(page - 1) * AUDIT_PAGE_SIZE)
        return console.render(request, "audit.html", who, nav="audit", entries=entries, page=page,
                              total=audit.count(hub.journal), page_size=AUDIT_PAGE_SIZE)


def configuration_text(config: Any) -> str:
    """Dump the configuration as YAML, with API key hashes counted and every secret hidden."""
    data = config.model_dump(mode="json")
    hidden = partners.hide_secrets(data)
    for section in ("partners", "operators"):
        for name, profile in (data.get(section) or {}).items():
            hidden[section][name]["api_key_sha256"] = f"{len(profile.get('api_key_sha256') or [])} key hash(es)"
    return yaml.safe_dump(hidden, sort_keys=False, allow_unicode=True)


def _operators(console: Console, request: Request, who: SignedIn, *, status: int = 200, error: str | None = None,
               name: str = "") -> Response:
    return console.render(request, "operators.html", who, status=status, nav="operators",
                          operators=accounts.list_operators(console.hub.journal), roles=[role.value for role in Role],
                          error=error, name=name, min_length=passwords.MIN_LENGTH)


def _back_to_operators(console: Console, request: Request, notice: str) -> Response:
    response = RedirectResponse(request.url_for("console_operators").path, status_code=303)
    console.set_notice(response, request, notice)
    return response
