"""The nCEN, TWIX and ETIS adapters against their simulators on 127.0.0.1, and their file export."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.base import DeliveryJob, Direction, Outbound, Receipt
from adapters.conformance import AdapterConformance, Sample
from adapters.enforcement import FileExport, SeizureDatabaseAdapter, SeizureDatabaseSimulator, export_file_name
from adapters.etis import EtisAdapter, EtisSimulator
from adapters.simulation import SimulatedRequest
from adapters.ncen import NcenAdapter, NcenSimulator
from adapters.twix import TwixAdapter, TwixSimulator
from hub.envelope import Envelope, MessageType
from hub.errors import ConfigError, PermanentDeliveryError, TransientDeliveryError
from hub.seizure import Seizure, Sharing
from mappings import seizure_report, twix
from tests.test_seizure_model import COMPANY_NAME, PERSON_NAME, make_nominal, make_pangolin_seizure, make_seizure

ADAPTERS: dict[str, tuple[type[SeizureDatabaseAdapter], type[SeizureDatabaseSimulator]]] = {
    "ncen": (NcenAdapter, NcenSimulator),
    "twix": (TwixAdapter, TwixSimulator),
    "etis": (EtisAdapter, EtisSimulator),
}
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "seizures"
NOMINAL_DETAILS = (PERSON_NAME, COMPANY_NAME, "P1234567", "KE-REG-99")


def make_job(seizure: Seizure, *, key: str | None = None, message_type: MessageType = MessageType.SEIZURE_REPORTED) -> DeliveryJob:
    payload = seizure_report.to_xml(seizure)
    envelope = Envelope.for_payload(payload, message_type=message_type, sender="customs-fr")
    return DeliveryJob(
        delivery_id=f"delivery-{envelope.message_id}",
        destination="enforcement-test",
        envelope=envelope,
        payload=payload,
        idempotency_key=key or envelope.message_id,
    )


def deliver(adapter: SeizureDatabaseAdapter, job: DeliveryJob) -> Receipt:
    return adapter.send(adapter.map_out(job), job)


def nominal_seizure() -> Seizure:
    return make_seizure(nominal=make_nominal(), sharing=Sharing.NOMINAL)


@pytest.fixture(params=sorted(ADAPTERS))
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[SeizureDatabaseAdapter, SeizureDatabaseSimulator]]:
    adapter_class, simulator_class = ADAPTERS[request.param]
    with simulator_class() as simulator:
        adapter = adapter_class(f"{request.param}-test", {"url": simulator.records_url, "timeout_seconds": 2})
        yield adapter, simulator
        adapter.close()


# Capabilities and options.


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_adapter_declares_outbound_seizures_unsigned(name: str) -> None:
    adapter_class, _ = ADAPTERS[name]

    capabilities = adapter_class.capabilities()

    assert capabilities["name"] == name
    assert adapter_class.directions == frozenset({Direction.OUTBOUND})
    assert capabilities["message_types"] == ["seizure.reported"]
    assert capabilities["signs"] is False
    assert capabilities["formats"]


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_options_need_url_or_export_dir(name: str) -> None:
    adapter_class, _ = ADAPTERS[name]

    with pytest.raises(ConfigError, match="exactly one of url"):
        adapter_class("partner", {})


def test_options_reject_both_transports(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="exactly one of url"):
        NcenAdapter("ncen-fr", {"url": "http://127.0.0.1:9/ncen/seizures", "export_dir": str(tmp_path)})


def test_options_reject_a_missing_export_dir(tmp_path: Path) -> None:
    missing = tmp_path / "not-there"

    with pytest.raises(ConfigError, match="export_dir"):
        EtisAdapter("etis", {"export_dir": str(missing)})


def test_options_reject_a_url_that_is_not_http() -> None:
    with pytest.raises(ConfigError, match="url"):
        TwixAdapter("eu-twix", {"url": "ftp://twix.example/upload"})


def test_options_reject_an_unknown_scope() -> None:
    with pytest.raises(ConfigError, match="scope"):
        NcenAdapter("ncen-fr", {"url": "http://127.0.0.1:9/ncen/seizures", "scope": "worldwide"})


# HTTP delivery.


def test_adapter_delivers_to_its_simulator(pair: tuple[SeizureDatabaseAdapter, SeizureDatabaseSimulator]) -> None:
    adapter, simulator = pair
    job = make_job(make_seizure())

    receipt = deliver(adapter, job)

    assert receipt.state == "delivered"
    assert receipt.reference is not None and receipt.reference.endswith("-000001")
    assert list(simulator.records()) == ["FR-DGDDI-2026-0042"]


def test_adapter_sends_its_headers(pair: tuple[SeizureDatabaseAdapter, SeizureDatabaseSimulator]) -> None:
    adapter, simulator = pair
    job = make_job(make_seizure(), key="key-42")

    deliver(adapter, job)

    headers = simulator.received()[0].headers
    assert headers["idempotency-key"] == "key-42"
    assert headers["x-correlation-id"] == job.envelope.correlation_id
    assert headers["x-seizure-id"] == "FR-DGDDI-2026-0042"
    assert headers["content-type"] == adapter.content_type


def test_repeated_idempotency_key_is_kept_once(pair: tuple[SeizureDatabaseAdapter, SeizureDatabaseSimulator]) -> None:
    adapter, simulator = pair
    job = make_job(make_seizure())

    first = deliver(adapter, job)
    second = deliver(adapter, job)

    assert second.reference == first.reference
    assert simulator.accepted == 1
    assert simulator.replayed == 1
    assert len(simulator.received()) == 1


def test_new_idempotency_key_is_a_new_delivery(pair: tuple[SeizureDatabaseAdapter, SeizureDatabaseSimulator]) -> None:
    adapter, simulator = pair

    deliver(adapter, make_job(make_seizure(), key="first"))
    deliver(adapter, make_job(make_seizure(), key="second"))

    assert simulator.accepted == 2
    assert simulator.replayed == 0


def test_unavailable_database_is_transient(pair: tuple[SeizureDatabaseAdapter, SeizureDatabaseSimulator]) -> None:
    adapter, simulator = pair
    simulator.fail_next(1, status=503)

    with pytest.raises(TransientDeliveryError, match="HTTP 503"):
        deliver(adapter, make_job(make_seizure()))


def test_rejected_record_is_permanent(pair: tuple[SeizureDatabaseAdapter, SeizureDatabaseSimulator]) -> None:
    adapter, simulator = pair
    simulator.reject_reason = "duplicate of an earlier record"

    with pytest.raises(PermanentDeliveryError, match="duplicate of an earlier record"):
        deliver(adapter, make_job(make_seizure()))


def test_payload_that_is_no_seizure_report_is_permanent(pair: tuple[SeizureDatabaseAdapter, SeizureDatabaseSimulator]) -> None:
    adapter, _ = pair
    job = make_job(make_seizure())
    job = DeliveryJob(job.delivery_id, job.destination, job.envelope, b"<Other xmlns='urn:x'/>", job.idempotency_key)

    with pytest.raises(PermanentDeliveryError, match="not a valid seizure report"):
        adapter.map_out(job)


def test_other_message_types_are_refused(pair: tuple[SeizureDatabaseAdapter, SeizureDatabaseSimulator]) -> None:
    adapter, _ = pair

    with pytest.raises(PermanentDeliveryError, match="takes seizure.reported"):
        adapter.map_out(make_job(make_seizure(), message_type=MessageType.PERMIT_ISSUED))


# ETIS guard.


def test_etis_adapter_refuses_a_pangolin_seizure() -> None:
    with EtisSimulator() as simulator:
        adapter = EtisAdapter("etis", {"url": simulator.records_url})

        with pytest.raises(PermanentDeliveryError, match="no elephant specimens"):
            deliver(adapter, make_job(make_pangolin_seizure()))

        assert simulator.received() == []
        adapter.close()


def test_etis_simulator_rejects_non_elephant_products() -> None:
    record = {"source_reference": "X-1", "seizure_year": 2026, "discovered_country": "BE",
              "other_products": [{"scientific_name": "Manis javanica", "term": "SCA"}]}

    with EtisSimulator() as simulator:
        response = simulator.respond(_request(json.dumps(record).encode(), simulator.records_path))

    assert response.status == 422
    assert b"Manis javanica" in response.body


# Nominal data.


def test_national_ncen_receives_shared_nominal_data() -> None:
    with NcenSimulator() as simulator:
        adapter = NcenAdapter("ncen-fr", {"url": simulator.records_url})

        deliver(adapter, make_job(nominal_seizure()))

        record = simulator.records()["FR-DGDDI-2026-0042"]
        assert record["persons"][0]["name"] == PERSON_NAME
        adapter.close()


def test_global_cen_never_receives_nominal_data() -> None:
    with NcenSimulator(accept_nominal=False) as simulator:
        adapter = NcenAdapter("cen", {"url": simulator.records_url, "scope": "cen"})

        receipt = deliver(adapter, make_job(nominal_seizure()))

        assert receipt.state == "delivered"
        assert PERSON_NAME.encode() not in simulator.received()[0].body
        adapter.close()


def test_twix_is_non_nominal_by_default() -> None:
    with TwixSimulator() as simulator:
        adapter = TwixAdapter("eu-twix", {"url": simulator.records_url})

        deliver(adapter, make_job(nominal_seizure()))

        body = simulator.received()[0].body
        assert PERSON_NAME.encode() not in body
        assert COMPANY_NAME.encode() not in body
        adapter.close()


def test_twix_configured_nominal_receives_names() -> None:
    with TwixSimulator(accept_nominal=True) as simulator:
        adapter = TwixAdapter("eu-twix", {"url": simulator.records_url, "nominal": True})

        deliver(adapter, make_job(nominal_seizure()))

        rows = simulator.records()["FR-DGDDI-2026-0042"]
        assert PERSON_NAME in rows[0]["persons"]
        adapter.close()


def test_no_nominal_data_reaches_the_logs(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    job = make_job(nominal_seizure())

    with NcenSimulator() as ncen_simulator, TwixSimulator(accept_nominal=True) as twix_simulator:
        adapters = [
            NcenAdapter("ncen-fr", {"url": ncen_simulator.records_url}),
            TwixAdapter("eu-twix", {"url": twix_simulator.records_url, "nominal": True}),
            EtisAdapter("etis", {"export_dir": str(tmp_path)}),
        ]
        for adapter in adapters:
            deliver(adapter, job)
            adapter.close()
        logging.getLogger("tests").debug("seizure read: %r", seizure_report.from_bytes(job.payload))

    assert caplog.records
    for detail in NOMINAL_DETAILS:
        assert detail not in caplog.text


# File export.


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_file_export_writes_one_file_per_seizure(name: str, tmp_path: Path) -> None:
    adapter_class, _ = ADAPTERS[name]
    adapter = adapter_class(f"{name}-files", {"export_dir": str(tmp_path)})

    first = deliver(adapter, make_job(make_seizure("FR-2026-0001")))
    deliver(adapter, make_job(make_seizure("FR-2026-0002")))

    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == [f"FR-2026-0001{adapter.file_suffix}", f"FR-2026-0002{adapter.file_suffix}"]
    assert first.reference == f"FR-2026-0001{adapter.file_suffix}"


def test_file_export_content_is_the_mapped_record(tmp_path: Path) -> None:
    adapter = EtisAdapter("etis", {"export_dir": str(tmp_path)})

    deliver(adapter, make_job(make_seizure()))

    record = json.loads((tmp_path / "FR-DGDDI-2026-0042.json").read_bytes())
    assert record["raw_weight"] == 23.5


def test_file_export_writes_a_temporary_file_then_renames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    renames: list[tuple[Path, Path, bool]] = []
    original_replace = os.replace

    def recording_replace(source: str, target: str) -> None:
        renames.append((Path(source), Path(target), Path(target).exists()))
        original_replace(source, target)

    monkeypatch.setattr(os, "replace", recording_replace)
    adapter = TwixAdapter("eu-twix", {"export_dir": str(tmp_path)})

    deliver(adapter, make_job(make_seizure()))

    [(source, target, target_existed)] = renames
    assert source.parent == target.parent == tmp_path
    assert source.name.startswith(".FR-DGDDI-2026-0042.csv.")
    assert target.name == "FR-DGDDI-2026-0042.csv"
    assert not target_existed
    assert sorted(path.name for path in tmp_path.iterdir()) == ["FR-DGDDI-2026-0042.csv"]


def test_file_export_replaces_an_earlier_report(tmp_path: Path) -> None:
    adapter = NcenAdapter("ncen-fr", {"export_dir": str(tmp_path)})

    deliver(adapter, make_job(make_seizure(concealment="first report")))
    deliver(adapter, make_job(make_seizure(concealment="corrected report")))

    [exported] = list(tmp_path.iterdir())
    assert json.loads(exported.read_bytes())["concealment"] == "corrected report"


def test_failed_write_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_replace(source: str, target: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    export = FileExport(tmp_path, system="etis partner 'etis'")

    with pytest.raises(TransientDeliveryError, match="No space left"):
        export.write("FR-1.json", b"{}")

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("seizure_id", "file_name"),
    [("FR-2026-0042", "FR-2026-0042.json"), ("FR/DGDDI 42", "FR%2FDGDDI%2042.json"), ("../up", "%2E.%2Fup.json")],
)
def test_export_file_name_encodes_unsafe_characters(seizure_id: str, file_name: str) -> None:
    assert export_file_name(seizure_id, ".json") == file_name


def test_slash_in_id_stays_in_folder(tmp_path: Path) -> None:
    adapter = EtisAdapter("etis", {"export_dir": str(tmp_path)})

    deliver(adapter, make_job(make_seizure("FR/DGDDI/2026/42")))

    assert [path.name for path in tmp_path.iterdir()] == ["FR%2FDGDDI%2F2026%2F42.json"]


def _request(body: bytes, path: str) -> SimulatedRequest:
    return SimulatedRequest("POST", path, {"content-type": "application/json"}, body)


# The conformance suite that every adapter runs.

SEIZURE_SAMPLES = [
    Sample(MessageType.SEIZURE_REPORTED, (EXAMPLES / "ivory_tusks_air_cargo.xml").read_bytes(), "ivory"),
    Sample(MessageType.SEIZURE_REPORTED, seizure_report.to_xml(make_seizure()), "tusks"),
]


class JsonRecordConformance(AdapterConformance):
    samples = SEIZURE_SAMPLES

    def validate_output(self, outbound: Outbound) -> None:
        record = json.loads(outbound.body)
        assert isinstance(record, dict)
        assert outbound.content_type == "application/json"


class TestNcenConformance(JsonRecordConformance):
    adapter_class = NcenAdapter


class TestEtisConformance(JsonRecordConformance):
    adapter_class = EtisAdapter


class TestTwixConformance(AdapterConformance):
    adapter_class = TwixAdapter
    samples = SEIZURE_SAMPLES

    def validate_output(self, outbound: Outbound) -> None:
        lines = outbound.body.decode("utf-8").splitlines()
        assert tuple(lines[0].split(",")) == twix.columns(include_nominal=False)
        assert len(lines) > 1
