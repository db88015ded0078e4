"""The Customs adapter against the Customs simulator, both real, on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from adapters.base import DeliveryJob, Direction, Outbound, Receipt
from adapters.customs import CustomsAdapter, CustomsSimulator
from adapters.simulation import SimulatedRequest, SimulatedResponse, Simulator
from hub.envelope import Envelope, MessageType
from hub.errors import ConfigError, PermanentDeliveryError, TransientDeliveryError
from hub.permit import Address, Permit, PermitItem, Quantity, TradeParty

# NOTE: mappings/citesepermit.py did not exist when these tests were written, so the canonical
# payload is a placeholder. The Customs adapter maps from DeliveryJob.permit and never reads it.
PLACEHOLDER_PAYLOAD = b'<CITESEPermit xmlns="urn:un:unece:uncefact:data:standard:CITESEPermit:2"/>'
API_KEY_ENV = "CITES_HUB_TEST_CUSTOMS_KEY"
API_KEY = "ck-test-7f3a9c51e2"


def make_permit(number: str = "GH2026000123", **item_changes: object) -> Permit:
    item: dict[str, object] = {
        "line_id": "A",
        "scientific_name": "Psittacus erithacus",
        "term": "LIV",
        "appendix": "I",
        "source": "C",
        "quantity": Quantity(value=Decimal("4")),
    }
    item.update(item_changes)
    return Permit(
        number=number,
        type="E",
        exporter=TradeParty(name="Kumasi Aviaries", address=Address(country="GH")),
        importer=TradeParty(name="Zoo de Lyon", address=Address(country="FR")),
        items=[PermitItem(**item)],
    )


def make_job(
    permit: Permit,
    message_type: MessageType = MessageType.PERMIT_ISSUED,
    *,
    key: str | None = None,
) -> DeliveryJob:
    envelope = Envelope.for_payload(
        PLACEHOLDER_PAYLOAD, message_type=message_type, sender="permit-store", permit=f"GH/{permit.number}"
    )
    return DeliveryJob(
        delivery_id=f"delivery-{envelope.message_id}",
        destination="customs-test",
        envelope=envelope,
        payload=PLACEHOLDER_PAYLOAD,
        idempotency_key=key or envelope.message_id,
        permit=permit,
    )


def deliver(adapter: CustomsAdapter, job: DeliveryJob) -> Receipt:
    return adapter.send(adapter.map_out(job), job)


@pytest.fixture
def simulator() -> Iterator[CustomsSimulator]:
    with CustomsSimulator() as running:
        yield running


@pytest.fixture
def adapter(simulator: CustomsSimulator) -> Iterator[CustomsAdapter]:
    customs = CustomsAdapter("customs-test", {"url": simulator.feed_url, "timeout_seconds": 2})
    yield customs
    customs.close()


def test_issued_permit_gets_customs_reference(adapter: CustomsAdapter, simulator: CustomsSimulator) -> None:
    job = make_job(make_permit())

    receipt = deliver(adapter, job)

    assert receipt.state == "delivered"
    assert receipt.reference == "CUS-000001"
    assert simulator.permits()["GH2026000123"].status == "valid"


def test_simulator_keeps_action_and_risk_flags(adapter: CustomsAdapter, simulator: CustomsSimulator) -> None:
    job = make_job(make_permit())

    deliver(adapter, job)

    action = simulator.permits()["GH2026000123"].actions[0]
    assert action.action == "issued"
    assert action.message_id == job.envelope.message_id
    assert action.risk_flags == ["APPENDIX_I", "LIVE_SPECIMENS"]


def test_delivery_sends_key_and_correlation(adapter: CustomsAdapter, simulator: CustomsSimulator) -> None:
    job = make_job(make_permit(), key="key-42")

    deliver(adapter, job)

    headers = simulator.received()[0].headers
    assert headers["idempotency-key"] == "key-42"
    assert headers["x-correlation-id"] == job.envelope.correlation_id
    assert headers["content-type"] == "application/xml"


def test_repeated_idempotency_key_is_kept_once(adapter: CustomsAdapter, simulator: CustomsSimulator) -> None:
    job = make_job(make_permit())

    first = deliver(adapter, job)
    second = deliver(adapter, job)

    assert second.reference == first.reference
    assert len(simulator.received()) == 1
    assert len(simulator.permits()["GH2026000123"].actions) == 1
    assert simulator.replayed == 1


def test_amendment_after_issue_is_accepted(adapter: CustomsAdapter, simulator: CustomsSimulator) -> None:
    deliver(adapter, make_job(make_permit()))

    receipt = deliver(adapter, make_job(make_permit(), MessageType.PERMIT_AMENDED))

    assert receipt.reference == "CUS-000002"
    assert [a.action for a in simulator.permits()["GH2026000123"].actions] == ["issued", "amended"]


def test_unknown_permit_cancellation_is_permanent(adapter: CustomsAdapter) -> None:
    job = make_job(make_permit("GH2026999999"), MessageType.PERMIT_CANCELLED)

    with pytest.raises(PermanentDeliveryError, match="GH2026999999: action 'cancelled' for a permit Customs never received"):
        deliver(adapter, job)


def test_amendment_of_cancelled_permit_is_permanent(adapter: CustomsAdapter) -> None:
    deliver(adapter, make_job(make_permit()))
    deliver(adapter, make_job(make_permit(), MessageType.PERMIT_CANCELLED))

    with pytest.raises(PermanentDeliveryError, match="GH2026000123 is cancelled; action 'amended'"):
        deliver(adapter, make_job(make_permit(), MessageType.PERMIT_AMENDED))


def test_replacement_of_unknown_permit_is_accepted(adapter: CustomsAdapter, simulator: CustomsSimulator) -> None:
    job = make_job(make_permit("GH2026000124"), MessageType.PERMIT_REPLACED)

    deliver(adapter, job)

    assert simulator.permits()["GH2026000124"].status == "replaced"


def test_reject_reason_option_rejects_every_feed(adapter: CustomsAdapter, simulator: CustomsSimulator) -> None:
    simulator.reject_reason = "risk engine offline for maintenance"

    with pytest.raises(PermanentDeliveryError, match="risk engine offline"):
        deliver(adapter, make_job(make_permit()))


def test_invalid_feed_is_rejected_with_path(adapter: CustomsAdapter) -> None:
    outbound = Outbound(body=b'<PermitFeed xmlns="urn:cites-hub:customs:permit-feed:1"/>')

    with pytest.raises(PermanentDeliveryError, match="HTTP 422.*MessageID"):
        adapter.send(outbound, make_job(make_permit()))


def test_unmappable_permit_is_permanent(adapter: CustomsAdapter) -> None:
    job = make_job(make_permit(term="LIVE"))

    with pytest.raises(PermanentDeliveryError, match="TermCode"):
        adapter.map_out(job)


def test_job_without_parsed_permit_is_permanent(adapter: CustomsAdapter) -> None:
    job = dataclasses.replace(make_job(make_permit()), permit=None)

    with pytest.raises(PermanentDeliveryError, match="DeliveryJob.permit"):
        adapter.map_out(job)


@pytest.mark.parametrize("status", [503, 429])
def test_unavailable_customs_is_transient(adapter: CustomsAdapter, simulator: CustomsSimulator, status: int) -> None:
    simulator.fail_next(1, status=status)
    job = make_job(make_permit())

    with pytest.raises(TransientDeliveryError, match=f"HTTP {status}"):
        deliver(adapter, job)

    assert deliver(adapter, job).reference == "CUS-000001"


def test_slow_customs_times_out_as_transient(simulator: CustomsSimulator) -> None:
    simulator.delay_seconds = 1.0
    impatient = CustomsAdapter("customs-test", {"url": simulator.feed_url, "timeout_seconds": 0.2})

    with pytest.raises(TransientDeliveryError, match="timed out"):
        deliver(impatient, make_job(make_permit()))

    impatient.close()


def test_retry_after_timeout_is_kept_once(simulator: CustomsSimulator) -> None:
    simulator.delay_seconds = 0.5
    impatient = CustomsAdapter("customs-test", {"url": simulator.feed_url, "timeout_seconds": 0.1})
    job = make_job(make_permit())
    with pytest.raises(TransientDeliveryError):
        deliver(impatient, job)
    simulator.delay_seconds = 0

    deliver(impatient, job)
    deadline = time.monotonic() + 3
    while simulator.replayed < 1 and time.monotonic() < deadline:
        time.sleep(0.02)

    assert simulator.replayed == 1
    assert len(simulator.received()) == 1
    impatient.close()


def test_stopped_customs_is_transient(adapter: CustomsAdapter, simulator: CustomsSimulator) -> None:
    simulator.stop()

    with pytest.raises(TransientDeliveryError, match="failed"):
        deliver(adapter, make_job(make_permit()))


def test_json_rejection_reason_is_read() -> None:
    class JsonCustoms(Simulator):
        def handle(self, request: SimulatedRequest) -> SimulatedResponse:
            return SimulatedResponse.json(422, {"status": "rejected", "reason": "declaration already closed"})

    with JsonCustoms() as server:
        customs = CustomsAdapter("customs-test", {"url": server.url + "/feed"})

        with pytest.raises(PermanentDeliveryError, match="declaration already closed"):
            deliver(customs, make_job(make_permit()))
        customs.close()


def test_json_acceptance_gives_its_reference() -> None:
    class JsonCustoms(Simulator):
        def handle(self, request: SimulatedRequest) -> SimulatedResponse:
            return SimulatedResponse.json(200, {"status": "accepted", "reference": "SW-77"})

    with JsonCustoms() as server:
        customs = CustomsAdapter("customs-test", {"url": server.url + "/feed"})

        receipt = deliver(customs, make_job(make_permit()))
        customs.close()

    assert receipt.reference == "SW-77"


def test_unreadable_acceptance_is_delivered_with_warning() -> None:
    class PlainCustoms(Simulator):
        def handle(self, request: SimulatedRequest) -> SimulatedResponse:
            return SimulatedResponse(200, b"OK", "text/plain")

    with PlainCustoms() as server:
        customs = CustomsAdapter("customs-test", {"url": server.url + "/feed"})

        receipt = deliver(customs, make_job(make_permit()))
        customs.close()

    assert receipt.state == "delivered_with_warnings"
    assert "could not be read" in receipt.warnings[0]


def test_api_key_from_env_is_never_logged(
    simulator: CustomsSimulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(API_KEY_ENV, API_KEY)
    caplog.set_level(logging.DEBUG)
    customs = CustomsAdapter("customs-test", {"url": simulator.feed_url, "api_key_env": API_KEY_ENV})

    deliver(customs, make_job(make_permit()))
    simulator.fail_next(1)
    with pytest.raises(TransientDeliveryError) as failure:
        deliver(customs, make_job(make_permit()))
    customs.close()

    assert simulator.received()[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert caplog.records, "expected DEBUG records from the transport"
    assert API_KEY not in caplog.text
    assert API_KEY not in str(failure.value)
    assert API_KEY not in repr(customs.options)


def test_unset_api_key_variable_is_config_error(simulator: CustomsSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(API_KEY_ENV, raising=False)

    with pytest.raises(ConfigError, match=API_KEY_ENV):
        CustomsAdapter("customs-test", {"url": simulator.feed_url, "api_key_env": API_KEY_ENV})


def test_unknown_option_is_config_error_naming_it() -> None:
    options = {"url": "https://customs.example/permit-feed", "api_key": "inline-secret"}

    with pytest.raises(ConfigError, match="api_key: Extra inputs"):
        CustomsAdapter("customs-test", options)


def test_url_without_http_scheme_is_config_error() -> None:
    options = {"url": "ftp://customs.example/feed"}

    with pytest.raises(ConfigError, match="url"):
        CustomsAdapter("customs-test", options)


def test_received_summary_lists_actions_per_permit(adapter: CustomsAdapter, simulator: CustomsSimulator) -> None:
    deliver(adapter, make_job(make_permit()))
    deliver(adapter, make_job(make_permit(), MessageType.PERMIT_CANCELLED))

    summary = httpx.get(simulator.url + "/permit-feed/received").json()

    assert summary["accepted"] == 2
    assert summary["permits"][0]["number"] == "GH2026000123"
    assert summary["permits"][0]["status"] == "cancelled"
    assert [a["action"] for a in summary["permits"][0]["actions"]] == ["issued", "cancelled"]


def test_capabilities_declare_outbound_permit_feed() -> None:
    capabilities = CustomsAdapter.capabilities()

    assert capabilities["directions"] == [Direction.OUTBOUND.value]
    assert capabilities["message_types"] == ["permit.amended", "permit.cancelled", "permit.issued", "permit.replaced"]
    assert capabilities["formats"] == ["customs-permit-feed:1"]
