"""``cites-hub demo``: the embedded hub, its simulators and a stream of permits, end to end.

Permits are built from a CITES Trade Database shipment file (or the small built-in sample),
serialised as CITESEPermit documents and sent through the hub's real HTTP API, exactly as a
permit store would. The summary counts what each route received, delivered and rejected, and why.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, TextIO

import httpx

from hub.config import HubConfig, default_config
from hub.journal import DeliveryState, MessageStatus
from hub.runtime import Hub, read_or_create_api_key
from hub.server import ApiServer
from mappings import citesepermit, trade_csv

SAMPLE_CSV = Path(__file__).resolve().parent / "demo_data" / "sample_shipments.csv"
SETTLE_TIMEOUT_SECONDS = 120.0


@dataclass
class DemoSummary:
    """Counts of one demo run."""

    sent: int = 0
    not_converted: Counter = field(default_factory=Counter)
    accepted: int = 0
    rejected: Counter = field(default_factory=Counter)
    not_converted_example: dict = field(default_factory=dict)
    deliveries: Counter = field(default_factory=Counter)
    route_messages: dict = field(default_factory=dict)
    parked: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    settled: bool = False
    example_permit: str | None = None


class Progress:
    """A one-line progress bar on a terminal, or a line per tenth elsewhere."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total, self.done, self.stream = max(total, 1), 0, stream
        self.tty = stream.isatty()
        self._last_tenth = -1

    def advance(self) -> None:
        self.done += 1
        if self.tty:
            filled = int(30 * self.done / self.total)
            self.stream.write(f"\rpermits [{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}")
            if self.done == self.total:
                self.stream.write("\n")
        elif self.done * 10 // self.total != self._last_tenth:
            self._last_tenth = self.done * 10 // self.total
            self.stream.write(f"processed {self.done}/{self.total} permits\n")
        self.stream.flush()


def reason_of(finding: dict) -> str:
    """A finding's message with its values masked, so that rejections group by kind."""
    path = re.sub(r"\[\d+\]", "[*]", finding.get("path", ""))
    return f"{path}: {_mask(finding.get('message', ''))}"


def _mask(text: str) -> str:
    return re.sub(r"'[^']*'", "'…'", text)


def problem_kind(problem: str) -> str:
    """A conversion problem without its row numbers and values, so that problems group by kind."""
    return _mask(re.sub(r"^rows? [\d, ]+: ", "", problem)).split(": '…' (row", 1)[0]


def run_demo(*, csv_path: Path | None, data_dir: Path, limit: int | None, senders: int = 4,
             out: TextIO = sys.stdout, config: HubConfig | None = None, park: int = 0) -> int:
    """Run the demo and print its summary; return 0 when every permit settled."""
    summary = demo(csv_path=csv_path, data_dir=data_dir, limit=limit, senders=senders, out=out, config=config,
                   park=park)
    return 0 if summary.settled else 1


def demo(*, csv_path: Path | None, data_dir: Path, limit: int | None, senders: int = 4,
         out: TextIO = sys.stdout, config: HubConfig | None = None, park: int = 0) -> DemoSummary:
    """Run the demo, print its summary and return it.

    ``config`` replaces the embedded default's partners and routes (to show another adapter in
    the demo); the demo always runs embedded, in ``data_dir``, with its API on a free port.
    ``park`` makes the Customs simulator reject its first deliveries, which the hub parks, so
    that an operator can replay them afterwards from the console.
    """
    source = csv_path or SAMPLE_CSV
    results = list(trade_csv.convert_file(source))
    if limit is not None:
        results = results[:limit]

    if data_dir.exists():
        shutil.rmtree(data_dir)
    config = _demo_config(config, data_dir)
    with Hub(config) as hub:
        hub.start()
        if park and "customs" in hub.simulators:
            hub.simulators["customs"].fail_next(park, status=422)
        with ApiServer(hub) as server:
            summary = _send_all(hub, server.url, results, senders)
        summary.settled = _wait_settled(hub)
        _collect(hub, summary)
        print_summary(summary, source, config, out)
    return summary


def _demo_config(config: HubConfig | None, data_dir: Path) -> HubConfig:
    if config is None:
        return default_config(data_dir)
    config = config.model_copy(deep=True)
    config.data_dir = data_dir
    config.journal.url = None
    config.broker.url = "memory://"
    for partner in config.partners.values():
        partner.api_key_sha256 = []
    return config


def _send_all(hub: Hub, url: str, results: list, senders: int) -> DemoSummary:
    summary = DemoSummary()
    key = read_or_create_api_key(hub.config.data_dir, "permit-store")
    progress = Progress(len(results))
    started = time.perf_counter()
    with httpx.Client(base_url=url, headers={"X-API-Key": key, "Content-Type": "application/xml"},
                      timeout=30) as client, ThreadPoolExecutor(max_workers=senders) as pool:
        for result, outcome in zip(results, pool.map(lambda r: _send_one(client, r), results)):
            if outcome is not None:
                summary.not_converted[outcome] += 1
                summary.not_converted_example.setdefault(outcome, result.problems[0] if result.problems else "")
            else:
                summary.sent += 1
            progress.advance()
    summary.seconds = time.perf_counter() - started
    return summary


def _send_one(client: httpx.Client, result) -> str | None:
    """Send one converted permit; return a reason when it could not be built at all."""
    if result.permit is None:
        return problem_kind(result.problems[0]) if result.problems else "conversion failed"
    response = client.post("/api/v1/messages", params={"message_type": "permit.issued"},
                           content=citesepermit.to_xml(result.permit))
    if response.status_code not in (202, 422):
        raise RuntimeError(f"hub responded HTTP {response.status_code}: {response.text[:300]}")
    return None


def _wait_settled(hub: Hub) -> bool:
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while hub.unsettled() and time.monotonic() < deadline:
        time.sleep(0.1)
    return hub.unsettled() == 0


def _collect(hub: Hub, summary: DemoSummary) -> None:
    counts = hub.journal.message_counts()
    summary.accepted = counts.get(MessageStatus.ACCEPTED, 0) + counts.get(MessageStatus.ACCEPTED_WITH_WARNINGS, 0)
    first = next(hub.journal.iter_messages(status=MessageStatus.ACCEPTED), None) or next(
        hub.journal.iter_messages(status=MessageStatus.ACCEPTED_WITH_WARNINGS), None)
    summary.example_permit = first.envelope.permit if first else None
    for record in hub.journal.iter_messages(status=MessageStatus.REJECTED):
        errors = [f for f in record.findings if f["severity"] == "error"]
        summary.rejected[reason_of(errors[0]) if errors else "rejected"] += 1
    for delivery in hub.journal.iter_deliveries():
        summary.deliveries[(delivery.route, delivery.destination, delivery.state)] += 1
        summary.route_messages.setdefault(delivery.route, set()).add(delivery.message_id)
        if delivery.state == DeliveryState.PARKED:
            summary.parked[(delivery.route, delivery.destination, delivery.last_error or "")] += 1


def print_summary(summary: DemoSummary, source: Path, config, out: TextIO) -> None:
    write = lambda line="": print(line, file=out)  # noqa: E731
    rate = summary.sent / summary.seconds if summary.seconds else 0.0
    write(f"\nsource: {source.name}")
    for reason, count in _most_common(summary.not_converted.items()):
        write(f"  not built from the data ({count}): {reason}")
        write(f"      e.g. {summary.not_converted_example.get(reason, '')[:160]}")
    rejected = sum(summary.rejected.values())
    write(f"\ningress: {summary.sent} permits received in {summary.seconds:.1f}s ({rate:.0f}/s), "
          f"{summary.accepted} accepted, {rejected} rejected")
    for reason, count in _most_common(summary.rejected.items()):
        write(f"  rejected {count:6}  {reason}")
    for route in config.routes:
        write(f"\nroute {route.name} -> {', '.join(route.to)}: "
              f"{len(summary.route_messages.get(route.name, ()))} messages")
        for (name, destination, state), count in sorted(summary.deliveries.items()):
            if name == route.name:
                write(f"  {state:24}{count:6}  ({destination})")
        for (name, destination, reason), count in _most_common(summary.parked.items()):
            if name == route.name:
                write(f"    parked {count:6}  ({destination}) {reason}")
    write(f"\njournal: {config.journal_url}")
    write(f"see one permit's timeline: cites-hub trace {summary.example_permit or 'PARTY/NUMBER'} "
          f"--data-dir {config.data_dir}")


def _most_common(items: Iterable) -> list:
    return sorted(items, key=lambda kv: (-kv[1], str(kv[0])))
