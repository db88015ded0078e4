"""What the fault and scale-out tests share: their hub configuration and a sender that retries."""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path
from typing import IO

from adapters.permit_store.simulator import PermitStoreSimulator
from hub.config import HubConfig
from hub.errors import HubError
from hub.journal import MessageStatus
from hub.runtime import Hub
from tests.factories import hub_config, make_permit, permit_xml

PERMITS = int(os.environ.get("CITES_HUB_FAULT_PERMITS", "2000"))
SENDERS = 4


def fault_config_for(tmp_path: Path, rabbitmq_url: str, postgres_url: str, sink: PermitStoreSimulator) -> HubConfig:
    """A hub on the test's RabbitMQ vhost and PostgreSQL database that delivers to ``sink``, retrying briskly."""
    config = hub_config(
        tmp_path, broker_url=rabbitmq_url, journal_url=postgres_url,
        destinations={"sink": {"adapter": "permit_store",
                               "options": {"url": sink.messages_url, "timeout_seconds": 1.0}}},
        delivery={"max_attempts": 100, "backoff_initial_seconds": 0.2, "backoff_max_seconds": 2,
                  "lease_seconds": 5, "sweep_interval_seconds": 1},
    )
    config.partners["permit-store"].options["url"] = sink.messages_url
    config.api.port = 0  # a worker process serves its metrics on a free port
    return config


def send_all(hub: Hub, count: int, progress: list[int]) -> list[str]:
    """Send ``count`` permits from several threads; a failed send is retried with the same message id."""
    numbers = iter(range(count))
    lock = threading.Lock()
    message_ids: list[str] = []

    def sender() -> None:
        while True:
            with lock:
                number = next(numbers, None)
            if number is None:
                return
            message_id = str(uuid.uuid4())
            payload = permit_xml(make_permit(number=f"FT{number:08d}"))
            _send_with_retries(hub, payload, message_id)
            with lock:
                message_ids.append(message_id)
                progress[0] += 1

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return message_ids


def _send_with_retries(hub: Hub, payload: bytes, message_id: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            result = hub.ingress.receive(payload, message_type="permit.issued", sender="permit-store",
                                         channel="test", message_id=message_id)
            assert result.status == MessageStatus.ACCEPTED, result.findings
            return
        except (HubError, OSError, Exception) as error:  # noqa: BLE001 - a real sender retries any failure
            if isinstance(error, AssertionError) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def worker_log(folder: Path) -> IO[str]:
    """A new log file for a worker process started by a test."""
    return (folder / f"worker-{time.monotonic_ns()}.log").open("w")
