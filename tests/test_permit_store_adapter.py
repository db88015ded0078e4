"""The permit store adapter against the permit store simulator, both real, on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from adapters.base import DeliveryJob, Direction, Outbound, Receipt
from adapters.permit_store import PermitStoreAdapter, PermitStoreSimulator
from hub.envelope import Envelope, MessageType
from hub.errors import ConfigError, PermanentDeliveryError, TransientDeliveryError

# NOTE: mappings/citesepermit.py did not exist when these tests were written. The adapter sends
# the payload unchanged, so these bytes stand in for a canonical document.
PAYLOAD = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<CITESEPermit xmlns="urn:un:unece:uncefact:data:standard:CITESEPermit:2">'
    b"<!-- placeholder for a canonical permit from another Party --></CITESEPermit>\n"
)


def make_job(
    message_type: MessageType = MessageType.PERMIT_ISSUED,
    *,
    payload: bytes = PAYLOAD,
    key: str | None = None,
) -> DeliveryJob:
    envelope = Envelope.for_payload(payload, message_type=message_type, sender="epix-fr", permit="FR/FR2026000777")
    return DeliveryJob(
        delivery_id=f"delivery-{envelope.message_id}",
        destination="permit-store-test",
        envelope=envelope,
        payload=payload,
        idempotency_key=key or envelope.message_id,
    )


def deliver(adapter: PermitStoreAdapter, job: DeliveryJob) -> Receipt:
    return adapter.send(adapter.map_out(job), job)


@pytest.fixture
def simulator() -> Iterator[PermitStoreSimulator]:
    with PermitStoreSimulator() as running:
        yield running


@pytest.fixture
def adapter(simulator: PermitStoreSimulator) -> Iterator[PermitStoreAdapter]:
    store = PermitStoreAdapter("permit-store-test", {"url": simulator.messages_url, "timeout_seconds": 2})
    yield store
    store.close()


def test_payload_is_posted_unchanged(adapter: PermitStoreAdapter, simulator: PermitStoreSimulator) -> None:
    job = make_job()

    deliver(adapter, job)

    message = simulator.messages()[0]
    assert message.body == PAYLOAD
    assert message.headers["content-type"] == "application/xml"


def test_envelope_travels_as_cites_headers(adapter: PermitStoreAdapter, simulator: PermitStoreSimulator) -> None:
    job = make_job(MessageType.SEIZURE_REPORTED)

    deliver(adapter, job)

    headers = simulator.messages()[0].headers
    assert headers["x-cites-message-id"] == job.envelope.message_id
    assert headers["x-cites-message-type"] == "seizure.reported"
    assert headers["x-cites-permit"] == "FR/FR2026000777"
    assert headers["x-cites-payload-sha256"] == job.envelope.payload_sha256
    assert headers["x-correlation-id"] == job.envelope.correlation_id
    assert headers["idempotency-key"] == job.idempotency_key


def test_receipt_carries_store_reference(adapter: PermitStoreAdapter) -> None:
    job = make_job(MessageType.PERMIT_ENDORSED)

    receipt = deliver(adapter, job)

    assert receipt.state == "delivered"
    assert receipt.reference == "PS-000001"


def test_repeated_idempotency_key_is_kept_once(adapter: PermitStoreAdapter, simulator: PermitStoreSimulator) -> None:
    job = make_job()

    first = deliver(adapter, job)
    second = deliver(adapter, job)

    assert second.reference == first.reference
    assert len(simulator.messages()) == 1
    assert len(simulator.received()) == 1
    assert simulator.replayed == 1


def test_reused_key_with_other_body_is_permanent(adapter: PermitStoreAdapter) -> None:
    deliver(adapter, make_job(key="key-7"))
    other = make_job(payload=PAYLOAD.replace(b"placeholder", b"different"), key="key-7")

    with pytest.raises(PermanentDeliveryError, match="HTTP 422.*Idempotency-Key 'key-7'"):
        deliver(adapter, other)


def test_message_without_envelope_headers_is_permanent(adapter: PermitStoreAdapter) -> None:
    outbound = Outbound(body=PAYLOAD)

    with pytest.raises(PermanentDeliveryError, match="HTTP 400.*x-cites-message-id"):
        adapter.send(outbound, make_job())


def test_unavailable_store_is_transient(adapter: PermitStoreAdapter, simulator: PermitStoreSimulator) -> None:
    simulator.fail_next(1)
    job = make_job()

    with pytest.raises(TransientDeliveryError, match="HTTP 503"):
        deliver(adapter, job)

    assert deliver(adapter, job).reference == "PS-000001"


def test_slow_store_times_out_as_transient(simulator: PermitStoreSimulator) -> None:
    simulator.delay_seconds = 1.0
    impatient = PermitStoreAdapter("permit-store-test", {"url": simulator.messages_url, "timeout_seconds": 0.2})

    with pytest.raises(TransientDeliveryError, match="timed out after 0.2 s"):
        deliver(impatient, make_job())

    impatient.close()


def test_stopped_store_is_transient(adapter: PermitStoreAdapter, simulator: PermitStoreSimulator) -> None:
    simulator.stop()

    with pytest.raises(TransientDeliveryError, match="failed"):
        deliver(adapter, make_job())


def test_messages_summary_lists_ids_and_types(adapter: PermitStoreAdapter, simulator: PermitStoreSimulator) -> None:
    job = make_job(MessageType.PERMIT_QUANTITIES_CONFIRMED)
    deliver(adapter, job)

    summary = httpx.get(simulator.messages_url).json()

    assert summary == [
        {
            "message_id": job.envelope.message_id,
            "correlation_id": job.envelope.correlation_id,
            "message_type": "permit.quantities_confirmed",
            "permit": "FR/FR2026000777",
            "bytes": len(PAYLOAD),
        }
    ]


def test_unknown_path_is_permanent(simulator: PermitStoreSimulator) -> None:
    store = PermitStoreAdapter("permit-store-test", {"url": simulator.url + "/inbox"})

    with pytest.raises(PermanentDeliveryError, match="HTTP 404"):
        deliver(store, make_job())
    store.close()


def test_simulator_can_restart_after_stop(simulator: PermitStoreSimulator) -> None:
    simulator.stop()
    simulator.stop()

    url = simulator.start()

    assert httpx.get(url + "/messages").json() == []


def test_capabilities_declare_both_directions() -> None:
    capabilities = PermitStoreAdapter.capabilities()

    assert capabilities["directions"] == [Direction.INBOUND.value, Direction.OUTBOUND.value]
    assert capabilities["message_types"] == [
        "ack",
        "permit.endorsed",
        "permit.issued",
        "permit.quantities_confirmed",
        "seizure.reported",
    ]


def test_store_accepts_only_messages_sent_back(adapter: PermitStoreAdapter) -> None:
    accepted = adapter.accepts(MessageType.PERMIT_ENDORSED)

    rejected = adapter.accepts(MessageType.PERMIT_CANCELLED)

    assert accepted
    assert not rejected


def test_unknown_option_is_config_error_naming_it() -> None:
    options = {"url": "https://ecites.example/messages", "retries": 3}

    with pytest.raises(ConfigError, match="retries: Extra inputs"):
        PermitStoreAdapter("permit-store-test", options)


def test_timeout_must_be_positive() -> None:
    options = {"url": "https://ecites.example/messages", "timeout_seconds": 0}

    with pytest.raises(ConfigError, match="timeout_seconds"):
        PermitStoreAdapter("permit-store-test", options)
