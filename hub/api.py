"""The HTTP API: message ingress, journal look-ups, metrics and health."""

from __future__ import annotations

import logging
from typing import Any, Callable

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hub import __version__
from hub.errors import AuthenticationError, InvalidMessage, NotFound
from hub.runtime import Hub
from hub.verification import permit_status
from monitoring.console import create_router

log = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message, **extra})


class _Unauthorized(Exception):
    """Error for a request without a valid API key; the API responds 401 with the reason."""


def create_app(hub: Hub, *, api: bool = True) -> FastAPI:
    """Build the FastAPI application serving ``hub``.

    With ``api=False`` (a worker process) it serves only ``/metrics``, ``/healthz`` and ``/readyz``.
    """
    app = FastAPI(title="cites-hub", version=__version__)
    app.add_exception_handler(_Unauthorized, lambda request, error: _error(401, str(error)))
    _add_operations_routes(app, hub)
    if api:
        _add_api_routes(app, hub)
        app.include_router(create_router(hub), prefix="/console")
    return app


def _key_checks(hub: Hub) -> tuple[Callable[[Request], str], Callable[[Request], str], Callable[[Request], str]]:
    """FastAPI dependencies returning the partner, the operator, or either, that owns the request's key."""
    def partner(request: Request) -> str:
        try:
            return hub.authenticate(request.headers.get(API_KEY_HEADER))
        except AuthenticationError as error:
            raise _Unauthorized(str(error)) from error

    def operator(request: Request) -> str:
        try:
            return hub.authenticate_operator(request.headers.get(API_KEY_HEADER))
        except AuthenticationError as error:
            raise _Unauthorized(str(error)) from error

    def anyone(request: Request) -> str:
        caller = _caller(hub, request)
        if caller is None:
            raise _Unauthorized("missing or invalid API key; send a partner's or an operator's key in X-API-Key")
        return caller

    return partner, operator, anyone


def _add_api_routes(app: FastAPI, hub: Hub) -> None:
    partner, operator, anyone = _key_checks(hub)

    @app.post("/api/v1/messages", status_code=202)
    async def post_message(request: Request) -> Response:
        """Receive one message: the body is the XML payload, the type a query parameter or header."""
        message_type = request.query_params.get("message_type") or request.headers.get("X-Message-Type")
        if not message_type:
            return _error(400, "missing message_type; give it as ?message_type=permit.issued or X-Message-Type")
        body = await _read_body(request, hub.config.api.max_body_bytes)
        if body is None:
            return _error(413, f"body exceeds {hub.config.api.max_body_bytes} bytes")
        sender = partner(request)
        return await run_in_threadpool(_receive, hub, body, message_type, sender, request)

    @app.get("/api/v1/messages/{message_id}", dependencies=[Depends(anyone)])
    def get_message(message_id: str) -> Response:
        record = hub.journal.get_message(message_id)
        if record is None:
            return _error(404, f"message_id '{message_id}' is not in the journal")
        return JSONResponse(_message_view(record))

    @app.get("/api/v1/permits/{party}/{number}/timeline", dependencies=[Depends(anyone)])
    def get_timeline(party: str, number: str) -> Response:
        events = hub.journal.timeline(party, number)
        if not events:
            return _error(404, f"permit {party}/{number} is not in the journal")
        return JSONResponse([{**e.__dict__, "at": e.at.isoformat()} for e in events])

    @app.get("/api/v1/deliveries", dependencies=[Depends(operator)])
    def list_deliveries(state: str | None = None, destination: str | None = None, limit: int = 100,
                        offset: int = 0) -> Response:
        records = hub.journal.list_deliveries(state=state, destination=destination, limit=min(limit, 1000),
                                              offset=offset)
        return JSONResponse([_delivery_view(r) for r in records])

    @app.get("/api/v1/deliveries/{delivery_id}", dependencies=[Depends(operator)])
    def get_delivery(delivery_id: str) -> Response:
        record = hub.journal.get_delivery(delivery_id)
        if record is None:
            return _error(404, f"delivery {delivery_id} is not in the journal")
        events = [{**e.__dict__, "at": e.at.isoformat()} for e in hub.journal.delivery_events(delivery_id)]
        return JSONResponse({**_delivery_view(record), "events": events})

    @app.post("/api/v1/deliveries/{delivery_id}/{action}")
    async def settle_delivery(delivery_id: str, action: str, request: Request) -> Response:
        """Replay or discard a parked delivery; the JSON body gives the reason."""
        if action not in ("replay", "discard"):
            return _error(404, f"unknown action '{action}'; expected replay or discard")
        actor = operator(request)
        reason = await _reason(request)
        settle = hub.replay if action == "replay" else hub.discard
        try:
            record = await run_in_threadpool(settle, delivery_id, actor=actor, reason=reason)
        except NotFound as error:
            return _error(404, str(error))
        except InvalidMessage as error:
            return _error(409 if "only a parked" in str(error) else 400, str(error))
        return JSONResponse(_delivery_view(record))

    @app.get("/api/v1/permits/{party}/{number}/status", dependencies=[Depends(anyone)])
    def get_permit_status(party: str, number: str) -> Response:
        """Is the permit valid now, for what, and what remains of it (for Customs and officers)."""
        status = permit_status(hub.journal, party, number)
        if status is None:
            return _error(404, f"permit {party}/{number} is not in the journal")
        return JSONResponse(status)


def _add_operations_routes(app: FastAPI, hub: Hub) -> None:
    @app.get("/metrics")
    def get_metrics() -> Response:
        try:
            hub.refresh_gauges()
        except Exception as error:  # noqa: BLE001 - a scrape must answer even when the journal is down
            log.warning("gauges not refreshed before scrape: %s", error)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> Response:
        checks = {"journal": hub.journal.ping(), "broker": hub.broker.ping()}
        status = 200 if all(checks.values()) else 503
        return JSONResponse(status_code=status, content={"ready": status == 200, "checks": checks})


async def _read_body(request: Request, limit: int) -> bytes | None:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _caller(hub: Hub, request: Request) -> str | None:
    """Return the partner or operator who owns the request's API key, or None."""
    key = request.headers.get(API_KEY_HEADER)
    for authenticate in (hub.authenticate, hub.authenticate_operator):
        try:
            return authenticate(key)
        except AuthenticationError:
            continue
    return None


async def _reason(request: Request) -> str:
    try:
        body = await request.json()
    except ValueError:
        return ""
    return str(body.get("reason", "")) if isinstance(body, dict) else ""


def _delivery_view(record: Any) -> dict[str, Any]:
    return {
        "delivery_id": record.delivery_id, "message_id": record.message_id, "destination": record.destination,
        "adapter": record.adapter, "route": record.route, "state": record.state, "attempts": record.attempts,
        "idempotency_key": record.idempotency_key, "last_error": record.last_error,
        "receipt_reference": record.receipt_reference, "updated_at": record.updated_at.isoformat(),
    }


def _receive(hub: Hub, body: bytes, message_type: str, sender: str, request: Request) -> Response:
    try:
        result = hub.ingress.receive(
            body, message_type=message_type, sender=sender, channel="http",
            message_id=request.headers.get("X-Message-Id"), correlation_id=request.headers.get("X-Correlation-Id"),
        )
    except AuthenticationError as error:
        return _error(403, str(error))
    except InvalidMessage as error:
        return _error(400, str(error), findings=[f.as_dict() for f in error.findings])
    status = 202 if result.accepted else 422
    return JSONResponse(status_code=status, content=result.as_dict(),
                        headers={"X-Correlation-Id": result.correlation_id})


def _message_view(record: Any) -> dict[str, Any]:
    envelope = record.envelope
    return {
        "message_id": envelope.message_id,
        "correlation_id": envelope.correlation_id,
        "message_type": envelope.message_type.value,
        "permit": envelope.permit,
        "sender": envelope.sender,
        "schema": envelope.schema,
        "payload_sha256": envelope.payload_sha256,
        "signature_state": envelope.signature_state,
        "status": record.status,
        "received_at": record.received_at.isoformat(),
        "findings": record.findings,
        "deliveries": [_delivery_view(d) for d in record.deliveries],
    }
