"""A permit's whole life and a seizure's routing, through the embedded default's partners and simulators.

Issued → fed to Customs with its risk flags → endorsed by Customs (box 14) → verified at the
border; over-use and double use refused; seizures routed to nCEN, TWIX, the permit store, and to
ETIS only when they are of elephant specimens. Runs on the in-process broker and on RabbitMQ.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from hub.broker import wait_for
from hub.config import default_config
from hub.journal import MessageStatus
from hub.lifecycle import PermitState
from hub.permit import Quantity
from hub.runtime import Hub
from hub.usage import UsageLine, UsageReport
from hub.verification import permit_status
from mappings import usage_report
from tests.conftest import REPO_ROOT
from tests.factories import make_item, make_permit, permit_xml

SEIZURES = REPO_ROOT / "examples" / "seizures"


@pytest.fixture(params=["embedded", pytest.param("rabbitmq", marks=pytest.mark.integration)])
def hub(request, tmp_path):
    config = default_config(tmp_path / "data")
    config.broker.namespace = f"life{abs(hash(tmp_path)) % 10**8}"
    if request.param == "rabbitmq":
        config.broker.url = request.getfixturevalue("rabbitmq_url")
        config.journal.url = request.getfixturevalue("postgres_url")
    config.delivery.sweep_interval_seconds = 0.2
    hub = Hub(config)
    hub.start()
    yield hub
    hub.stop()


def issue(hub, **changes):
    permit = make_permit(**changes)
    result = hub.ingress.receive(permit_xml(permit), message_type="permit.issued", sender="permit-store",
                                 channel="test")
    assert result.status == MessageStatus.ACCEPTED, result.findings
    return permit


def report_use(hub, permit, quantities, *, used_at=None, declaration="DEC-1"):
    report = UsageReport(
        permit_number=permit.number, issuing_party=permit.issuing_party, direction="export",
        used_at=used_at or permit.issued_at + timedelta(days=10), declaration=declaration, port="FRCDG",
        office="Roissy-Charles de Gaulle Fret",
        lines=tuple(UsageLine(line, Quantity(value=Decimal(q))) for line, q in quantities.items()))
    return hub.ingress.receive(usage_report.to_xml(report), message_type="permit.endorsed", sender="customs",
                               channel="test")


def settled(hub):
    return wait_for(lambda: hub.unsettled() == 0, timeout=20)


def test_permit_reaches_customs_with_its_risk_flags(hub):
    permit = issue(hub, items=[make_item(appendix="I", source="W", term="LIV")])

    assert settled(hub)
    feed = hub.simulators["customs"].permits()[permit.number].feed
    codes = {flag["code"] for flag in feed["risk_flags"]}
    assert {"APPENDIX_I", "SOURCE_WILD", "LIVE_SPECIMENS"} <= codes


def test_permit_close_to_expiry_is_flagged(hub):
    now = datetime.now(timezone.utc)
    permit = issue(hub, number="FR2026000900", issued_at=now - timedelta(days=170), valid_from=None,
                   valid_until=now + timedelta(days=10))

    assert settled(hub)
    feed = hub.simulators["customs"].permits()[permit.number].feed
    assert "CLOSE_TO_EXPIRY" in {flag["code"] for flag in feed["risk_flags"]}


def test_endorsement_reaches_the_permit_store_and_makes_the_final_certificate(hub):
    permit = issue(hub)

    result = report_use(hub, permit, {"A": "12"})

    assert result.status == MessageStatus.ACCEPTED
    assert settled(hub)
    store = hub.simulators["permit-store"].messages()
    assert [m.headers["x-cites-message-type"] for m in store] == ["permit.endorsed"]
    finals = [m for m in hub.journal.messages_for_permit("FR", permit.number) if m.envelope.sender == "hub"]
    assert b"FRCDG" in finals[0].payload
    assert hub.journal.permit_state("FR", permit.number) == PermitState.ENDORSED


def test_verification_answers_valid_used_cancelled_and_expired(hub):
    valid = issue(hub, number="FR2026000001")
    used = issue(hub, number="FR2026000002")
    cancelled = issue(hub, number="FR2026000003")
    report_use(hub, used, {"A": "5"})
    hub.ingress.receive(permit_xml(cancelled), message_type="permit.cancelled", sender="permit-store",
                        channel="test")

    answers = {p.number: permit_status(hub.journal, "FR", p.number, at=valid.issued_at + timedelta(days=20))
               for p in (valid, used, cancelled)}
    expired = permit_status(hub.journal, "FR", valid.number, at=valid.valid_until + timedelta(days=1))

    assert answers[valid.number]["valid"] is True
    assert answers[valid.number]["items"][0]["remaining"] == "12"
    assert answers[used.number]["valid"] is False
    assert answers[used.number]["items"][0]["remaining"] == "7"
    assert "cancelled" in answers[cancelled.number]["reasons"][0]
    assert "expired" in expired["reasons"][0]


def test_more_than_the_permit_allows_is_refused_and_flagged(hub):
    permit = issue(hub)

    result = report_use(hub, permit, {"A": "13"})

    assert result.status == MessageStatus.REJECTED
    assert result.findings[-1]["path"] == "/UsageReport/Line[1]/Quantity"
    assert "at most 12" in result.findings[-1]["expected"]
    assert "usage_refused" in [e.action for e in hub.journal.timeline("FR", permit.number)]


def test_second_use_of_a_single_use_permit_is_refused(hub):
    permit = issue(hub)
    report_use(hub, permit, {"A": "4"})

    again = report_use(hub, permit, {"A": "4"}, declaration="DEC-2")

    assert again.status == MessageStatus.REJECTED
    assert "already used" in again.findings[-1]["message"]


def test_use_after_expiry_is_refused(hub):
    permit = issue(hub)

    result = report_use(hub, permit, {"A": "1"}, used_at=permit.valid_until + timedelta(days=1))

    assert "expired" in result.findings[-1]["message"]


def test_use_of_a_cancelled_permit_is_refused(hub):
    permit = issue(hub)
    hub.ingress.receive(permit_xml(permit), message_type="permit.cancelled", sender="permit-store", channel="test")

    result = report_use(hub, permit, {"A": "1"})

    assert "is cancelled" in result.findings[-1]["message"]


def test_use_of_an_unknown_permit_is_refused(hub):
    result = report_use(hub, make_permit(number="FR2026999999"), {"A": "1"})

    assert "not in the journal" in result.findings[-1]["message"]


def seize(hub, name):
    result = hub.ingress.receive((SEIZURES / name).read_bytes(), message_type="seizure.reported",
                                 sender="customs", channel="test")
    assert result.status == MessageStatus.ACCEPTED, result.findings
    assert settled(hub)
    return {d["destination"] for d in result.deliveries}


def test_ivory_seizure_goes_to_etis_too(hub):
    destinations = seize(hub, sorted(SEIZURES.glob("*ivory*"))[0].name)

    assert destinations == {"ncen", "twix", "permit-store", "etis"}
    assert len(hub.simulators["etis"].records()) == 1


def test_pangolin_seizure_never_goes_to_etis(hub):
    destinations = seize(hub, sorted(SEIZURES.glob("*pangolin*"))[0].name)

    assert destinations == {"ncen", "twix", "permit-store"}
    assert hub.simulators["etis"].records() == {}


def test_verification_over_http_needs_a_key(hub):
    import httpx

    from hub.config import hash_api_key
    from hub.server import ApiServer

    permit = issue(hub)
    key = "customs-test-key"
    hub.config.partners["customs"].api_key_sha256.append(hash_api_key(key))

    with ApiServer(hub) as server, httpx.Client(base_url=server.url) as client:
        path = f"/api/v1/permits/FR/{permit.number}/status"
        answer = client.get(path, headers={"X-API-Key": key})
        anonymous = client.get(path)
        unknown = client.get("/api/v1/permits/FR/NOPE/status", headers={"X-API-Key": key})

    assert answer.status_code == 200
    assert answer.json()["items"][0] == {"line_id": "A", "allowed": "12", "used": "0", "remaining": "12",
                                         "unit": None}
    assert anonymous.status_code == 401
    assert unknown.status_code == 404
