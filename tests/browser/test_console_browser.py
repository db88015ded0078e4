"""The console in headless Chromium, on a journal the demo seeded from the CITES shipment CSV.

Each test saves screenshots under test-output/screenshots/ for a person to look at.
"""

from __future__ import annotations

import pytest

from hub.broker import wait_for
from hub.journal import DeliveryState
from monitoring.console import audit
from monitoring.console.audit import Action

from tests.browser.conftest import screenshot, sign_in

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
HOPS = ["received", "validated", "routed", "sending", "delivered"]


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    yield page
    context.close()


def test_search_finds_permit_by_number(page, seeded):
    party, number = seeded.delivered_permit
    sign_in(page, seeded, "victor")

    page.goto(seeded.url + "/messages")
    page.fill("input[name=permit]", number)
    page.click("button:has-text('Search')")

    rows = page.locator("table.cards tbody tr")
    assert rows.count() >= 1
    assert f"{party}/{number}" in rows.first.inner_text()
    screenshot(page, "messages-search")


def test_permit_timeline_shows_every_hop(page, seeded):
    party, number = seeded.delivered_permit
    sign_in(page, seeded, "victor")

    page.goto(seeded.url + f"/messages?permit={number}")
    page.click(f"a:has-text('{party}/{number}')")

    timeline = page.locator("table.timeline").inner_text()
    for hop in HOPS:
        assert hop in timeline
    assert "Scientific name" in page.locator(".boxes").nth(1).text_content()
    screenshot(page, "permit")


def test_message_page_shows_hops_and_payload(page, seeded):
    party, number = seeded.delivered_permit
    sign_in(page, seeded, "victor")
    page.goto(seeded.url + f"/messages?permit={party}/{number}")

    page.click("table.cards tbody tr >> nth=0 >> a >> nth=0")

    timeline = page.locator("table.timeline").first.inner_text()
    for hop in HOPS:
        assert hop in timeline
    assert "CITESEPermit" in page.locator("pre.payload").inner_text()
    screenshot(page, "message")


def test_replay_from_console_delivers_and_audits(page, seeded):
    delivery_id = seeded.parked[0]
    sign_in(page, seeded, "olga")
    page.goto(seeded.url + "/parked")

    page.fill("input[name=reason]", "Customs restored its feed")
    screenshot(page, "parked")
    page.click(f"button[formaction$='/parked/{delivery_id}/replay']")

    assert "replay done" in page.locator(".notice").inner_text()
    journal = seeded.hub.journal
    assert wait_for(lambda: journal.get_delivery(delivery_id).state == DeliveryState.DELIVERED, timeout=15)
    entries = audit.entries(journal, action=Action.REPLAY)
    assert [(e.operator, e.target, e.reason) for e in entries] == [("olga", delivery_id, "Customs restored its feed")]


def test_bulk_replay_shows_how_many_are_done(page, seeded):
    selected = seeded.parked[1:3]
    sign_in(page, seeded, "olga")
    page.goto(seeded.url + "/parked")

    for delivery_id in selected:
        page.check(f"input[name=delivery_id][value='{delivery_id}']")
    page.fill("input[name=reason]", "partner asked for a resend")
    page.click("button:has-text('Replay selected')")

    page.wait_for_selector("text=2 of 2 delivered", timeout=15000)
    assert "Done." in page.locator(".progress-line").inner_text()
    screenshot(page, "bulk-replay")


def test_viewer_sees_no_replay_form_and_is_rejected(page, seeded):
    delivery_id = seeded.parked[-1]
    sign_in(page, seeded, "victor")
    page.goto(seeded.url + "/parked")
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")

    response = page.request.post(seeded.url + f"/parked/{delivery_id}/replay",
                                 form={"csrf_token": csrf, "reason": "try anyway"})

    assert page.locator("button:has-text('Replay')").count() == 0
    assert response.status == 403
    assert seeded.hub.journal.get_delivery(delivery_id).state == DeliveryState.PARKED
    screenshot(page, "parked-viewer")


@pytest.mark.parametrize("path", ["/", "/messages", "/parked", "/partners", "/operators", "/configuration",
                                  "/audit", "/account"])
def test_admin_pages_render_on_a_desktop(page, seeded, path):
    sign_in(page, seeded, "admin")

    response = page.goto(seeded.url + path)

    assert response.status == 200
    assert page.locator("h1").count() == 1
    screenshot(page, "desktop-" + (path.strip("/") or "overview"))


def phone_pages(seeded):
    party, number = seeded.delivered_permit
    message_id = seeded.hub.journal.get_delivery(seeded.parked[-1]).message_id
    return {"overview": "/", "messages": f"/messages?permit={number}", "message": f"/messages/{message_id}",
            "permit": f"/permits/{party}/{number}", "parked": "/parked", "partners": "/partners",
            "operators": "/operators", "configuration": "/configuration", "audit": "/audit", "account": "/account"}


def test_pages_fit_a_phone_without_horizontal_scroll(phone, seeded):
    phone.goto(seeded.url + "/sign-in")
    screenshot(phone, "phone-sign-in")
    sign_in(phone, seeded, "admin")

    too_wide = {}
    for name, path in phone_pages(seeded).items():
        phone.goto(seeded.url + path)
        width = phone.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            too_wide[name] = width
        screenshot(phone, f"phone-{name}")

    assert too_wide == {}
