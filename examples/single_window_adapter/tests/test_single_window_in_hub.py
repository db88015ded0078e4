"""The Single Window as a partner of an embedded hub: permits sent to the hub reach its simulator.

This is the demo with the Single Window added. The configuration is the example's ``hub.yaml``:
a partner with ``adapter: single_window`` and ``url: simulator``, and a route that sends it every
permit event. The test gives it its own data folder, broker namespace and API key.
"""

import time
import uuid
from pathlib import Path

import httpx
import pytest

import yaml

from hub.config import from_dict, hash_api_key
from hub.runtime import Hub
from hub.server import ApiServer

SAMPLES = Path(__file__).resolve().parent / "samples"
HUB_YAML = Path(__file__).resolve().parents[1] / "hub.yaml"
API_KEY = "single-window-demo-key"
SETTLE_SECONDS = 20


def demo_config(data_dir: Path):
    raw = yaml.safe_load(HUB_YAML.read_text())
    raw["data_dir"] = str(data_dir)
    raw["broker"] = {"url": "memory://", "namespace": f"sw{uuid.uuid4().hex[:10]}"}
    raw["partners"]["permit-store"]["api_key_sha256"] = hash_api_key(API_KEY)
    return from_dict(raw, source=str(HUB_YAML))


@pytest.fixture
def hub_url(tmp_path):
    hub = Hub(demo_config(tmp_path / "data"))
    hub.start()
    with ApiServer(hub) as server:
        yield hub, server.url
    hub.stop()


def send(url: str, sample: str, message_type: str) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/messages", params={"message_type": message_type},
                      content=(SAMPLES / sample).read_bytes(),
                      headers={"X-API-Key": API_KEY, "Content-Type": "application/xml"}, timeout=10)


def wait_settled(hub: Hub) -> None:
    deadline = time.monotonic() + SETTLE_SECONDS
    while hub.unsettled() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_permits_sent_to_hub_reach_single_window(hub_url):
    hub, url = hub_url

    responses = [send(url, "1-permit.issued.xml", "permit.issued"),
                 send(url, "3-permit.issued.xml", "permit.issued"),
                 send(url, "4-permit.cancelled.xml", "permit.cancelled")]
    wait_settled(hub)

    assert [response.status_code for response in responses] == [202, 202, 202]
    permits = hub.simulators["single-window"].permits()
    assert sorted(permits) == ["26CH000451", "26GH004512"]
    assert permits["26GH004512"]["events"] == ["PERMIT_ISSUED", "PERMIT_CANCELLED"]
    assert hub.unsettled() == 0
