"""The base of the loopback HTTP simulators that stand in for external systems in tests and the demo.

A simulator is a real HTTP server (the standard library's ``ThreadingHTTPServer``) bound to
127.0.0.1 on a free port, serving from a daemon thread. Subclasses implement :meth:`Simulator.handle`.
The base does what every simulated system shares:

- it keeps each request it received (except GET and HEAD) in a list that is safe to read from
  another thread;
- it honours ``Idempotency-Key``: a repeat of a POST with the same method, path and key gets the
  first response again and is not kept twice, and a repeat with a different body gets HTTP 422;
- faults for tests: ``fail_next(count, status)`` responds to the next requests with an error
  status, and ``delay_seconds`` delays every request before it is handled.

Every request is served over its own connection (HTTP/1.0), so a stopped simulator refuses new
requests at once instead of serving them on a kept-alive connection.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})
# Seconds between the serving loop's checks for stop(). The standard library's default, 0.5 s,
# would make every stop() take up to half a second.
SHUTDOWN_POLL_SECONDS = 0.02

SimulatorT = TypeVar("SimulatorT", bound="Simulator")


@dataclass(frozen=True)
class SimulatedRequest:
    """A request as the simulator received it, with lower-case header names."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")


@dataclass(frozen=True)
class SimulatedResponse:
    """A response the simulator sends: status, body and its content type."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"

    @classmethod
    def json(cls, status: int, data: Any) -> "SimulatedResponse":
        return cls(status, json.dumps(data, default=str).encode("utf-8"), "application/json")

    @classmethod
    def xml(cls, status: int, body: bytes) -> "SimulatedResponse":
        return cls(status, body, "application/xml")


class Simulator:
    """Base of the loopback simulators. Subclasses set ``name`` and override :meth:`handle`.

    :meth:`handle` runs under the simulator's lock, one request at a time, so subclasses may keep
    their state in plain attributes as long as their public readers take ``self._lock`` too.
    """

    name: ClassVar[str] = "simulator"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, delay_seconds: float = 0.0) -> None:
        self.host = host
        self.port = port
        self.delay_seconds = delay_seconds
        self.replayed = 0
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._received: list[SimulatedRequest] = []
        self._responses: dict[tuple[str, str, str], tuple[str, SimulatedResponse]] = {}
        self._failures: list[int] = []

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:41234. Raises RuntimeError unless the simulator is running."""
        if self._server is None:
            raise RuntimeError(f"{self.name} simulator is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        """Start serving in a daemon thread and return the base URL."""
        if self._server is not None:
            return self.url

        self._stopping.clear()
        self._server = _Server((self.host, self.port), _Handler, simulator=self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            name=f"{self.name}-simulator",
            daemon=True,
        )
        self._thread.start()
        logger.info("%s simulator listening on %s", self.name, self.url)
        return self.url

    def stop(self) -> None:
        """Stop serving and close the listening socket. Requests still waiting out a delay end at once."""
        server, self._server = self._server, None
        if server is None:
            return

        self._stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        logger.info("%s simulator stopped", self.name)

    def __enter__(self: SimulatorT) -> SimulatorT:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def received(self) -> list[SimulatedRequest]:
        """Return a copy of the requests kept so far, oldest first."""
        with self._lock:
            return list(self._received)

    def fail_next(self, count: int = 1, status: int = 503) -> None:
        """Respond to the next ``count`` requests with ``status``, without handling or keeping them."""
        with self._lock:
            self._failures.extend([status] * count)

    def handle(self, request: SimulatedRequest) -> SimulatedResponse:
        """Return the response to one request. Subclasses override this; the base returns 404."""
        return SimulatedResponse.json(404, {"status": "not_found", "reason": f"no route for {request.method} {request.path}"})

    def respond(self, request: SimulatedRequest) -> SimulatedResponse:
        """Apply the injected faults, the delay and the idempotency rule, then :meth:`handle` the request."""
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            reason = f"{self.name} simulator was set to fail this request with HTTP {failure} (fail_next)"
            return SimulatedResponse.json(failure, {"status": "failed", "reason": reason})

        if self.delay_seconds > 0:
            self._stopping.wait(self.delay_seconds)

        with self._lock:
            if request.method in READ_ONLY_METHODS:
                return self.handle(request)
            return self._handle_once(request)

    def _handle_once(self, request: SimulatedRequest) -> SimulatedResponse:
        key = request.idempotency_key
        if key is None:
            self._received.append(request)
            return self.handle(request)

        slot = (request.method, request.path, key)
        digest = hashlib.sha256(request.body).hexdigest()
        if slot in self._responses:
            return self._replay(key, digest, *self._responses[slot])

        response = self.handle(request)
        self._responses[slot] = (digest, response)
        self._received.append(request)
        return response

    def _replay(self, key: str, digest: str, first_digest: str, first: SimulatedResponse) -> SimulatedResponse:
        if digest != first_digest:
            reason = f"Idempotency-Key '{key}' was first used with a different body; expected the same body or a new key"
            return SimulatedResponse.json(422, {"status": "rejected", "reason": reason})

        self.replayed += 1
        logger.debug("%s simulator replayed the response for Idempotency-Key %s", self.name, key)
        return first


class _BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], *, simulator: Simulator) -> None:
        self.simulator = simulator
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def _serve(self) -> None:
        try:
            request = self._read_request()
        except _BadRequest as error:
            self._send(SimulatedResponse.json(error.status, {"status": "rejected", "reason": str(error)}))
            return
        self._send(self.server.simulator.respond(request))

    def _read_request(self) -> SimulatedRequest:
        length_header = self.headers.get("Content-Length") or "0"
        if not length_header.isdigit():
            raise _BadRequest(400, f"Content-Length '{length_header}' is not a number of bytes")
        length = int(length_header)
        if length > MAX_BODY_BYTES:
            raise _BadRequest(413, f"body of {length} bytes exceeds the limit of {MAX_BODY_BYTES} bytes")

        headers = {name.lower(): value for name, value in self.headers.items()}
        body = self.rfile.read(length)
        return SimulatedRequest(self.command, urlsplit(self.path).path, headers, body)

    def _send(self, response: SimulatedResponse) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up first, e.g. its timeout was shorter than the simulator's delay.
            logger.debug("%s simulator: client closed the connection before the response", self.server.simulator.name)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s simulator: " + format, self.server.simulator.name, *args)
