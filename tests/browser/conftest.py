"""Browser fixtures: headless Chromium driven by Playwright, and a hub seeded from the shipment CSV.

The browser is the system's Chromium (Debian package ``chromium``); Playwright's own browser
download is never used. Without Chromium or Playwright the tests skip with the reason, and fail
when CI is set.
"""

from __future__ import annotations

import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from hub.broker import wait_for
from hub.config import default_config
from hub.demo import demo
from hub.journal import DeliveryState
from hub.runtime import Hub
from hub.server import ApiServer
from mappings import citesepermit, trade_csv
from monitoring.console import accounts
from monitoring.console.accounts import Role

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "test-output" / "screenshots"
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DEMO_PERMITS = 400
PARKED_PERMITS = 4
PASSWORDS = {"olga": "operator-password-1", "victor": "viewer-password-1"}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required when CI is set)")
    pytest.skip(reason)


def chromium_path() -> str | None:
    found = shutil.which("chromium")
    return found or next((path for path in CHROMIUM_PATHS if Path(path).exists()), None)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium for the whole session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed; run: pip install playwright")
    executable = chromium_path()
    if executable is None:
        _unavailable("chromium is not installed; run: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class SeededHub:
    hub: Hub
    url: str
    admin_password: str
    parked: list[str]
    delivered_permit: tuple[str, str]


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[SeededHub]:
    """A hub whose journal the demo filled from the shipment CSV, with parked deliveries, served with its console."""
    csv_path = shared_data / "trade_shipments_sample.csv"
    data_dir = tmp_path_factory.mktemp("console-browser") / "data"
    demo(csv_path=csv_path, data_dir=data_dir, limit=DEMO_PERMITS, out=io.StringIO())

    config = default_config(data_dir)
    config.api.port = 0
    hub = Hub(config)
    hub.start()
    try:
        admin_file = accounts.ensure_first_admin(hub)
        assert admin_file is not None
        accounts.add_operator(hub.journal, "olga", PASSWORDS["olga"], Role.OPERATOR, actor="test")
        accounts.add_operator(hub.journal, "victor", PASSWORDS["victor"], Role.VIEWER, actor="test")
        parked = park_deliveries(hub, csv_path)
        with ApiServer(hub) as server:
            yield SeededHub(hub, server.url + "/console", admin_file.read_text().strip(), parked,
                            delivered_permit(hub))
    finally:
        hub.stop()


def park_deliveries(hub: Hub, csv_path: Path) -> list[str]:
    """Send further CSV permits while Customs responds with HTTP 400, so their deliveries park."""
    hub.simulators["customs"].fail_next(PARKED_PERMITS, status=400)
    candidates = [result.permit for result in list(trade_csv.convert_file(csv_path))[DEMO_PERMITS:] if result.permit]
    message_ids = []
    for permit in candidates:
        result = hub.ingress.receive(citesepermit.to_xml(permit), message_type="permit.issued",
                                     sender="permit-store", channel="test")
        if result.accepted:
            message_ids.append(result.message_id)
        if len(message_ids) == PARKED_PERMITS:
            break
    assert wait_for(lambda: hub.unsettled() == 0, timeout=30)
    parked = [d.delivery_id for m in message_ids for d in hub.journal.get_message(m).deliveries
              if d.state == DeliveryState.PARKED]
    assert len(parked) == PARKED_PERMITS
    return parked


def delivered_permit(hub: Hub) -> tuple[str, str]:
    """A (party, number) of a permit the demo delivered to Customs."""
    record = next(d for d in hub.journal.iter_deliveries(state=DeliveryState.DELIVERED))
    permit = hub.journal.get_message(record.message_id).envelope.permit
    party, _, number = permit.partition("/")
    return party, number


def sign_in(page: Any, seeded: SeededHub, name: str) -> None:
    """Sign in through the form as ``name`` (``admin`` or one of PASSWORDS)."""
    password = seeded.admin_password if name == "admin" else PASSWORDS[name]
    page.goto(seeded.url + "/sign-in")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(seeded.url + "/")


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
