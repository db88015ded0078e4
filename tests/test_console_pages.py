"""The console's pages, served in-process: what each shows, and that secrets and stored bytes stay untouched."""

from __future__ import annotations

import re
from dataclasses import dataclass

import contextlib
from typing import Iterator

import httpx
import pytest

from adapters.stub import StubAdapter
from hub.broker import wait_for
from hub.config import OperatorConfig, PartnerConfig
from hub.journal import DeliveryState
from hub.server import ApiServer
from monitoring.console import accounts
from monitoring.console.accounts import Role
from tests.factories import make_item, make_permit, permit_xml

PASSWORDS = {"ada": "admin-password-1", "olga": "operator-password-1", "victor": "viewer-password-1"}
ROLES = {"ada": Role.ADMIN, "olga": Role.OPERATOR, "victor": Role.VIEWER}


@dataclass
class Console:
    """A browser-like client of one hub's console: it keeps its cookies between requests."""

    hub: object
    client: httpx.Client

    def get(self, path: str, **kwargs):
        return self.client.get("/console" + path, **kwargs)

    def post(self, path: str, data: dict, **kwargs):
        return self.client.post("/console" + path, data=data, follow_redirects=False, **kwargs)

    def csrf(self, path: str = "/") -> str:
        return csrf_of(self.get(path).text)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@contextlib.contextmanager
def console_server(hub) -> Iterator[str]:
    """Serve the API, which mounts the console at /console, on a loopback port; yield the base URL."""
    with ApiServer(hub) as server:
        yield server.url


@contextlib.contextmanager
def console_for(hub, url: str) -> Iterator[Console]:
    with httpx.Client(base_url=url, timeout=10) as client:
        yield Console(hub, client)


def sign_in(console: Console, name: str) -> None:
    csrf = csrf_of(console.get("/sign-in").text)
    response = console.post("/sign-in", {"csrf_token": csrf, "name": name, "password": PASSWORDS[name]})
    assert response.status_code == 303, response.text


@pytest.fixture
def hub(make_hub):
    hub = make_hub()
    for name, role in ROLES.items():
        accounts.add_operator(hub.journal, name, PASSWORDS[name], role, actor="test")
    return hub


@pytest.fixture
def new_console(hub):
    """A function that returns a new browser-like client, signed in as the given operator."""
    with console_server(hub) as url, contextlib.ExitStack() as clients:
        def open_as(name: str | None = None) -> Console:
            console = clients.enter_context(console_for(hub, url))
            if name:
                sign_in(console, name)
            return console
        yield open_as


def send(hub, number: str = "FR2026000123", **changes) -> str:
    result = hub.ingress.receive(permit_xml(make_permit(number, **changes)), message_type="permit.issued",
                                 sender="permit-store", channel="test")
    assert wait_for(lambda: hub.unsettled() == 0, timeout=10)
    return result.message_id


def park(hub, number: str = "FR2026000999") -> str:
    StubAdapter.fail_next("customs-stub", 1, transient=False)
    message_id = send(hub, number)
    delivery = hub.journal.get_message(message_id).deliveries[0]
    assert delivery.state == DeliveryState.PARKED
    return delivery.delivery_id


def test_page_without_session_redirects_to_sign_in(new_console):
    console = new_console()

    response = console.get("/messages?permit=FR1", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in?next=%2Fconsole%2Fmessages%3Fpermit%3DFR1"


def test_sign_in_returns_to_the_page_asked_for(new_console):
    console = new_console()
    csrf = csrf_of(console.get("/sign-in").text)

    response = console.post("/sign-in", {"csrf_token": csrf, "name": "victor", "password": PASSWORDS["victor"],
                                         "next": "/console/partners"})

    assert response.headers["location"] == "/console/partners"


def test_sign_in_never_redirects_off_the_console(new_console):
    console = new_console()
    csrf = csrf_of(console.get("/sign-in").text)

    response = console.post("/sign-in", {"csrf_token": csrf, "name": "victor", "password": PASSWORDS["victor"],
                                         "next": "//evil.example/console/"})

    assert response.headers["location"] == "/console/"


def test_overview_counts_routed_and_delivered(hub, new_console):
    send(hub)
    park(hub)
    console = new_console("victor")

    page = console.get("/").text

    assert re.search(r'data-label="Received" class="num">2<', page)
    assert re.search(r'data-label="Delivered" class="num">1<', page)
    assert re.search(r'data-label="Parked" class="num bad">1<', page)
    assert "customs-stub" in page


def test_messages_search_by_permit_number(hub, new_console):
    send(hub, "FR2026000123")
    send(hub, "FR2026000456")
    console = new_console("victor")

    page = console.get("/messages", params={"permit": "FR2026000123"}).text

    assert "1 message found" in page
    assert "FR/FR2026000123" in page
    assert "FR/FR2026000456" not in page


def test_messages_search_by_party_and_status(hub, new_console):
    send(hub, "FR2026000123")
    console = new_console("victor")

    found = console.get("/messages", params={"party": "fr", "status": "accepted"}).text
    none = console.get("/messages", params={"party": "CH"}).text

    assert "1 message found" in found
    assert "0 messages found" in none


def test_messages_search_reports_a_bad_field(new_console):
    console = new_console("victor")

    page = console.get("/messages", params={"received_from": "yesterday"}).text

    assert "received from &#39;yesterday&#39; is not valid; expected a date and time" in page


def test_messages_search_by_delivery_state(hub, new_console):
    send(hub, "FR2026000123")
    park(hub, "FR2026000999")
    console = new_console("victor")

    page = console.get("/messages", params={"delivery_state": "parked"}).text

    assert "1 message found" in page
    assert "FR/FR2026000999" in page


def test_message_page_shows_each_hop_with_durations(hub, new_console):
    message_id = send(hub)
    console = new_console("victor")

    page = console.get(f"/messages/{message_id}").text

    for hop in ("received", "validated", "routed", "sending", "delivered"):
        assert f'class="hop hop-{hop}">{hop}<' in page
    assert re.search(r'class="num">\+\d+ ms<', page)


def test_message_page_indents_payload_copy(hub, new_console):
    payload = permit_xml()
    message_id = send(hub)
    console = new_console("victor")

    page = console.get(f"/messages/{message_id}").text
    raw = console.get(f"/messages/{message_id}/payload")

    assert "\n  &lt;rsm:HeaderExchangedDocument&gt;" in page
    assert raw.content == payload
    assert hub.journal.payload_of(message_id) == payload


def test_unknown_message_is_not_found(new_console):
    console = new_console("victor")

    response = console.get("/messages/00000000-0000-0000-0000-000000000000")

    assert response.status_code == 404
    assert "message 00000000-0000-0000-0000-000000000000 is not in the journal" in response.text


def test_permit_page_renders_form_boxes(hub, new_console):
    items = [make_item("A"), make_item("B", scientific_name="Python regius", term="LIV", source="W")]
    send(hub, "FR2026000777", items=items)
    console = new_console("victor")

    page = console.get("/permits/FR/FR2026000777").text

    boxes = re.findall(r'<span class="box-number">([0-9ab]+)</span>', page)
    assert {"1", "2", "3", "3a", "4", "5", "5a", "5b", "6", "13", "14", "15"} <= set(boxes)
    assert boxes.count("7") == 2
    assert "Block B" in page
    assert "Python regius" in page
    assert "Export (E)" in page


def test_permit_page_shows_lifecycle_state_and_timeline(hub, new_console):
    send(hub, "FR2026000777")
    console = new_console("victor")

    page = console.get("/permits/FR/FR2026000777").text

    assert '<span class="badge badge-issued">issued</span>' in page
    assert 'class="hop hop-delivered">delivered<' in page


def test_unknown_permit_is_not_found(new_console):
    console = new_console("victor")

    response = console.get("/permits/FR/NOPE")

    assert response.status_code == 404


def test_parked_page_lists_the_reason(hub, new_console):
    park(hub)
    console = new_console("victor")

    page = console.get("/parked").text

    assert "1 parked" in page
    assert "stub partner &#39;customs-stub&#39; was told to fail" in page


def test_partners_page_hides_credentials(hub, new_console):
    hub.config.partners["customs-stub"].options.update(
        {"url": "https://hub:s3cret@customs.example/feed", "api_key": "plain-key", "api_key_env": "CUSTOMS_KEY"})
    console = new_console("victor")

    page = console.get("/partners").text

    assert "s3cret" not in page
    assert "plain-key" not in page
    assert "https://hub:hidden@customs.example/feed" in page
    assert "CUSTOMS_KEY" in page
    assert "1 key hash configured" in page


def test_partners_page_shows_last_delivery(hub, new_console):
    send(hub)
    console = new_console("victor")

    page = console.get("/partners").text

    section = page.split('id="partner-customs-stub"', 1)[1]
    assert re.search(r"Last delivered to</dt><dd>\d{4}-\d\d-\d\d", section)


def test_configuration_page_hides_secrets(hub, new_console):
    hub.config.partners["extra"] = PartnerConfig(adapter="stub", options={"password": "hunter2-secret"})
    hub.config.operators["api"] = OperatorConfig(api_key_sha256=["ab" * 32])
    console = new_console("ada")

    page = console.get("/configuration").text

    assert "hunter2-secret" not in page
    assert "ab" * 32 not in page
    assert "password: hidden" in page
    assert "1 key hash(es)" in page


def test_stylesheet_is_served_by_the_hub(new_console):
    response = new_console().get("/static/console.css")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert "http" not in response.text


def test_pages_load_nothing_from_elsewhere(hub, new_console):
    console = new_console("ada")

    for path in ("/", "/messages", "/parked", "/partners", "/operators", "/configuration", "/audit", "/account"):
        page = console.get(path)
        assert page.status_code == 200, path
        assert not re.search(r'(src|href)="(https?:)?//', page.text), path
        assert "<script" not in page.text, path


def test_pages_carry_a_content_security_policy(new_console):
    response = new_console("victor").get("/")

    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


def test_partners_page_shows_certificates_with_days_to_expiry(hub, new_console, tmp_path):
    from signing.keys import new_key_pair

    own_key, own_cert = new_key_pair("FR", tmp_path / "fr", days=200)
    _, partner_cert = new_key_pair("CH", tmp_path / "ch", days=20)
    hub.signatures.keystore.add("FR", own_key, own_cert)
    hub.signatures.trust.pin_certificates("permit-store", partner_cert)
    console = new_console("victor")

    page = console.get("/partners").text

    assert "signing for FR" in page
    assert re.search(r'data-label="Days left" class="num ">(199|200)<', page)
    partner = page.split('id="partner-permit-store"', 1)[1]
    assert "C=CH" in partner
    assert re.search(r'data-label="Days left" class="num warn">(19|20)<', partner)
