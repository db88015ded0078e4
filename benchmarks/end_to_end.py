"""End-to-end runs of the hub: permits in through ``Ingress.receive``, out to the HTTP sink.

The hub runs in a child process of its own, so that its CPU time and peak resident memory are its
own. The harness process sends it one run plan at a time. The child starts a fresh hub for each run
(new broker namespace, new journal), offers permits open-loop at the plan's rate from several
threads, and returns what each call of ``Ingress.receive`` returned and when. The harness takes
the arrival times from the sink and computes rates and latencies in :func:`summarize`.

Open loop: message *i* is due at ``start + i / rate`` whatever the hub's pace. Latency is counted
from that due time, so time a message waits for a free sender thread counts too: a hub that
falls behind shows it in its latency.

Each run has a warm-up, then a measured window. A run with no drain time (overload, the search
for the sustained rate) stops the hub at the window's end and counts what was accepted and
delivered within the window. A run with a drain time then waits, up to that time, until every
accepted message is delivered, so that every message of the window has a latency.
"""

from __future__ import annotations

import gc
import math
import multiprocessing
import os
import queue
import resource
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

SENDER = "permit-store"
DESTINATION = "sink"
MESSAGE_TYPE = "permit.issued"
ACCEPTED = frozenset({"accepted", "accepted_with_warnings"})
OUR_PARTY = "FR"
CHILD_START_TIMEOUT_SECONDS = 60.0
SETTLE_POLL_SECONDS = 0.05
# The maximum sleep of the load's schedule, which bounds how late the window's CPU readings are taken.
MAX_TICK_SECONDS = 0.01


@dataclass(frozen=True)
class Scenario:
    """A hub set-up to measure: its name, its broker, and its signing key (None to deliver unsigned)."""

    name: str
    broker_url: str
    key_path: str | None = None
    cert_path: str | None = None

    @property
    def signed(self) -> bool:
        return self.key_path is not None


@dataclass(frozen=True)
class RunPlan:
    """One run: the offered rate (messages per second) and its warm-up, window and drain times (seconds)."""

    name: str
    offered_per_second: float
    warmup_seconds: float
    window_seconds: float
    drain_seconds: float = 0.0


@dataclass
class RunRecord:
    """The report of the hub's process after a run. Times are on the monotonic clock."""

    sends: list[tuple[str, float, float, str]]
    """(message id, due time, time returned, status) of each call of ``Ingress.receive``."""
    window: tuple[float, float]
    offered: int
    cpu_seconds: float
    """CPU time (user + system) of the whole hub process within the window."""
    thread_cpu_seconds: dict[str, float]
    """CPU time of each thread within the window, by thread name (Linux only, else empty)."""
    machine_cpu_seconds: float | None
    """CPU time of every process on the machine within the window (Linux only): the hub, RabbitMQ,
    PostgreSQL, the sink, and whatever else runs."""
    max_rss_bytes: int
    settled: bool
    errors: list[str] = field(default_factory=list)


# -- permits -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PermitTemplate:
    """A permit document split around its number (box 1), so that each send can carry a new number.

    The hub moves a permit's lifecycle only forward: a second ``permit.issued`` of the same
    permit is journaled but not delivered. Every send therefore gets a number of its own.
    """

    head: bytes
    number: bytes
    tail: bytes

    def with_suffix(self, suffix: int) -> bytes:
        return b"%s%s-%d%s" % (self.head, self.number, suffix, self.tail)


def permit_templates(documents: list[bytes]) -> list[PermitTemplate]:
    """Split each CITESEPermit document at its number, the ID of its HeaderExchangedDocument.

    The number must appear in the document as it is, without character references, as the Trade
    Database's identifiers do; ValueError names a document where it does not.
    """
    from hub import safexml
    from mappings import citesepermit

    templates = []
    for document in documents:
        number = citesepermit.from_xml(safexml.parse(document)).number.encode()
        start = document.find(b">%s<" % number, document.find(b"HeaderExchangedDocument")) + 1
        if start == 0:
            raise ValueError(f"permit number {number!r} is not written as it is in its document; "
                             "expected a number without character references")
        templates.append(PermitTemplate(document[:start], number, document[start + len(number):]))
    return templates


# -- the hub's process --------------------------------------------------------------------------


def hub_config(scenario: Scenario, sink_url: str, journal_url: str, data_dir: Path) -> Any:
    """Return the hub's configuration: the permit store sends, every permit is delivered to the sink."""
    from hub.config import PERMIT_MESSAGE_TYPES, from_dict

    permit_types = [kind.value for kind in PERMIT_MESSAGE_TYPES]
    sink_partner: dict[str, Any] = {"adapter": "permit_store", "options": {"url": sink_url}}
    raw: dict[str, Any] = {
        "data_dir": str(data_dir),
        "broker": {"url": scenario.broker_url, "namespace": f"bench{uuid.uuid4().hex[:12]}"},
        "journal": {"url": journal_url},
        "partners": {
            SENDER: {"adapter": "permit_store", "may_send": permit_types, "options": {"url": sink_url}},
            DESTINATION: sink_partner,
        },
        "routes": [{"name": "permits-to-sink", "match": {"message_type": permit_types}, "to": [DESTINATION]}],
    }
    if scenario.signed:
        raw["party"] = OUR_PARTY
        raw["keys"] = [{"party": OUR_PARTY, "key": scenario.key_path, "cert": scenario.cert_path}]
        sink_partner["sign_outbound"] = True
    return from_dict(raw, source="benchmark configuration")


class OpenLoopLoad:
    """Calls ``receive`` from ``threads`` sender threads, on a schedule of ``rate`` messages per second."""

    def __init__(self, receive: Any, templates: list[PermitTemplate], threads: int) -> None:
        self.receive = receive
        self.templates = templates
        self.threads = threads
        self.due: queue.Queue[tuple[int, float]] = queue.Queue()
        self.sends: list[tuple[str, float, float, str]] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def offer(self, rate: float, start: float, until: float, on_tick: Any) -> int:
        """Queue message i at ``start + i / rate`` until ``until``, calling ``on_tick(now)`` at each wake-up.

        The loop sleeps until the next message is due, at most ``MAX_TICK_SECONDS``, so that at
        low rates it costs the hub's process little CPU time.
        """
        offered = 0
        while True:
            now = time.monotonic()
            on_tick(now)
            if now >= until:
                return offered
            due_count = int((now - start) * rate) + 1
            for index in range(offered, due_count):
                self.due.put((index, start + index / rate))
            offered = max(offered, due_count)
            next_due = start + offered / rate
            time.sleep(min(max(next_due - time.monotonic(), 0.0), MAX_TICK_SECONDS))

    def start_senders(self) -> list[threading.Thread]:
        senders = [threading.Thread(target=self._send_loop, name=f"sender-{n}", daemon=True)
                   for n in range(self.threads)]
        for sender in senders:
            sender.start()
        return senders

    def _send_loop(self) -> None:
        while not self.stop.is_set():
            try:
                index, due = self.due.get(timeout=0.05)
            except queue.Empty:
                continue
            try:
                payload = self.templates[index % len(self.templates)].with_suffix(index)
                result = self.receive(payload, message_type=MESSAGE_TYPE, sender=SENDER, channel="benchmark")
                self.sends.append((result.message_id, due, time.monotonic(), result.status))
            except Exception as error:  # noqa: BLE001 - a failed call is counted and reported, not fatal
                self.errors.append(f"{type(error).__name__}: {error}")
            finally:
                self.due.task_done()

    def wait_until_sent(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.due.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self.due.unfinished_tasks


class _CpuMeter:
    """Process, per-thread and machine CPU time at the window's start and end."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, dict[str, float], float | None]] = []

    def mark(self) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.marks.append((usage.ru_utime + usage.ru_stime, _thread_cpu_seconds(), _machine_cpu_seconds()))

    def process_seconds(self) -> float:
        return self.marks[1][0] - self.marks[0][0]

    def thread_seconds(self) -> dict[str, float]:
        (_, first, _), (_, last, _) = self.marks
        return {name: round(seconds - first.get(name, 0.0), 3) for name, seconds in last.items()}

    def machine_seconds(self) -> float | None:
        (_, _, first), (_, _, last) = self.marks
        return last - first if first is not None and last is not None else None


def _machine_cpu_seconds() -> float | None:
    """Busy CPU seconds of all cores since boot, from /proc/stat (Linux): every state but idle and iowait."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user, nice, system, idle, iowait, irq, softirq, steal; guest time is already in user.
    busy = sum(fields[:8]) - fields[3] - fields[4]
    return busy / os.sysconf("SC_CLK_TCK")


def _thread_cpu_seconds() -> dict[str, float]:
    """CPU seconds of each live thread, from /proc (Linux); threads of one name are added up."""
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    seconds: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except (OSError, TypeError):
            continue
        # Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        fields = stat.rsplit(")", 1)[1].split()
        name = thread.name.rstrip("0123456789-") or thread.name
        seconds[name] = seconds.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks_per_second
    return seconds


def run_once(scenario: Scenario, plan: RunPlan, templates: list[PermitTemplate], threads: int, sink_url: str,
             journal_url: str | None) -> RunRecord:
    """Start a fresh hub, offer load as ``plan`` sets, then stop the hub and return its record."""
    from hub.runtime import Hub

    with tempfile.TemporaryDirectory(prefix="cites-hub-bench-") as folder:
        url = journal_url or f"sqlite:///{Path(folder) / 'journal.sqlite3'}"
        hub = Hub(hub_config(scenario, sink_url, url, Path(folder) / "data"))
        try:
            hub.start(amqp_ingress=False)
            return _offer_load(hub, plan, templates, threads)
        finally:
            hub.stop()
            gc.collect()


def _offer_load(hub: Any, plan: RunPlan, templates: list[PermitTemplate], threads: int) -> RunRecord:
    load = OpenLoopLoad(hub.ingress.receive, templates, threads)
    meter = _CpuMeter()
    start = time.monotonic()
    window = (start + plan.warmup_seconds, start + plan.warmup_seconds + plan.window_seconds)

    def on_tick(now: float) -> None:
        if not meter.marks and now >= window[0]:
            meter.mark()
        elif len(meter.marks) == 1 and now >= window[1]:
            meter.mark()

    senders = load.start_senders()
    offered = load.offer(plan.offered_per_second, start, window[1], on_tick)
    if len(meter.marks) < 2:
        meter.mark()

    settled = False
    if plan.drain_seconds > 0:
        deadline = time.monotonic() + plan.drain_seconds
        load.wait_until_sent(plan.drain_seconds)
        settled = _wait_settled(hub, deadline)
    load.stop.set()
    for sender in senders:
        sender.join(timeout=30)
    return RunRecord(sends=list(load.sends), window=window, offered=offered, cpu_seconds=meter.process_seconds(),
                     thread_cpu_seconds=meter.thread_seconds(), machine_cpu_seconds=meter.machine_seconds(),
                     max_rss_bytes=_max_rss_bytes(), settled=settled, errors=load.errors[:20])


def _wait_settled(hub: Any, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if hub.unsettled() == 0:
            return True
        time.sleep(SETTLE_POLL_SECONDS)
    return hub.unsettled() == 0


def _max_rss_bytes() -> int:
    """Peak resident memory of this process: VmHWM on Linux, else ru_maxrss.

    On Linux ru_maxrss survives exec, so a spawned child would report its parent's peak when
    that is higher; VmHWM counts this process's own memory only.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _hub_process_main(control: Connection, scenario: Scenario, templates: list[PermitTemplate], threads: int,
                      sink_url: str) -> None:
    """Entry point of the hub's process: run each plan it is sent until it is sent None."""
    import hub.runtime  # noqa: F401 - imported before the baseline is taken, so that it counts the libraries

    control.send(_max_rss_bytes())
    while True:
        request = control.recv()
        if request is None:
            return
        plan, journal_url = request
        try:
            control.send(run_once(scenario, plan, templates, threads, sink_url, journal_url))
        except Exception as error:  # noqa: BLE001 - reported to the harness, which stops the scenario
            control.send(f"{type(error).__name__}: {error}")


class HubProcess:
    """The child process that runs the hub; ``run(plan)`` returns that run's :class:`RunRecord`."""

    def __init__(self, scenario: Scenario, templates: list[PermitTemplate], threads: int, sink_url: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._control, child_end = context.Pipe()
        self._process = context.Process(target=_hub_process_main, name=f"hub-{scenario.name}",
                                        args=(child_end, scenario, templates, threads, sink_url), daemon=True)
        self.baseline_rss_bytes = 0
        """Peak resident memory of the process once the hub's modules are imported, before any hub starts."""

    def start(self) -> None:
        self._process.start()
        if not self._control.poll(CHILD_START_TIMEOUT_SECONDS):
            self._process.kill()
            raise RuntimeError(f"the hub's process did not start within {CHILD_START_TIMEOUT_SECONDS:g} s")
        self.baseline_rss_bytes = self._control.recv()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def run(self, plan: RunPlan, journal_url: str | None) -> RunRecord:
        self._control.send((plan, journal_url))
        answer = self._control.recv()
        if isinstance(answer, str):
            raise RuntimeError(f"run {plan.name} failed in the hub's process: {answer}")
        return answer

    def stop(self) -> None:
        if self._process.is_alive():
            self._control.send(None)
            self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.kill()

    def __enter__(self) -> "HubProcess":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- analysis in the harness --------------------------------------------------------------------


@dataclass
class RunResult:
    """The figures of one run. Rates are per second within the window; latencies in milliseconds."""

    name: str
    offered_per_second: float
    accepted_per_second: float
    delivered_per_second: float
    accepted_in_window: int
    delivered_of_window: int
    hub_cpu_seconds_per_permit: float | None
    machine_cpu_seconds_per_permit: float | None
    latency_ms: dict[str, float | None]
    answer_latency_ms: dict[str, float | None]
    max_rss_mb: float
    settled: bool
    thread_cpu_seconds: dict[str, float]
    errors: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(plan: RunPlan, record: RunRecord, arrivals: list[tuple[str, float]]) -> RunResult:
    """Compute a run's rates, CPU cost and latencies from the hub's record and the sink's arrivals."""
    start, end = record.window
    seconds = end - start
    arrived = dict(arrivals)
    accepted = [send for send in record.sends if send[3] in ACCEPTED]
    accepted_in_window = sum(1 for send in accepted if start <= send[2] < end)
    delivered_in_window = sum(1 for at in arrived.values() if start <= at < end)

    # Latency of every accepted message that was due within the window; one never delivered counts as infinite.
    due_in_window = [send for send in accepted if start <= send[1] < end]
    latencies = [arrived.get(send[0], math.inf) - send[1] for send in due_in_window]
    answers = [send[2] - send[1] for send in due_in_window]
    delivered_of_window = sum(1 for value in latencies if value != math.inf)

    return RunResult(
        name=plan.name, offered_per_second=plan.offered_per_second,
        accepted_per_second=accepted_in_window / seconds, delivered_per_second=delivered_in_window / seconds,
        accepted_in_window=accepted_in_window, delivered_of_window=delivered_of_window,
        hub_cpu_seconds_per_permit=record.cpu_seconds / delivered_in_window if delivered_in_window else None,
        machine_cpu_seconds_per_permit=(record.machine_cpu_seconds / delivered_in_window
                                        if delivered_in_window and record.machine_cpu_seconds is not None else None),
        latency_ms=percentiles_ms(latencies), answer_latency_ms=percentiles_ms(answers),
        max_rss_mb=record.max_rss_bytes / 2**20, settled=record.settled,
        thread_cpu_seconds=record.thread_cpu_seconds, errors=record.errors,
    )


def percentiles_ms(values: list[float]) -> dict[str, float | None]:
    """p50, p95, p99 and max by nearest rank, in milliseconds; None where a value is infinite or missing."""
    ordered = sorted(values)

    def rank(fraction: float) -> float | None:
        if not ordered:
            return None
        value = ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]
        return None if value == math.inf else round(value * 1000, 2)

    return {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": rank(1.0)}


# -- profile --------------------------------------------------------------------------------------

PROFILE_SAMPLES_PER_SECOND = 200
OWN_PACKAGES = ("hub/", "adapters/", "mappings/", "signing/", "monitoring/")
TOP_FUNCTIONS = 15


def summarize_stacks(raw: str, delivered: int) -> dict[str, Any]:
    """Turn py-spy's raw stacks (``--threads``) into the top functions of each thread role.

    A role is a thread name without its number (``sender-3`` is ``sender``). For each role:
    its samples, the packages and the functions with the most samples of their own (self), and
    the hub's own functions by samples including what they call (inclusive). Each is also given in
    milliseconds per delivered permit: sampled time divided by the permits delivered.
    """
    roles: dict[str, dict[str, Any]] = {}
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        if not count_text.isdigit() or len(frames) < 2:
            continue
        role = _role(frames[0])
        entry = roles.setdefault(role, {"samples": 0, "self": {}, "inclusive": {}})
        count = int(count_text)
        entry["samples"] += count
        functions = [_function(frame) for frame in frames[1:]]
        entry["self"][functions[-1]] = entry["self"].get(functions[-1], 0) + count
        for function in set(functions):
            entry["inclusive"][function] = entry["inclusive"].get(function, 0) + count
    return {"samples_per_second": PROFILE_SAMPLES_PER_SECOND, "delivered": delivered,
            "roles": {role: _top(entry, delivered) for role, entry in roles.items()}}


def _role(thread_frame: str) -> str:
    name = thread_frame.split(": ", 1)[1] if ": " in thread_frame else thread_frame
    return name.rstrip("0123456789").rstrip("-") or name


def _function(frame: str) -> str:
    """``name (file:line)`` without the line, so that a function's lines add up."""
    name, _, location = frame.partition(" (")
    return f"{name} ({location.rsplit(':', 1)[0].rstrip(')')})" if location else name


def _package(function: str) -> str:
    """Return the top-level package of a ``name (path/file.py)`` entry; the standard library's files have no folder."""
    location = function.rpartition("(")[2]
    return location.split("/", 1)[0] if "/" in location else "standard library"


def _top(entry: dict[str, Any], delivered: int) -> dict[str, Any]:
    samples = entry["samples"]

    def listing(counts: dict[str, int], keep: Any) -> list[dict[str, Any]]:
        ranked = sorted(((n, f) for f, n in counts.items() if keep(f)), reverse=True)[:TOP_FUNCTIONS]
        return [{"function": f, "share": round(n / samples, 3),
                 "ms_per_permit": round(n / PROFILE_SAMPLES_PER_SECOND / delivered * 1000, 3) if delivered else None}
                for n, f in ranked]

    packages: dict[str, int] = {}
    for function, count in entry["self"].items():
        packages[_package(function)] = packages.get(_package(function), 0) + count
    return {"samples": samples,
            "ms_per_permit": round(samples / PROFILE_SAMPLES_PER_SECOND / delivered * 1000, 3) if delivered else None,
            "packages": listing(packages, lambda f: True),
            "self": listing(entry["self"], lambda f: True),
            "own_inclusive": listing(entry["inclusive"], lambda f: f.rpartition("(")[2].startswith(OWN_PACKAGES))}


def print_profile(profile: dict[str, Any]) -> None:
    if "roles" not in profile:
        print(f"profile: {profile.get('note')}")
        return
    print(f"\nprofile: py-spy at {profile['samples_per_second']} samples/s, {profile['delivered']} permits delivered")
    for role, entry in sorted(profile["roles"].items(), key=lambda item: -item[1]["samples"]):
        if entry["samples"] < 0.05 * max(e["samples"] for e in profile["roles"].values()):
            continue
        print(f"\n  thread {role}: {entry['samples']} samples, {entry['ms_per_permit']} ms per permit")
        for heading, key in (("packages, self", "packages"), ("functions, self", "self"),
                             ("hub's own functions, inclusive", "own_inclusive")):
            print(f"    {heading}:")
            for item in entry[key][:10]:
                print(f"      {item['share'] * 100:5.1f}%  {item['ms_per_permit']:7.3f} ms  {item['function']}")
