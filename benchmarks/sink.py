"""A minimal HTTP sink on 127.0.0.1 that the benchmarked hub delivers to.

The sink runs in a child process, so serving requests takes no CPU time and no GIL from the hub
being measured. It responds to every request with ``200 OK`` and an empty body on keep-alive
HTTP/1.1 connections, and records when each message arrived: the ``X-Cites-Message-Id``
header and the time on the system-wide monotonic clock, which ``time.monotonic()`` also reads in
the hub's process (CLOCK_MONOTONIC on Linux).

It reads only what the hub's HTTP transport (httpx) sends: requests whose body length is given by
``Content-Length``. A request with ``Transfer-Encoding: chunked`` gets ``411 Length Required``
and the connection is closed.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from multiprocessing.connection import Connection
from types import TracebackType

MESSAGE_ID_HEADER = "x-cites-message-id"
OK_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
LENGTH_REQUIRED_RESPONSE = b"HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
START_TIMEOUT_SECONDS = 30.0

Arrival = tuple[str, float]


class _SinkProtocol(asyncio.Protocol):
    """One connection: split the byte stream into requests, record each, respond 200."""

    def __init__(self, arrivals: list[Arrival]) -> None:
        self.arrivals = arrivals
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self._answer_one_request():
            pass

    def _answer_one_request(self) -> bool:
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return False
        headers = _read_headers(bytes(self.buffer[:head_end]))
        if "chunked" in headers.get("transfer-encoding", ""):
            self.transport.write(LENGTH_REQUIRED_RESPONSE)
            self.transport.close()
            self.buffer.clear()
            return False

        request_end = head_end + 4 + int(headers.get("content-length", "0"))
        if len(self.buffer) < request_end:
            return False
        del self.buffer[:request_end]
        message_id = headers.get(MESSAGE_ID_HEADER)
        if message_id:
            self.arrivals.append((message_id, time.monotonic()))
        self.transport.write(OK_RESPONSE)
        return True


def _read_headers(head: bytes) -> dict[str, str]:
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


def _serve(control: Connection) -> None:
    """Child process: serve until the parent sends "stop"; hand over arrivals on "take"."""
    loop = asyncio.new_event_loop()
    arrivals: list[Arrival] = []
    server = loop.run_until_complete(loop.create_server(lambda: _SinkProtocol(arrivals), "127.0.0.1", 0))
    control.send(server.sockets[0].getsockname()[1])

    def on_command() -> None:
        command = control.recv()
        if command == "take":
            control.send(list(arrivals))
            arrivals.clear()
        elif command == "stop":
            loop.stop()

    loop.add_reader(control.fileno(), on_command)
    loop.run_forever()
    server.close()
    loop.close()


class Sink:
    """The sink process: ``start()`` returns its URL, ``take_arrivals()`` the messages received since."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._control, child_end = context.Pipe()
        self._process = context.Process(target=_serve, args=(child_end,), name="benchmark-sink", daemon=True)
        self.url = ""

    def start(self) -> str:
        self._process.start()
        if not self._control.poll(START_TIMEOUT_SECONDS):
            self._process.kill()
            raise RuntimeError(f"the HTTP sink did not start within {START_TIMEOUT_SECONDS:g} s")
        self.url = f"http://127.0.0.1:{self._control.recv()}/messages"
        return self.url

    def take_arrivals(self) -> list[Arrival]:
        """Return (message id, monotonic arrival time) of each message since the last call, and forget them."""
        self._control.send("take")
        return self._control.recv()

    def stop(self) -> None:
        if self._process.is_alive():
            self._control.send("stop")
            self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()

    def __enter__(self) -> "Sink":
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
