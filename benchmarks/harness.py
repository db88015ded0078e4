"""The benchmark command: the limits of the hub's parts and the hub end to end, in one run.

    python -m benchmarks.harness [--quick] [--out FILE] [--trade-csv FILE] [--profile]

The parts are measured first (:mod:`benchmarks.parts`), then the hub end to end in each mode
(:mod:`benchmarks.end_to_end`): embedded (``memory://`` broker, SQLite journal) and, where RabbitMQ
and PostgreSQL listen on 127.0.0.1, RabbitMQ with PostgreSQL. For each mode:

1. overload: permits offered faster than the hub can take them; accepted and delivered per second;
2. the highest sustained rate: the highest offered rate at which accepted and delivered permits
   keep up with it (within ``KEEP_UP``, with a median latency under ``KEEP_UP_P50_SECONDS``),
   found by bisection below the overload's accepted rate;
3. latency (due time to arrival at the sink) at 1/4, 1/2 and 9/10 of that rate.

Every figure is printed beside the matching limit of the parts and the target, and written as
JSON with ``--out``. The run makes its own RabbitMQ vhost and PostgreSQL databases and removes
them afterwards. See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import end_to_end, parts
from benchmarks.end_to_end import HubProcess, PermitTemplate, RunPlan, RunResult, Scenario, summarize
from benchmarks.sink import Sink

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_PERMITS = REPO_ROOT / "examples" / "permits"
TRADE_CSV_NAME = "trade_shipments_sample.csv"
TEST_DATA_VARIABLE = "CITES_HUB_TEST_DATA"

RABBITMQ_HOST, RABBITMQ_PORT = "127.0.0.1", 5672
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
KEEP_UP = 0.95
# A rate is kept up with only if the median permit is delivered within this many seconds of its
# due time: a queue that grows during the window shows first as a growing median latency.
KEEP_UP_P50_SECONDS = 0.25
LATENCY_FRACTIONS = {"quarter": 0.25, "half": 0.5, "nine_tenths": 0.9}
TARGETS = {"delivered_per_second": 800.0, "p99_ms_at_half_rate": 100.0, "max_rss_mb": 300.0,
           "cost_over_parts": 2.0}

# The parts one permit passes through, in each mode (sign only when the pipeline signs).
SCENARIO_PARTS = {
    "embedded": ["parse", "xsd_lxml", "map", "sign", "journal_write_sqlite", "publish_memory", "consume_memory",
                 "http_send"],
    "rabbitmq_postgresql": ["parse", "xsd_lxml", "map", "sign", "journal_write_postgresql", "publish_rabbitmq",
                            "consume_rabbitmq", "http_send"],
}


@dataclass(frozen=True)
class Settings:
    """Sizes of one harness run. Times are in seconds."""

    iterations: int
    rounds: int
    overload_per_second: float
    overload_warmup: float
    overload_window: float
    search_steps: int
    search_first_fraction: float
    """The first rate the search tries, as a fraction of the overload's accepted rate."""
    search_warmup: float
    search_window: float
    latency_warmup: float
    latency_window: float
    drain: float
    latency_fractions: tuple[str, ...]
    """The names of the LATENCY_FRACTIONS to run."""
    profile_seconds: float


FULL = Settings(iterations=400, rounds=3,
                overload_per_second=3000, overload_warmup=2, overload_window=6,
                search_steps=5, search_first_fraction=0.9, search_warmup=1, search_window=4,
                latency_warmup=1.5, latency_window=6, drain=20, latency_fractions=tuple(LATENCY_FRACTIONS),
                profile_seconds=8)
# Quick mode checks that every step still runs. Its first search rate is low, so that the latency
# run has a rate to start from even on a busy machine; its figures mean little.
QUICK = Settings(iterations=12, rounds=1,
                 overload_per_second=1000, overload_warmup=0.2, overload_window=0.5,
                 search_steps=1, search_first_fraction=0.2, search_warmup=0.1, search_window=0.4,
                 latency_warmup=0.1, latency_window=0.3, drain=5, latency_fractions=("half",),
                 profile_seconds=1)


# -- services --------------------------------------------------------------------------------------


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _rabbitmqctl(*arguments: str) -> None:
    subprocess.run(["rabbitmqctl", *arguments], check=True, capture_output=True, timeout=60)


@contextmanager
def rabbitmq_vhost(notes: list[str]) -> Iterator[str | None]:
    """Yield an amqp:// URL on a new vhost of this run (deleted after), or None with the reason in ``notes``."""
    if not _port_open(RABBITMQ_HOST, RABBITMQ_PORT):
        notes.append(f"RabbitMQ is not listening on {RABBITMQ_HOST}:{RABBITMQ_PORT}; its figures are left out")
        yield None
        return
    if shutil.which("rabbitmqctl") is None:
        notes.append("rabbitmqctl is not installed, so no benchmark vhost can be made; RabbitMQ figures are left out")
        yield None
        return
    vhost = f"cites-hub-bench-{uuid.uuid4().hex[:10]}"
    try:
        _rabbitmqctl("add_vhost", vhost)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        reason = " ".join((error.stderr or b"").decode(errors="replace").split())[:200] or str(error)
        notes.append(f"rabbitmqctl add_vhost failed ({reason}); RabbitMQ figures are left out")
        _delete_vhost_if_made(vhost)
        yield None
        return
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{RABBITMQ_HOST}:{RABBITMQ_PORT}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


def _delete_vhost_if_made(vhost: str) -> None:
    """Delete ``vhost`` in case a timed-out add_vhost made it after all; a failure here changes nothing."""
    try:
        _rabbitmqctl("delete_vhost", vhost)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        pass


class Postgres:
    """Creates PostgreSQL databases for this run and drops them afterwards."""

    def __init__(self, admin_url: str = POSTGRES_ADMIN_URL) -> None:
        from sqlalchemy import create_engine

        self.admin_url = admin_url
        self.engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)

    def reachable(self) -> str | None:
        """Return None when the server responds, else the reason it cannot be reached."""
        from sqlalchemy import text
        from sqlalchemy.exc import OperationalError

        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except OperationalError as error:
            return f"PostgreSQL is not reachable at {self.admin_url}: {error.orig}"
        return None

    @contextmanager
    def database(self) -> Iterator[str]:
        from sqlalchemy import text

        name = f"cites_hub_bench_{uuid.uuid4().hex[:10]}"
        with self.engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield self.admin_url.rsplit("/", 1)[0] + f"/{name}"
        finally:
            with self.engine.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self.engine.dispose()


# -- permit documents ------------------------------------------------------------------------------


def trade_csv_path(path: Path | None) -> Path | None:
    if path is not None:
        return path
    folder = os.environ.get(TEST_DATA_VARIABLE)
    return Path(folder) / TRADE_CSV_NAME if folder else None


def load_documents(csv_path: Path | None, notes: list[str]) -> tuple[list[bytes], dict[str, Any], bool]:
    """Return the permit documents the hub accepts, what they came from, and whether they are from the CSV.

    Without the shipment CSV, the example permits of the repository stand in for the parts, and
    the end-to-end runs are skipped.
    """
    from hub import validation
    from hub.envelope import MessageType
    from mappings import citesepermit, trade_csv

    if csv_path is None or not csv_path.is_file():
        where = csv_path or f"${TEST_DATA_VARIABLE}/{TRADE_CSV_NAME} ({TEST_DATA_VARIABLE} is not set)"
        notes.append(f"shipment CSV not found at {where}: end-to-end runs skipped; "
                     "the parts use the example permits; give --trade-csv FILE")
        documents = [path.read_bytes() for path in sorted(EXAMPLE_PERMITS.glob("*.xml"))]
        return documents, {"source": "examples/permits", "documents": len(documents)}, False

    results = list(trade_csv.convert_file(csv_path))
    built = [citesepermit.to_xml(result.permit) for result in results if result.permit is not None]
    accepted = [document for document in built if validation.validate(document, MessageType.PERMIT_ISSUED).ok]
    source = {"source": csv_path.name, "groups": len(results), "built": len(built), "accepted": len(accepted),
              "mean_bytes": round(sum(map(len, accepted)) / max(1, len(accepted)))}
    return accepted, source, True


# -- end-to-end runs of one mode -------------------------------------------------------------------


class ScenarioRunner:
    """Runs the plans of one mode in one hub process; each run gets a fresh journal."""

    def __init__(self, name: str, process: HubProcess, sink: Sink, postgres: Postgres | None,
                 settings: Settings) -> None:
        self.name = name
        self.process = process
        self.sink = sink
        self.postgres = postgres
        self.settings = settings

    def run(self, plan: RunPlan) -> RunResult:
        """Run ``plan`` on a fresh journal, print its main figures and return them all."""
        self.sink.take_arrivals()
        with ExitStack() as stack:
            journal_url = stack.enter_context(self.postgres.database()) if self.postgres else None
            record = self.process.run(plan, journal_url)
        result = summarize(plan, record, self.sink.take_arrivals())
        latency = result.latency_ms
        print(f"[{self.name}] {result.name:12} offered {result.offered_per_second:7.1f}/s  accepted "
              f"{result.accepted_per_second:7.1f}/s  delivered {result.delivered_per_second:7.1f}/s  "
              f"p50 {_ms(latency['p50'])}  p99 {_ms(latency['p99'])}", flush=True)
        return result

    def overload(self) -> RunResult:
        s = self.settings
        return self.run(RunPlan("overload", s.overload_per_second, s.overload_warmup, s.overload_window))

    def sustained(self, upper: float) -> tuple[RunResult | None, list[RunResult]]:
        """Bisect for the highest offered rate that is kept up with; return its run and every trial."""
        s = self.settings
        low, high, best, trials = 0.0, upper, None, []
        rate = upper * s.search_first_fraction
        for step in range(s.search_steps):
            result = self.run(RunPlan(f"search-{step + 1}", round(rate, 1), s.search_warmup, s.search_window))
            trials.append(result)
            if keeps_up(result):
                low, best = rate, result
            else:
                high = rate
            rate = (low + high) / 2
        return best, trials

    def latency(self, rate: float, name: str) -> RunResult:
        s = self.settings
        return self.run(RunPlan(name, round(rate, 1), s.latency_warmup, s.latency_window, s.drain))


def keeps_up(result: RunResult) -> bool:
    floor = KEEP_UP * result.offered_per_second
    median = result.latency_ms["p50"]
    return (result.accepted_per_second >= floor and result.delivered_per_second >= floor
            and median is not None and median <= KEEP_UP_P50_SECONDS * 1000)


def run_scenario(scenario: Scenario, templates: list[PermitTemplate], sink: Sink, postgres: Postgres | None,
                 settings: Settings, threads: int, profile: bool) -> dict[str, Any]:
    """Overload, search for the sustained rate, latency at fractions of it, and an optional profile."""
    print(f"\n[{scenario.name}] starting the hub's process", flush=True)
    with HubProcess(scenario, templates, threads, sink.url) as process:
        runner = ScenarioRunner(scenario.name, process, sink, postgres, settings)
        overload = runner.overload()
        best, trials = runner.sustained(max(overload.accepted_per_second, 1.0))
        result: dict[str, Any] = {"signed": scenario.signed, "broker": scenario.broker_url.split(":", 1)[0],
                                  "threads": threads, "baseline_rss_mb": process.baseline_rss_bytes / 2**20,
                                  "overload": overload.as_dict(), "search": [t.as_dict() for t in trials],
                                  "sustained": best.as_dict() if best else None, "latency": {}}
        if best is None:
            result["note"] = "no offered rate was kept up with; latency runs skipped"
            return result

        for name in settings.latency_fractions:
            rate = best.offered_per_second * LATENCY_FRACTIONS[name]
            result["latency"][name] = runner.latency(rate, name).as_dict()
        if profile:
            result["profile"] = profile_hub(runner, best.offered_per_second * LATENCY_FRACTIONS["nine_tenths"])
    return result


def _ms(value: float | None) -> str:
    return f"{value:8.1f} ms" if value is not None else "       - ms"


# -- profile -----------------------------------------------------------------------------------------


def py_spy_command() -> str | None:
    beside_python = Path(sys.executable).parent / "py-spy"
    return str(beside_python) if beside_python.is_file() else shutil.which("py-spy")


def profile_hub(runner: ScenarioRunner, rate: float) -> dict[str, Any]:
    """Sample the hub's process with py-spy during one run at ``rate``; return the top functions by thread role.

    py-spy samples only the thread holding the GIL (``--gil``), so the samples show where the
    process spends the interpreter's time, the resource its threads share. Time in C code that
    releases the GIL (waiting for PostgreSQL, RabbitMQ or the sink) is not sampled.
    """
    command = py_spy_command()
    if command is None:
        return {"note": "py-spy is not installed (pip install py-spy); no profile taken"}
    settings = runner.settings
    with tempfile.TemporaryDirectory(prefix="cites-hub-bench-profile-") as folder:
        output = Path(folder) / "stacks.txt"
        sampler = subprocess.Popen(
            [command, "record", "--pid", str(runner.process.pid),
             "--duration", str(int(settings.profile_seconds)), "--rate", str(end_to_end.PROFILE_SAMPLES_PER_SECOND),
             "--format", "raw", "--threads", "--gil", "--nonblocking", "--output", str(output)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        run = runner.run(RunPlan("profile", round(rate, 1), 0.5, settings.profile_seconds, settings.drain))
        _, errors = sampler.communicate(timeout=60)
        if not output.is_file():
            return {"note": f"py-spy wrote no profile: {errors.strip()[-300:]}"}
        summary = end_to_end.summarize_stacks(output.read_text(), delivered=run.delivered_of_window)
    summary["run"] = run.as_dict()
    return summary


# -- figures -------------------------------------------------------------------------------------------


def parts_sum(costs: dict[str, parts.PartCost], scenario: str, signed: bool) -> dict[str, Any]:
    names = [name for name in SCENARIO_PARTS[scenario] if signed or name != "sign"]
    present = [name for name in names if name in costs]
    return {"parts": present, "missing": [name for name in names if name not in costs],
            "wall_seconds": sum(costs[name].wall_seconds for name in present),
            "cpu_seconds": sum(costs[name].cpu_seconds for name in present)}


def figures(result: dict[str, Any], limit: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of (figure, value, target, parts' limit, ratio to the limit)."""
    parts_rate = 1 / limit["wall_seconds"]
    parts_ms, parts_cpu_ms = limit["wall_seconds"] * 1000, limit["cpu_seconds"] * 1000
    overload = result["overload"]
    rows = [_row("overload: accepted /s", overload["accepted_per_second"], None, parts_rate, "/s"),
            _row("overload: delivered /s", overload["delivered_per_second"], None, parts_rate, "/s")]
    sustained = result["sustained"]
    if sustained is None:
        return rows

    rate = sustained["delivered_per_second"]
    cpu = sustained["hub_cpu_seconds_per_permit"]
    ratio = TARGETS["cost_over_parts"]
    rows += [
        _row("highest sustained rate /s", rate, TARGETS["delivered_per_second"], parts_rate, "/s"),
        _row("hub CPU per permit ms", cpu * 1000 if cpu else None, ratio * parts_cpu_ms, parts_cpu_ms, "ms"),
        _row("hub wall per permit ms", 1000 / rate if rate else None, ratio * parts_ms, parts_ms, "ms"),
        _row("machine CPU per permit ms (all processes)", _ms_or_none(sustained["machine_cpu_seconds_per_permit"]),
             None, parts_cpu_ms, "ms"),
        *_latency_rows(result["latency"], parts_ms),
    ]
    runs = [overload, *result["search"], *result["latency"].values()]
    peak = max(run["max_rss_mb"] for run in runs)
    rows.append(_row("hub peak resident memory MB", peak, TARGETS["max_rss_mb"], result["baseline_rss_mb"], "MB"))
    return rows


def _ms_or_none(seconds: float | None) -> float | None:
    return seconds * 1000 if seconds is not None else None


def _latency_rows(latency: dict[str, Any], parts_ms: float) -> list[dict[str, Any]]:
    rows = []
    for name, run in latency.items():
        for quantile in ("p50", "p95", "p99"):
            target = TARGETS["p99_ms_at_half_rate"] if (name, quantile) == ("half", "p99") else None
            rows.append(_row(f"latency {quantile} at {name} ({run['offered_per_second']:.0f}/s) ms",
                             run["latency_ms"][quantile], target, parts_ms, "ms"))
    return rows


def _row(figure: str, value: float | None, target: float | None, limit: float, unit: str) -> dict[str, Any]:
    higher_is_better = unit == "/s"
    met = None
    if value is not None and target is not None:
        met = value >= target if higher_is_better else value <= target
    return {"figure": figure, "value": value, "target": target, "parts_limit": limit,
            "ratio_to_limit": value / limit if value is not None and limit else None, "meets_target": met}


def print_parts(costs: dict[str, parts.PartCost]) -> None:
    print(f"\n{'part':32} {'wall µs':>10} {'CPU µs':>10} {'per second':>11}")
    for cost in costs.values():
        print(f"{cost.name:32} {cost.wall_seconds * 1e6:10.1f} {cost.cpu_seconds * 1e6:10.1f} {cost.per_second:11.0f}")


def print_figures(name: str, result: dict[str, Any], rows: list[dict[str, Any]], limit: dict[str, Any]) -> None:
    signed = "signed" if result["signed"] else "UNSIGNED"
    print(f"\n== {name}: {signed}, journaled, delivered over HTTP; parts' sum: "
          f"{limit['wall_seconds'] * 1e3:.2f} ms wall, {limit['cpu_seconds'] * 1e3:.2f} ms CPU "
          f"({' + '.join(limit['parts'])})")
    print(f"{'figure':44} {'value':>9} {'target':>9} {'parts':>9} {'ratio':>7}  met")
    for row in rows:
        met = {True: "yes", False: "NO", None: ""}[row["meets_target"]]
        print(f"{row['figure']:44} {_number(row['value'])} {_number(row['target'])} {_number(row['parts_limit'])} "
              f"{_number(row['ratio_to_limit'], 7, 2)}  {met}")


def _number(value: float | None, width: int = 9, digits: int = 1) -> str:
    return f"{value:{width}.{digits}f}" if value is not None else " " * (width - 1) + "-"


def environment() -> dict[str, Any]:
    versions = {}
    for name in ("lxml", "xmlschema", "signxml", "cryptography", "kombu", "SQLAlchemy", "psycopg", "httpx", "pydantic"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "system": platform.platform(), "machine": platform.machine(),
            "cpu_count": os.cpu_count(), "cpu_model": _cpu_model(), "memory_mb": _memory_mb(), "versions": versions,
            "source": _source_version(), "load_average_at_start": _load_average()}


def _load_average() -> list[float] | None:
    """Return the system's 1, 5 and 15 minute load averages: other work on the machine skews every figure."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def _source_version() -> dict[str, Any]:
    """Return the commit measured and the tracked files that differ from it, which are measured as they are."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                                 capture_output=True, text=True, timeout=10, check=True).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None}
    return {"commit": commit, "changed_files": [line[3:] for line in changed]}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_mb() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (ValueError, OSError, AttributeError):
        return None


# -- main --------------------------------------------------------------------------------------------


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.harness", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny counts and windows (about 20 s), to check the harness")
    parser.add_argument("--out", type=Path, help="write every figure as JSON to this file")
    parser.add_argument("--trade-csv", type=Path,
                        help=f"CITES Trade Database shipment CSV (default ${TEST_DATA_VARIABLE}/{TRADE_CSV_NAME})")
    parser.add_argument("--threads", type=int, default=8, help="sender threads calling Ingress.receive (default 8)")
    parser.add_argument("--unsigned", action="store_true", help="deliver unsigned (default: signed, as the target)")
    parser.add_argument("--key-algorithm", choices=("rsa", "ecdsa"), default="rsa",
                        help="our signing key: RSA 2048 or ECDSA P-256 (default rsa)")
    parser.add_argument("--profile", action="store_true",
                        help="sample the hub with py-spy during one more run at 9/10 of the sustained rate")
    parser.add_argument("--modes", default="embedded,rabbitmq_postgresql",
                        help="comma-separated modes to run end to end (default embedded,rabbitmq_postgresql)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    settings = QUICK if args.quick else FULL
    notes: list[str] = []
    started = time.monotonic()
    report: dict[str, Any] = {"command": " ".join(["python -m benchmarks.harness", *(argv or sys.argv[1:])]),
                              "quick": args.quick, "environment": environment(), "settings": settings.__dict__,
                              "targets": TARGETS, "notes": notes, "scenarios": {}}

    documents, report["documents"], end_to_end_possible = load_documents(trade_csv_path(args.trade_csv), notes)
    print(f"permits: {report['documents']}", flush=True)
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cites-hub-bench-")))
        key_path, cert_path = _signing_key(folder, args.key_algorithm)
        rabbitmq_url = stack.enter_context(rabbitmq_vhost(notes))
        postgres = _postgres(notes)
        if postgres is not None:
            stack.callback(postgres.close)
        sink = stack.enter_context(Sink())

        inputs = parts.PartInputs(documents, sink.url, key_path, cert_path, end_to_end.OUR_PARTY, rabbitmq_url)
        costs = _measure_parts(inputs, postgres, settings, report)
        sink.take_arrivals()
        if end_to_end_possible:
            scenarios = _scenarios(args.modes, rabbitmq_url, postgres, notes, key_path, cert_path, not args.unsigned)
            _run_end_to_end(scenarios, documents, sink, costs, settings, args, report)

    report["seconds"] = round(time.monotonic() - started, 1)
    report["environment"]["load_average_at_end"] = _load_average()
    print_report(report)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


def _measure_parts(inputs: parts.PartInputs, postgres: Postgres | None, settings: Settings,
                   report: dict[str, Any]) -> dict[str, parts.PartCost]:
    with ExitStack() as stack:
        inputs.postgres_url = stack.enter_context(postgres.database()) if postgres else None
        costs, report["parts_skipped"] = parts.measure_all(inputs, settings.iterations, settings.rounds)
    report["parts"] = {name: cost.as_dict() for name, cost in costs.items()}
    print_parts(costs)
    return costs


def _run_end_to_end(scenarios: list[tuple[Scenario, Postgres | None]], documents: list[bytes], sink: Sink,
                    costs: dict[str, parts.PartCost], settings: Settings, args: argparse.Namespace,
                    report: dict[str, Any]) -> None:
    templates = end_to_end.permit_templates(documents)
    for scenario, postgres in scenarios:
        result = run_scenario(scenario, templates, sink, postgres, settings, args.threads, args.profile)
        limit = parts_sum(costs, scenario.name, scenario.signed)
        result.update(parts_sum=limit, figures=figures(result, limit))
        report["scenarios"][scenario.name] = result


def print_report(report: dict[str, Any]) -> None:
    for name, result in report["scenarios"].items():
        print_figures(name, result, result["figures"], result["parts_sum"])
        if "profile" in result:
            end_to_end.print_profile(result["profile"])
    for note in report["notes"]:
        print(f"note: {note}")
    environment = report["environment"]
    print(f"\nload average (1, 5, 15 min) at start {environment['load_average_at_start']}, "
          f"at end {environment['load_average_at_end']}; {environment['cpu_count']} CPUs")
    print(f"\nharness took {report['seconds']} s")


def _signing_key(folder: Path, algorithm: str) -> tuple[Path, Path]:
    from signing.keys import new_key_pair

    return new_key_pair(end_to_end.OUR_PARTY, folder / "keys", algorithm=algorithm)  # type: ignore[arg-type]


def _postgres(notes: list[str]) -> Postgres | None:
    postgres = Postgres()
    reason = postgres.reachable()
    if reason is None:
        return postgres
    notes.append(f"{reason}; its figures are left out")
    postgres.close()
    return None


def _scenarios(modes: str, rabbitmq_url: str | None, postgres: Postgres | None, notes: list[str], key_path: Path,
               cert_path: Path, signed: bool) -> list[tuple[Scenario, Postgres | None]]:
    key = (str(key_path), str(cert_path)) if signed else (None, None)
    requested = [mode.strip() for mode in modes.split(",") if mode.strip()]
    unknown = [mode for mode in requested if mode not in SCENARIO_PARTS]
    if unknown:
        raise SystemExit(f"--modes: unknown mode {', '.join(unknown)}; expected {', '.join(SCENARIO_PARTS)}")

    scenarios: list[tuple[Scenario, Postgres | None]] = []
    if "embedded" in requested:
        scenarios.append((Scenario("embedded", "memory://", *key), None))
    if "rabbitmq_postgresql" in requested:
        if rabbitmq_url and postgres:
            scenarios.append((Scenario("rabbitmq_postgresql", rabbitmq_url, *key), postgres))
        else:
            notes.append("mode rabbitmq_postgresql skipped: it needs both RabbitMQ and PostgreSQL")
    if not signed:
        notes.append("--unsigned: permits were delivered unsigned, so the target of signed permits was not measured")
    return scenarios


if __name__ == "__main__":
    raise SystemExit(main())
