"""The benchmark harness keeps working: it runs in quick mode, and its arithmetic is right.

Nothing here checks speed. The harness measures speed; these tests only check that it runs and
reports every section, and that its counting (windows, percentiles, profiles) is correct.
"""

import json
import math
import subprocess
import sys

import httpx

from benchmarks.end_to_end import RunPlan, RunRecord, percentiles_ms, permit_templates, summarize, summarize_stacks
from benchmarks.sink import Sink
from tests.conftest import REPO_ROOT
from tests.factories import permit_xml

HARNESS_TIMEOUT_SECONDS = 240


def run_harness(*arguments):
    return subprocess.run([sys.executable, "-m", "benchmarks.harness", "--quick", *arguments], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=HARNESS_TIMEOUT_SECONDS)


def test_quick_harness_reports_parts_and_embedded_hub(tmp_path, shared_data):
    out = tmp_path / "benchmark.json"

    completed = run_harness("--out", str(out), "--trade-csv", str(shared_data / "trade_shipments_sample.csv"))

    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(out.read_text())
    for part in ("parse", "xsd_lxml", "xsd_xmlschema", "map", "sign", "verify", "journal_write_sqlite",
                 "publish_memory", "consume_memory", "http_send"):
        assert report["parts"][part]["wall_seconds"] > 0, part
    embedded = report["scenarios"]["embedded"]
    assert embedded["signed"] is True
    assert embedded["overload"]["accepted_in_window"] > 0
    assert embedded["figures"][0]["figure"] == "overload: accepted /s"
    assert "== embedded: signed" in completed.stdout


def test_quick_harness_without_shipment_file_measures_parts_only(tmp_path):
    out = tmp_path / "benchmark.json"

    completed = run_harness("--out", str(out), "--trade-csv", str(tmp_path / "absent.csv"))

    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["scenarios"] == {}
    assert report["parts"]["parse"]["wall_seconds"] > 0
    assert any("end-to-end runs skipped" in note for note in report["notes"])


def test_sink_records_each_message_id_once():
    with Sink() as sink, httpx.Client() as client:
        for number in range(3):
            client.post(sink.url, content=b"<a/>", headers={"X-Cites-Message-Id": f"m{number}"}).raise_for_status()

        arrivals = sink.take_arrivals()
        again = sink.take_arrivals()

    assert [message_id for message_id, _ in arrivals] == ["m0", "m1", "m2"]
    assert again == []


def test_permit_templates_give_each_send_its_own_number():
    document = permit_xml(number="FR2026000123")

    template = permit_templates([document])[0]

    assert template.with_suffix(7) == document.replace(b">FR2026000123<", b">FR2026000123-7<")


def test_summarize_counts_only_the_window():
    plan = RunPlan("test", offered_per_second=4, warmup_seconds=1, window_seconds=2)
    sends = [("early", 0.5, 0.6, "accepted"), ("a", 1.0, 1.1, "accepted"), ("b", 1.5, 1.6, "accepted"),
             ("rejected", 2.0, 2.1, "rejected"), ("late", 3.5, 3.6, "accepted")]
    record = RunRecord(sends=sends, window=(1.0, 3.0), offered=5, cpu_seconds=0.4, thread_cpu_seconds={},
                       machine_cpu_seconds=1.0, max_rss_bytes=2**20, settled=True)
    arrivals = [("early", 0.7), ("a", 1.2), ("b", 1.9), ("late", 3.7)]

    result = summarize(plan, record, arrivals)

    assert result.accepted_in_window == 2
    assert result.accepted_per_second == 1.0
    assert result.delivered_per_second == 1.0
    assert result.hub_cpu_seconds_per_permit == 0.2
    assert result.machine_cpu_seconds_per_permit == 0.5
    assert result.latency_ms["max"] == 400.0


def test_undelivered_message_makes_high_percentiles_unknown():
    latencies = [0.010] * 98 + [math.inf] * 2

    result = percentiles_ms(latencies)

    assert result["p50"] == 10.0
    assert result["p99"] is None


def test_profile_groups_stacks_by_thread_role():
    raw = "\n".join([
        "thread (1): sender-1;run (threading.py:1);receive (hub/pipeline.py:10);parse (hub/safexml.py:5) 30",
        "thread (2): sender-2;run (threading.py:1);receive (hub/pipeline.py:12) 10",
        "thread (3): deliver-sink;run (threading.py:1);post (httpx/_client.py:9) 20",
    ])

    profile = summarize_stacks(raw, delivered=10)

    sender = profile["roles"]["sender"]
    assert sender["samples"] == 40
    assert sender["self"][0]["function"] == "parse (hub/safexml.py)"
    assert sender["packages"][0]["function"] == "hub"
    assert sender["own_inclusive"][0] == {"function": "receive (hub/pipeline.py)", "share": 1.0,
                                          "ms_per_permit": 20.0}
    assert profile["roles"]["deliver-sink"]["own_inclusive"] == []
