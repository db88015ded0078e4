"""The stub adapter: keeps every delivery in memory.

It is the test double of the hub and the smallest complete adapter, so it is the first file an
integrator reads. ``fail_next`` lets a test make the next sends fail, transiently or for good.
"""

from __future__ import annotations

import threading
from typing import ClassVar

from adapters.base import Adapter, AdapterOptions, DeliveryJob, Direction, Outbound, Receipt
from hub.envelope import MessageType
from hub.errors import PermanentDeliveryError, TransientDeliveryError


class StubOptions(AdapterOptions):
    """The stub takes no settings but a label used in its receipts."""

    label: str = "stub"


class StubAdapter(Adapter):
    name = "stub"
    description = "Keeps what it receives in memory; the test double and reference adapter."
    directions = frozenset({Direction.INBOUND, Direction.OUTBOUND})
    message_types = frozenset(MessageType)
    formats = ("CITESEPermit:2",)
    signs = True
    options_model = StubOptions

    # Kept per partner across instances, so a test can read what a worker's adapter received.
    _received: ClassVar[dict[str, list[DeliveryJob]]] = {}
    _sent: ClassVar[dict[str, list[Outbound]]] = {}
    _failures: ClassVar[dict[str, list[Exception]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def received(cls, partner: str) -> list[DeliveryJob]:
        with cls._lock:
            return list(cls._received.get(partner, []))

    @classmethod
    def sent(cls, partner: str) -> list[Outbound]:
        """What the hub handed to ``send`` for ``partner``: the mapped (and maybe signed) bytes."""
        with cls._lock:
            return list(cls._sent.get(partner, []))

    @classmethod
    def fail_next(cls, partner: str, count: int = 1, *, transient: bool = True) -> None:
        error_type = TransientDeliveryError if transient else PermanentDeliveryError
        with cls._lock:
            cls._failures.setdefault(partner, []).extend(
                error_type(f"stub partner '{partner}' was told to fail") for _ in range(count)
            )

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            cls._received.clear()
            cls._sent.clear()
            cls._failures.clear()

    def send(self, outbound: Outbound, job: DeliveryJob) -> Receipt:
        with self._lock:
            failures = self._failures.get(self.partner)
            if failures:
                raise failures.pop(0)
            self._received.setdefault(self.partner, []).append(job)
            self._sent.setdefault(self.partner, []).append(outbound)
        return Receipt(reference=f"{self.options.label}:{job.idempotency_key}")
