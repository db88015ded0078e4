"""Serve the HTTP API with uvicorn, in the foreground or in a background thread."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from hub.api import create_app
from hub.runtime import Hub


class ApiServer:
    """uvicorn in a daemon thread, for the demo and tests; ``url`` is set once it listens."""

    def __init__(self, hub: Hub, host: str = "127.0.0.1", port: int = 0) -> None:
        self.port = port or free_port(host)
        self.host = host
        config = uvicorn.Config(create_app(hub), host=host, port=self.port, log_config=None, access_log=False,
                                lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> str:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"API server did not start on {self.url} within {timeout}s")
            time.sleep(0.02)
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> "ApiServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def serve_forever(hub: Hub, *, api: bool = True) -> None:
    """Run the API (or a worker's metrics and health endpoints) in the foreground until interrupted."""
    config = uvicorn.Config(create_app(hub, api=api), host=hub.config.api.host, port=hub.config.api.port,
                            log_config=None)
    uvicorn.Server(config).run()
