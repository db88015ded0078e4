"""The console's FastAPI router: every page and form, the stylesheet, and error pages.

``create_router(hub)`` is mounted by the API under ``/console``; links are built from route names,
so another prefix works too.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Coroutine
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from monitoring.console import actions, admin, pages, render, signin
from monitoring.console.auth import Console, ConsoleError, SignInRequired

log = logging.getLogger(__name__)

STYLESHEET = render.STATIC / "console.css"


class ConsoleRoute(APIRoute):
    """A route whose ConsoleError becomes a redirect to the sign-in page or an HTML error page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired as error:
                target = request.url_for("console_sign_in").path + "?" + urlencode({"next": error.next_path})
                return RedirectResponse(target, status_code=303)
            except ConsoleError as error:
                return render.render(request, "error.html", status=error.status, who=error.who,
                                     message=str(error), status_code=error.status)

        return handle


def create_router(hub: Any) -> APIRouter:
    """Build the console's router for ``hub``; mount it with ``include_router(..., prefix="/console")``."""
    console = Console(hub)
    router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

    @router.get("/static/console.css", name="console_stylesheet")
    def stylesheet() -> Response:
        return Response(STYLESHEET.read_bytes(), media_type="text/css",
                        headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"})

    pages.add_routes(router, console)
    actions.add_routes(router, console)
    signin.add_routes(router, console)
    admin.add_routes(router, console)
    return router
