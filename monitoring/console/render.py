"""HTML rendering of the console: the Jinja2 templates, their filters and the response headers.

Pages load nothing from another origin and run no script, so the Content-Security-Policy
allows only the console's own stylesheet.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def format_time(value: datetime | None) -> str:
    """Format a date-time in UTC to the second, e.g. ``2026-03-01 12:00:05 UTC``."""
    if value is None:
        return "–"
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_time_ms(value: datetime | None) -> str:
    """Format a date-time in UTC to the millisecond, for timelines."""
    if value is None:
        return "–"
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def format_duration(seconds: float | None) -> str:
    """Format a duration in the largest unit that keeps it readable: ``850 ms``, ``4.2 s``, ``3 min 5 s``."""
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
    return f"{int(seconds // 86400)} d {int(seconds % 86400 // 3600)} h"


def _environment() -> Environment:
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["time"] = format_time
    environment.filters["time_ms"] = format_time_ms
    environment.filters["duration"] = format_duration
    return environment


ENVIRONMENT = _environment()


def link(request: Request, route: str, query: dict[str, Any] | None = None, /, **path_params: Any) -> str:
    """Return the path of a console route by its name, with an optional query string."""
    path = request.url_for(route, **path_params).path
    values = {key: value for key, value in (query or {}).items() if value not in (None, "")}
    return f"{path}?{urlencode(values, doseq=True)}" if values else path


def render(request: Request, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    """Render one template with the request's ``link`` helper and the security headers."""
    values.setdefault("who", None)
    values.setdefault("notice", None)
    values.setdefault("nav", "")
    def link_for(route: str, query: dict[str, Any] | None = None, /, **params: Any) -> str:
        return link(request, route, query, **params)

    html = ENVIRONMENT.get_template(template).render(link=link_for, **values)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
