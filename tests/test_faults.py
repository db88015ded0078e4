"""Fault tests: a few thousand permits through the hub while something breaks, then nothing lost.

Each case sends permits (CITES_HUB_FAULT_PERMITS, default 2000) through the real RabbitMQ and
PostgreSQL to an HTTP destination simulator, breaks one thing midway and repairs it, then checks
that every journaled message is delivered or parked with a reason, none is lost, and the
destination applied each delivery once (it honours the Idempotency-Key).

The cases that restart RabbitMQ or PostgreSQL are marked ``slow``; ``pytest -m slow`` runs them.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from adapters.permit_store import PermitStoreAdapter
from adapters.permit_store.simulator import PermitStoreSimulator
from hub.broker import wait_for
from hub.journal import DeliveryState
from hub.runtime import Hub
from tests.faults_support import PERMITS, fault_config_for, send_all, worker_log

pytestmark = pytest.mark.integration

SETTLE_SECONDS = 240


@dataclass
class Outcome:
    sent: int
    delivered: int
    parked: int
    lost: int
    duplicated: int

    def row(self, case: str) -> str:
        return (f"| {case} | {self.sent} | {self.delivered} | {self.parked} | {self.lost} | {self.duplicated} |")


@pytest.fixture
def fault_config(tmp_path, rabbitmq_url, postgres_url, sink):
    return fault_config_for(tmp_path, rabbitmq_url, postgres_url, sink)


def run_case(hub: Hub, sink: PermitStoreSimulator, fault, *, count: int = PERMITS) -> Outcome:
    progress = [0]
    breaker = threading.Thread(target=_when, args=(lambda: progress[0] >= count // 3, fault))
    breaker.start()
    message_ids = send_all(hub, count, progress)
    breaker.join()
    assert wait_for(lambda: _settled(hub), timeout=SETTLE_SECONDS), "deliveries did not settle"
    return _outcome(hub, sink, message_ids)


def _when(condition, action) -> None:
    wait_for(condition, timeout=300, interval=0.02)
    action()


def _settled(hub: Hub) -> bool:
    try:
        return hub.unsettled() == 0
    except Exception:  # noqa: BLE001 - the database may be restarting
        return False


def _outcome(hub: Hub, sink: PermitStoreSimulator, message_ids: list[str]) -> Outcome:
    counts = hub.journal.delivery_counts()
    delivered = counts.get(("sink", DeliveryState.DELIVERED), 0)
    parked = counts.get(("sink", DeliveryState.PARKED), 0)
    journaled = sum(1 for m in message_ids if hub.journal.get_message(m) is not None)
    keys = [request.idempotency_key for request in sink.messages()]
    return Outcome(sent=len(message_ids), delivered=delivered, parked=parked,
                   lost=len(message_ids) - journaled + (journaled - delivered - parked),
                   duplicated=len(keys) - len(set(keys)))


def check(outcome: Outcome, case: str, *, parked: int = 0) -> None:
    print("\n" + outcome.row(case))
    assert outcome.lost == 0
    assert outcome.duplicated == 0
    assert outcome.parked == parked
    assert outcome.delivered == outcome.sent - parked


@pytest.fixture
def fault_hub(fault_config):
    hub = Hub(fault_config)
    hub.start()
    yield hub
    hub.stop()


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def test_rabbitmq_connections_cut_midstream(fault_hub, sink):
    outcome = run_case(fault_hub, sink, lambda: rabbitmqctl("close_all_connections", "fault test"))

    check(outcome, "RabbitMQ connections cut")


def test_destination_down_for_a_while(fault_hub, sink):
    def outage() -> None:
        sink.stop()
        time.sleep(3)
        sink.start()

    outcome = run_case(fault_hub, sink, outage)

    check(outcome, "destination down 3 s")


def test_destination_too_slow_for_a_while(fault_hub, sink):
    def slow() -> None:
        sink.delay_seconds = 1.5
        time.sleep(3)
        sink.delay_seconds = 0.0

    outcome = run_case(fault_hub, sink, slow)

    check(outcome, "destination slower than the 1 s timeout")


def test_poison_jobs_among_good_ones(fault_hub, sink, monkeypatch):
    original = PermitStoreAdapter.map_out

    def map_out(self, job):
        if job.permit is not None and job.permit.number.endswith("13"):
            raise RuntimeError(f"cannot map {job.permit.number}")
        return original(self, job)

    monkeypatch.setattr(PermitStoreAdapter, "map_out", map_out)

    def garbage() -> None:
        # Jobs no worker can read: no delivery id, and an id the journal never saw.
        fault_hub.broker.publish_delivery("sink", b"\x00garbage", {})
        fault_hub.broker.publish_delivery("sink", b"<x/>", {"x-cites-delivery-id": str(uuid.uuid4())})

    outcome = run_case(fault_hub, sink, garbage)

    check(outcome, "poison jobs among good ones", parked=PERMITS // 100)


def test_worker_killed_during_deliveries(fault_config, sink, tmp_path):
    config_file = tmp_path / "hub.yaml"
    config_file.write_text(yaml.safe_dump(fault_config.model_dump(mode="json")), encoding="utf-8")
    ingress = Hub(fault_config)
    ingress.start(deliver=False, sweep=False, amqp_ingress=False)
    workers = [_start_worker(config_file, tmp_path)]

    def kill_and_replace() -> None:
        wait_for(lambda: len(sink.messages()) >= PERMITS // 3, timeout=120)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=10)
        workers.append(_start_worker(config_file, tmp_path))

    try:
        outcome = run_case(ingress, sink, kill_and_replace)
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(timeout=10)
        ingress.stop()

    assert workers[0].returncode == -signal.SIGKILL
    check(outcome, "worker killed with SIGKILL")


def _start_worker(config_file: Path, folder: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hub.cli", "--log-level", "WARNING", "run", "--role", "worker",
                             "--config", str(config_file)], stdout=worker_log(folder), stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_rabbitmq_stopped_and_started(fault_hub, sink):
    def restart() -> None:
        rabbitmqctl("stop_app")
        time.sleep(2)
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")

    outcome = run_case(fault_hub, sink, restart)

    check(outcome, "RabbitMQ application stopped and started")


@pytest.mark.slow
def test_postgresql_restarted(fault_hub, sink):
    version = sorted(Path("/etc/postgresql").iterdir())[0].name

    def restart() -> None:
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True,
                       capture_output=True, timeout=120)

    outcome = run_case(fault_hub, sink, restart)

    check(outcome, "PostgreSQL restarted")
