"""Three worker processes share one destination's deliveries on RabbitMQ, and none is made twice."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import yaml

from hub.broker import wait_for
from hub.journal import DeliveryState
from hub.runtime import Hub
from tests.faults_support import fault_config_for, send_all, worker_log

pytestmark = pytest.mark.integration

PERMITS = 600
WORKERS = 3


def test_three_workers_share_deliveries_once_each(tmp_path, rabbitmq_url, postgres_url, sink):
    config = fault_config_for(tmp_path, rabbitmq_url, postgres_url, sink)
    config_file = tmp_path / "hub.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")), encoding="utf-8")
    ingress = Hub(config)
    ingress.start(deliver=False, sweep=False, amqp_ingress=False)
    workers = [subprocess.Popen([sys.executable, "-m", "hub.cli", "--log-level", "WARNING", "run", "--role", "worker",
                                 "--config", str(config_file)], stdout=worker_log(tmp_path), stderr=subprocess.STDOUT)
               for _ in range(WORKERS)]
    try:
        time.sleep(3)  # let every worker subscribe before the load arrives
        send_all(ingress, PERMITS, [0])
        assert wait_for(lambda: ingress.unsettled() == 0, timeout=120)
        delivering = {event.actor.split(":")[1] for record in ingress.journal.iter_deliveries()
                      for event in ingress.journal.delivery_events(record.delivery_id) if event.action == "delivered"}
        counts = ingress.journal.delivery_counts()
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=20)
        ingress.stop()

    keys = [request.idempotency_key for request in sink.messages()]
    assert counts == {("sink", DeliveryState.DELIVERED): PERMITS}
    assert len(keys) == len(set(keys)) == PERMITS
    assert len(delivering) == WORKERS
