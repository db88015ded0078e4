"""The HTTP API over a real loopback server: answers, authentication and bad input."""

import httpx
import pytest

from hub.broker import wait_for
from hub.server import ApiServer
from tests.factories import make_item, permit_xml

KEY = {"X-API-Key": "test-key"}


@pytest.fixture
def api(make_hub):
    hub = make_hub()
    with ApiServer(hub) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        client.hub = hub
        yield client


def post(api, payload, message_type="permit.issued", headers=KEY):
    return api.post("/api/v1/messages", params={"message_type": message_type}, content=payload, headers=headers)


def test_accepted_permit_gets_202_with_its_message_id(api):
    response = post(api, permit_xml(number="FR2026000101"))

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "accepted"
    assert body["permit"] == "FR/FR2026000101"
    assert body["deliveries"][0]["destination"] == "customs-stub"


def test_message_can_be_read_back_after_delivery(api):
    message_id = post(api, permit_xml()).json()["message_id"]
    assert wait_for(lambda: api.hub.unsettled() == 0, timeout=10)

    response = api.get(f"/api/v1/messages/{message_id}", headers=KEY)

    assert response.status_code == 200
    assert response.json()["deliveries"][0]["state"] == "delivered"


def test_timeline_endpoint_lists_hops(api):
    post(api, permit_xml(number="FR2026000202"))
    assert wait_for(lambda: api.hub.unsettled() == 0, timeout=10)

    response = api.get("/api/v1/permits/FR/FR2026000202/timeline", headers=KEY)

    assert [e["action"] for e in response.json()][-1] == "delivered"


def test_missing_api_key_is_401(api):
    assert post(api, permit_xml(), headers={}).status_code == 401


def test_wrong_api_key_is_401(api):
    assert post(api, permit_xml(), headers={"X-API-Key": "guess"}).status_code == 401


def test_type_the_partner_may_not_send_is_403(api):
    response = post(api, permit_xml(), message_type="seizure.reported")

    assert response.status_code == 403
    assert "may not send seizure.reported" in response.json()["error"]


def test_missing_message_type_is_400(api):
    response = api.post("/api/v1/messages", content=permit_xml(), headers=KEY)

    assert response.status_code == 400
    assert "message_type" in response.json()["error"]


def test_unknown_message_type_is_400_naming_it(api):
    response = post(api, permit_xml(), message_type="permit.lost")

    assert response.status_code == 400
    assert "permit.lost" in response.json()["error"]


def test_oversized_body_is_413(api):
    response = post(api, b"<a>" + b"x" * (11 * 1024 * 1024) + b"</a>")

    assert response.status_code == 413


@pytest.mark.parametrize("payload, path_fragment", [
    (b"<CITESEPermit><broken", "/"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>', "/"),
    (b"<a>" + b"<b>" * 200 + b"</b>" * 200 + b"</a>", "/"),
    (b'<CITESEPermit xmlns="urn:example:wrong"/>', "/"),
])
def test_bad_documents_are_422_with_findings_and_kept(api, payload, path_fragment):
    response = post(api, payload)

    assert response.status_code == 422
    body = response.json()
    assert body["status"] == "rejected"
    assert body["findings"][0]["severity"] == "error"
    stored = api.get(f"/api/v1/messages/{body['message_id']}", headers=KEY)
    assert stored.json()["status"] == "rejected"


def test_unknown_code_is_422_naming_the_field_and_value(api):
    response = post(api, permit_xml(items=[make_item(source="Q")]))

    assert response.status_code == 422
    finding = response.json()["findings"][0]
    assert finding["value"] == "Q"
    assert "source" in finding["path"].lower() or "TypeExtensionCode" in finding["path"]


def test_hub_stays_up_after_bad_input(api):
    post(api, b"\x00\x01 not xml at all")

    assert post(api, permit_xml()).status_code == 202
    assert api.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_journal_and_broker(api):
    response = api.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"] == {"journal": True, "broker": True}


def test_metrics_expose_ingress_and_delivery_series(api):
    post(api, permit_xml())
    assert wait_for(lambda: api.hub.unsettled() == 0, timeout=10)

    text = api.get("/metrics").text

    assert "cites_hub_messages_received_total" in text
    assert "cites_hub_ingress_seconds_bucket" in text
    assert 'cites_hub_deliveries_total{adapter="stub",outcome="delivered"}' in text
