"""The embedded mode's scheduler: runs a call after a delay, in place of RabbitMQ's delay queues.

It keeps nothing on disk. A retry it loses in a crash is found again by the sweep, because the
journal records the delivery as failed and due.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)


class Scheduler:
    """One thread and a heap of (due time, call)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        self._thread.start()

    def call_later(self, seconds: float, call: Callable[[], None]) -> None:
        with self._wake:
            heapq.heappush(self._heap, (time.monotonic() + max(seconds, 0.0), next(self._order), call))
            self._wake.notify()

    def pending(self) -> int:
        with self._wake:
            return len(self._heap)

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(timeout)
                if self._stopped:
                    return
                _, _, call = heapq.heappop(self._heap)
            try:
                call()
            except Exception:  # noqa: BLE001 - one failed call must not stop the others
                log.exception("scheduled call failed")
