"""Who may do what in the console: roles, CSRF tokens, sessions, sign-in throttling and the audit log."""

from __future__ import annotations

import pytest

from hub.broker import wait_for
from hub.journal import DeliveryState
from monitoring.console import accounts, audit, sessions
from monitoring.console.audit import Action
from tests.test_console_pages import (  # noqa: F401 - hub and new_console are fixtures
    PASSWORDS, console_for, console_server, csrf_of, hub, new_console, park, send)


def test_viewer_sees_no_replay_form(hub, new_console):
    delivery_id = park(hub)
    console = new_console("victor")

    pages = [console.get("/parked").text,
             console.get(f"/messages/{hub.journal.get_delivery(delivery_id).message_id}").text]

    for page in pages:
        assert f"/parked/{delivery_id}/replay" not in page
        assert 'name="reason"' not in page


def test_viewer_cannot_replay(hub, new_console):
    delivery_id = park(hub)
    console = new_console("victor")

    response = console.post(f"/parked/{delivery_id}/replay", {"csrf_token": console.csrf(), "reason": "try"})

    assert response.status_code == 403
    assert "this needs the operator role; victor has the viewer role" in response.text
    assert hub.journal.get_delivery(delivery_id).state == DeliveryState.PARKED
    assert audit.entries(hub.journal, action=Action.REPLAY) == []


def test_operator_replay_is_delivered_and_audited(hub, new_console):
    delivery_id = park(hub)
    console = new_console("olga")

    response = console.post(f"/parked/{delivery_id}/replay",
                            {"csrf_token": console.csrf(), "reason": "Customs fixed its feed"})

    assert response.status_code == 303
    assert wait_for(lambda: hub.journal.get_delivery(delivery_id).state == DeliveryState.DELIVERED, 10)
    entry = audit.entries(hub.journal, action=Action.REPLAY)[0]
    assert (entry.operator, entry.target, entry.reason) == ("olga", delivery_id, "Customs fixed its feed")
    replayed = [e for e in hub.journal.delivery_events(delivery_id) if e.action == "replayed"]
    assert replayed[0].actor == "olga"


def test_replay_shows_a_notice_after_the_redirect(hub, new_console):
    delivery_id = park(hub)
    console = new_console("olga")
    console.post(f"/parked/{delivery_id}/replay", {"csrf_token": console.csrf(), "reason": "again"})

    first = console.get("/parked").text
    second = console.get("/parked").text

    assert f"delivery {delivery_id}: replay done" in first
    assert "replay done" not in second


def test_replay_needs_a_reason(hub, new_console):
    delivery_id = park(hub)
    console = new_console("olga")

    response = console.post(f"/parked/{delivery_id}/replay", {"csrf_token": console.csrf(), "reason": "  "})

    assert response.status_code == 400
    assert f"a reason is required to replay delivery {delivery_id}" in response.text
    assert hub.journal.get_delivery(delivery_id).state == DeliveryState.PARKED


def test_discard_is_audited_with_its_reason(hub, new_console):
    delivery_id = park(hub)
    console = new_console("olga")

    console.post(f"/parked/{delivery_id}/discard", {"csrf_token": console.csrf(), "reason": "permit withdrawn"})

    assert hub.journal.get_delivery(delivery_id).state == DeliveryState.DISCARDED
    entry = audit.entries(hub.journal, action=Action.DISCARD)[0]
    assert (entry.operator, entry.reason) == ("olga", "permit withdrawn")


def test_replay_of_delivered_changes_nothing(hub, new_console):
    message_id = send(hub)
    delivery_id = hub.journal.get_message(message_id).deliveries[0].delivery_id
    console = new_console("olga")
    console.post(f"/parked/{delivery_id}/replay", {"csrf_token": console.csrf(), "reason": "again"})

    page = console.get("/parked").text

    assert f"delivery {delivery_id} was not changed: delivery {delivery_id} is delivered" in page
    assert audit.entries(hub.journal, action=Action.REPLAY) == []


def test_bulk_replay_reports_progress(hub, new_console):
    parked = [park(hub, f"FR20260009{index}") for index in range(3)]
    console = new_console("olga")

    response = console.post("/parked/replay", {"csrf_token": console.csrf(), "reason": "resend all",
                                               "scope": "selected", "delivery_id": parked[:2]})

    assert response.status_code == 303
    assert wait_for(lambda: all(hub.journal.get_delivery(d).state == DeliveryState.DELIVERED for d in parked[:2]), 10)
    page = console.get(response.headers["location"].removeprefix("/console")).text
    assert "2 of 2 delivered" in page
    assert "Done." in page
    assert hub.journal.get_delivery(parked[2]).state == DeliveryState.PARKED


def test_bulk_replay_of_all_shown(hub, new_console):
    parked = [park(hub, f"FR20260009{index}") for index in range(2)]
    console = new_console("olga")

    console.post("/parked/replay", {"csrf_token": console.csrf(), "reason": "resend", "scope": "shown",
                                    "shown": parked})

    entry = audit.entries(hub.journal, action=Action.BULK_REPLAY)[0]
    assert sorted(entry.detail["delivery_ids"]) == sorted(parked)
    assert entry.reason == "resend"


def test_bulk_replay_without_selection_is_rejected(new_console):
    console = new_console("olga")

    response = console.post("/parked/replay", {"csrf_token": console.csrf(), "reason": "resend", "scope": "selected"})

    assert response.status_code == 400
    assert "no delivery was selected" in response.text


def test_post_without_csrf_token_is_rejected(hub, new_console):
    delivery_id = park(hub)
    console = new_console("olga")

    response = console.post(f"/parked/{delivery_id}/replay", {"reason": "no token"})

    assert response.status_code == 403
    assert "CSRF token is missing or stale" in response.text
    assert hub.journal.get_delivery(delivery_id).state == DeliveryState.PARKED


def test_csrf_token_of_another_session_is_rejected(hub, new_console):
    delivery_id = park(hub)
    other = new_console("olga").csrf()
    console = new_console("olga")

    response = console.post(f"/parked/{delivery_id}/replay", {"csrf_token": other, "reason": "stolen token"})

    assert response.status_code == 403


def test_sign_in_form_needs_its_csrf_token(new_console):
    console = new_console()
    console.get("/sign-in")

    response = console.post("/sign-in", {"name": "victor", "password": PASSWORDS["victor"]})

    assert response.status_code == 403


def test_wrong_password_is_rejected_and_audited(hub, new_console):
    console = new_console()
    csrf = csrf_of(console.get("/sign-in").text)

    response = console.post("/sign-in", {"csrf_token": csrf, "name": "victor", "password": "not the password"})

    assert response.status_code == 401
    assert "name or password is wrong" in response.text
    entry = audit.entries(hub.journal, action=Action.SIGN_IN_FAILED)[0]
    assert entry.target == "victor"


def test_sign_in_and_sign_out_are_audited(hub, new_console):
    console = new_console("victor")

    response = console.post("/sign-out", {"csrf_token": console.csrf()})

    assert response.headers["location"] == "/console/sign-in"
    actions = [e.action for e in reversed(audit.entries(hub.journal, operator="victor"))]
    assert actions == [Action.SIGN_IN, Action.SIGN_OUT]
    assert console.get("/", follow_redirects=False).status_code == 303


def test_too_many_failed_sign_ins_are_throttled(new_console):
    console = new_console()
    csrf = csrf_of(console.get("/sign-in").text)
    for _ in range(10):
        console.post("/sign-in", {"csrf_token": csrf, "name": "victor", "password": "guess guess guess"})

    response = console.post("/sign-in", {"csrf_token": csrf, "name": "victor", "password": PASSWORDS["victor"]})

    assert response.status_code == 429
    assert "too many failed sign-ins" in response.text


def test_tampered_session_cookie_is_ignored(new_console):
    console = new_console("victor")
    value = console.client.cookies.get(sessions.SESSION_COOKIE)
    console.client.cookies.set(sessions.SESSION_COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"),
                               path="/console")

    response = console.get("/", follow_redirects=False)

    assert response.status_code == 303


def test_disabled_operator_loses_the_session_at_once(hub, new_console):
    console = new_console("victor")

    accounts.set_disabled(hub.journal, "victor", True, actor="ada")

    assert console.get("/", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("path", ["/operators", "/configuration", "/audit"])
def test_operator_cannot_open_admin_pages(new_console, path):
    console = new_console("olga")

    response = console.get(path)

    assert response.status_code == 403


def test_admin_adds_and_disables_an_operator(hub, new_console):
    console = new_console("ada")

    added = console.post("/operators", {"csrf_token": console.csrf(), "name": "nina", "role": "viewer",
                                        "password": "nina-password-1", "again": "nina-password-1"})
    disabled = console.post("/operators/nina/disable", {"csrf_token": console.csrf()})

    assert (added.status_code, disabled.status_code) == (303, 303)
    assert accounts.get_operator(hub.journal, "nina").disabled
    actions = [(e.operator, e.action, e.target) for e in reversed(audit.entries(hub.journal, operator="ada"))]
    assert actions[-2:] == [("ada", Action.OPERATOR_ADDED, "nina"), ("ada", Action.OPERATOR_DISABLED, "nina")]


def test_admin_form_reports_a_weak_password(new_console):
    console = new_console("ada")

    response = console.post("/operators", {"csrf_token": console.csrf(), "name": "nina", "role": "viewer",
                                           "password": "short", "again": "short"})

    assert response.status_code == 400
    assert "operator &#39;nina&#39;: password has 5 characters; expected at least 12" in response.text


def test_operator_cannot_add_operators(new_console):
    console = new_console("olga")

    response = console.post("/operators", {"csrf_token": console.csrf(), "name": "nina", "role": "admin",
                                           "password": "nina-password-1", "again": "nina-password-1"})

    assert response.status_code == 403


def test_operator_changes_own_password(hub, new_console):
    console = new_console("olga")

    response = console.post("/account/password", {"csrf_token": console.csrf(), "current": PASSWORDS["olga"],
                                                  "new": "a-new-password-2", "again": "a-new-password-2"})

    assert response.status_code == 303
    assert accounts.authenticate(hub.journal, "olga", "a-new-password-2") is not None
    assert accounts.authenticate(hub.journal, "olga", PASSWORDS["olga"]) is None


def test_first_admin_file_removed_after_password_change(make_hub):
    hub = make_hub()
    path = accounts.ensure_first_admin(hub)
    password = path.read_text().strip()

    with console_server(hub) as url, console_for(hub, url) as console:
        csrf = csrf_of(console.get("/sign-in").text)
        console.post("/sign-in", {"csrf_token": csrf, "name": "admin", "password": password})
        console.post("/account/password", {"csrf_token": console.csrf(), "current": password,
                                           "new": "a-new-password-2", "again": "a-new-password-2"})

    assert not path.exists()
    assert accounts.authenticate(hub.journal, "admin", "a-new-password-2") is not None


def test_production_without_shared_secret_warns(make_hub, monkeypatch, caplog):
    from monitoring.console.auth import Console

    hub = make_hub()
    hub.config.broker.url = "amqp://guest@127.0.0.1:5672/"
    monkeypatch.delenv(sessions.SECRET_ENV, raising=False)

    Console(hub)

    assert f"{sessions.SECRET_ENV} is not set" in caplog.text


def test_session_secret_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(sessions.SECRET_ENV, "a shared secret of enough length")

    secret = sessions.load_secret(tmp_path)

    assert secret == b"a shared secret of enough length"
    assert not (tmp_path / sessions.SECRET_FILE).exists()


def test_bulk_replay_lists_deliveries_not_replayed(hub, new_console):
    parked = park(hub)
    delivered = hub.journal.get_message(send(hub, "FR2026000555")).deliveries[0].delivery_id
    console = new_console("olga")

    response = console.post("/parked/replay", {"csrf_token": console.csrf(), "reason": "resend",
                                               "scope": "selected", "delivery_id": [parked, delivered]})

    assert wait_for(lambda: hub.journal.get_delivery(parked).state == DeliveryState.DELIVERED, 10)
    page = console.get(response.headers["location"].removeprefix("/console")).text
    assert "1 of 2 delivered" in page
    assert "1 not replayed" in page
    assert f"delivery {delivered} is delivered; only a parked delivery can be replayed" in page
