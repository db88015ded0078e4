"""The Single Window adapter's own rules: its JSON shape, its token, and the reasons it reports."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters import ConfigError, PermanentDeliveryError
from adapters.conformance import deliver, load_samples, make_job
from cites_hub_adapter_single_window import SingleWindowAdapter, SingleWindowSimulator
from cites_hub_adapter_single_window.simulator import PERMITS_PATH

SAMPLES = {sample.name: sample for sample in load_samples(Path(__file__).resolve().parent / "samples")}
TOKEN_ENV = "SINGLE_WINDOW_TEST_TOKEN"


def job(name: str = "1-permit.issued.xml"):
    sample = SAMPLES[name]
    return make_job(sample.payload, sample.message_type, destination="single-window")


@pytest.fixture
def simulator() -> Iterator[SingleWindowSimulator]:
    with SingleWindowSimulator() as running:
        yield running


@pytest.fixture
def adapter(simulator: SingleWindowSimulator) -> Iterator[SingleWindowAdapter]:
    single_window = SingleWindowAdapter("single-window", {"url": simulator.url + PERMITS_PATH})
    yield single_window
    single_window.close()


def test_feed_carries_every_goods_line(adapter: SingleWindowAdapter):
    document = json.loads(adapter.map_out(job()).body)

    goods = document["permit"]["goods"]
    assert document["event"] == "PERMIT_ISSUED"
    assert document["permit"]["documentType"] == "EXPORT"
    assert [line["line"] for line in goods] == ["A", "B"]
    assert all(isinstance(line["quantity"], str) for line in goods)


def test_registered_permit_gets_its_reference(adapter: SingleWindowAdapter, simulator: SingleWindowSimulator):
    receipt = deliver(adapter, job())

    assert receipt.reference == "SW-000001"
    assert simulator.permits()["26GH004512"]["status"] == "VALID"


def test_cancellation_closes_the_permit(adapter: SingleWindowAdapter, simulator: SingleWindowSimulator):
    deliver(adapter, job("1-permit.issued.xml"))

    deliver(adapter, job("4-permit.cancelled.xml"))

    assert simulator.permits()["26GH004512"]["events"] == ["PERMIT_ISSUED", "PERMIT_CANCELLED"]
    assert simulator.permits()["26GH004512"]["status"] == "CANCELLED"


def test_amendment_of_unknown_permit_is_permanent(adapter: SingleWindowAdapter):
    with pytest.raises(PermanentDeliveryError, match="permit.number: permit 26GH004512 was never registered"):
        deliver(adapter, job("2-permit.amended.xml"))


def test_rejection_reason_names_the_field(adapter: SingleWindowAdapter, simulator: SingleWindowSimulator):
    simulator.reject_reason = "consignment held for inspection"

    with pytest.raises(PermanentDeliveryError, match=r"HTTP 422: \(document\): consignment held"):
        deliver(adapter, job())


def test_token_is_sent_in_its_header(simulator: SingleWindowSimulator, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(TOKEN_ENV, "sw-token-3f9a")
    simulator.token = "sw-token-3f9a"
    adapter = SingleWindowAdapter("single-window", {"url": simulator.url + PERMITS_PATH, "api_key_env": TOKEN_ENV})

    receipt = deliver(adapter, job())

    assert receipt.reference == "SW-000001"
    adapter.close()


def test_wrong_token_is_permanent(adapter: SingleWindowAdapter, simulator: SingleWindowSimulator):
    simulator.token = "sw-token-3f9a"

    with pytest.raises(PermanentDeliveryError, match="HTTP 401: X-SW-Token"):
        deliver(adapter, job())


def test_unset_token_variable_is_config_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)

    with pytest.raises(ConfigError, match=TOKEN_ENV):
        SingleWindowAdapter("single-window", {"url": "http://127.0.0.1:9/", "api_key_env": TOKEN_ENV})


def test_invalid_agency_code_is_config_error():
    with pytest.raises(ConfigError, match="agency_code"):
        SingleWindowAdapter("single-window", {"url": "http://127.0.0.1:9/", "agency_code": "ma of ghana"})
