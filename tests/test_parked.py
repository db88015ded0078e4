"""Parked deliveries: listed, shown, replayed with the same idempotency key, or discarded, by whom and why."""

import httpx
import pytest

from adapters.stub import StubAdapter
from hub.broker import wait_for
from hub.cli import main
from hub.config import OperatorConfig, hash_api_key
from hub.errors import InvalidMessage
from hub.journal import DeliveryState
from hub.server import ApiServer
from tests.factories import permit_xml


def parked_delivery(hub):
    StubAdapter.fail_next("customs-stub", 1, transient=False)
    result = hub.ingress.receive(permit_xml(), message_type="permit.issued", sender="permit-store", channel="test")
    assert wait_for(lambda: hub.unsettled() == 0, timeout=10)
    delivery = hub.journal.get_message(result.message_id).deliveries[0]
    assert delivery.state == DeliveryState.PARKED
    return delivery


def test_replay_delivers_with_the_same_idempotency_key(make_hub):
    hub = make_hub()
    parked = parked_delivery(hub)

    hub.replay(parked.delivery_id, actor="ana", reason="Customs fixed its feed")

    assert wait_for(lambda: hub.journal.get_delivery(parked.delivery_id).state == DeliveryState.DELIVERED, 10)
    assert StubAdapter.received("customs-stub")[0].idempotency_key == parked.idempotency_key


def test_replay_is_recorded_with_who_and_why(make_hub):
    hub = make_hub()
    parked = parked_delivery(hub)

    hub.replay(parked.delivery_id, actor="ana", reason="Customs fixed its feed")

    replayed = [e for e in hub.journal.delivery_events(parked.delivery_id) if e.action == "replayed"]
    assert replayed[0].actor == "ana"
    assert replayed[0].detail["reason"] == "Customs fixed its feed"


def test_discard_settles_the_delivery_for_good(make_hub):
    hub = make_hub()
    parked = parked_delivery(hub)

    hub.discard(parked.delivery_id, actor="ana", reason="permit withdrawn by phone")

    assert hub.journal.get_delivery(parked.delivery_id).state == DeliveryState.DISCARDED
    assert hub.unsettled() == 0


def test_replay_needs_a_reason(make_hub):
    hub = make_hub()
    parked = parked_delivery(hub)

    with pytest.raises(InvalidMessage, match="a reason is required"):
        hub.replay(parked.delivery_id, actor="ana", reason="  ")


def test_only_a_parked_delivery_can_be_replayed(make_hub):
    hub = make_hub()
    result = hub.ingress.receive(permit_xml(), message_type="permit.issued", sender="permit-store", channel="test")
    assert wait_for(lambda: hub.unsettled() == 0, timeout=10)
    delivery = hub.journal.get_message(result.message_id).deliveries[0]

    with pytest.raises(InvalidMessage, match="is delivered; only a parked delivery"):
        hub.replay(delivery.delivery_id, actor="ana", reason="again")


def test_api_lists_and_replays_parked_deliveries(make_hub):
    hub = make_hub()
    hub.config.operators["ana"] = OperatorConfig(api_key_sha256=[hash_api_key("operator-key")])
    parked = parked_delivery(hub)
    headers = {"X-API-Key": "operator-key"}

    with ApiServer(hub) as server, httpx.Client(base_url=server.url, headers=headers) as client:
        listed = client.get("/api/v1/deliveries", params={"state": "parked"}).json()
        no_reason = client.post(f"/api/v1/deliveries/{parked.delivery_id}/replay", json={})
        replayed = client.post(f"/api/v1/deliveries/{parked.delivery_id}/replay", json={"reason": "fixed"})
        partner = client.get("/api/v1/deliveries", headers={"X-API-Key": "test-key"})

    assert [d["delivery_id"] for d in listed] == [parked.delivery_id]
    assert no_reason.status_code == 400
    assert replayed.status_code == 200
    assert partner.status_code == 401
    assert wait_for(lambda: hub.journal.get_delivery(parked.delivery_id).state == DeliveryState.DELIVERED, 10)
    events = hub.journal.delivery_events(parked.delivery_id)
    assert any(e.action == "replayed" and e.actor == "ana" for e in events)


def test_cli_lists_shows_and_discards(make_hub, capsys):
    hub = make_hub()
    parked = parked_delivery(hub)
    data = ["--config", str(write_config(hub))]

    assert main(["parked", "list", *data]) == 0
    assert parked.delivery_id in capsys.readouterr().out
    assert main(["parked", "show", parked.delivery_id, *data]) == 0
    assert "told to fail" in capsys.readouterr().out
    assert main(["parked", "discard", parked.delivery_id, "--reason", "duplicate", "--by", "ana", *data]) == 0

    assert hub.journal.get_delivery(parked.delivery_id).state == DeliveryState.DISCARDED


def write_config(hub):
    import yaml

    path = hub.config.data_dir.parent / "hub.yaml"
    path.write_text(yaml.safe_dump(hub.config.model_dump(mode="json")), encoding="utf-8")
    return path
