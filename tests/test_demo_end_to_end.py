"""The demo on the real CITES Trade Database shipment file, checked against the CSV itself."""

import csv
import io
from collections import defaultdict

import pytest

from hub.demo import demo
from hub.journal import Journal, MessageStatus


def permits_in_csv(path):
    """Export permit id -> its rows, read independently of the converter."""
    groups = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["export_permit_randomid"]:
                groups[row["export_permit_randomid"]].append(row)
    return groups


@pytest.fixture(scope="module")
def demo_run(shared_data, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("demo")
    out = io.StringIO()
    summary = demo(csv_path=shared_data / "trade_shipments_sample.csv", data_dir=data_dir, limit=None, out=out)
    journal = Journal(f"sqlite:///{data_dir / 'journal.sqlite3'}")
    yield summary, journal, out.getvalue()
    journal.close()


def test_every_permit_is_delivered_or_rejected_or_reported(demo_run, shared_data):
    summary, journal, _ = demo_run
    groups = permits_in_csv(shared_data / "trade_shipments_sample.csv")
    not_permits = summary.not_converted["export_permit_randomid '…' is missing, so the row belongs to no permit"]
    not_built = sum(summary.not_converted.values()) - not_permits

    assert summary.settled
    assert summary.sent + not_built == len(groups) == 1725
    assert summary.accepted + sum(summary.rejected.values()) == summary.sent
    assert summary.deliveries[("permits-to-customs", "customs", "delivered")] == summary.accepted
    assert not summary.parked


def test_rejections_are_true_of_the_data(demo_run, shared_data):
    _, journal, _ = demo_run
    groups = permits_in_csv(shared_data / "trade_shipments_sample.csv")

    rejected = list(journal.iter_messages(status=MessageStatus.REJECTED))

    assert rejected
    for record in rejected:
        number = record.envelope.permit.split("/", 1)[1]
        errors = [f for f in record.findings if f["severity"] == "error"]
        assert all(f["path"].endswith("TypeExtensionCode") for f in errors), errors
        assert any(row["source"] == "" for row in groups[number])


def test_not_built_permits_have_rows_that_disagree(demo_run):
    summary, _, _ = demo_run

    kinds = {kind for kind in summary.not_converted if "no permit" not in kind}

    assert kinds <= {f"{column} differs within export permit '…'"
                     for column in ("exporter", "importer", "year", "purpose")}


def test_delivered_permit_has_a_full_timeline(demo_run):
    _, journal, _ = demo_run
    # The Trade Database's permits expired long ago, so they are accepted with that warning.
    accepted = next(journal.iter_messages(status=MessageStatus.ACCEPTED_WITH_WARNINGS))
    assert any("expired" in finding["message"] for finding in accepted.findings)
    party, number = accepted.envelope.permit.split("/", 1)

    actions = [event.action for event in journal.timeline(party, number)]

    assert actions[:3] == ["received", "validated", "routed"]
    assert actions[-1] == "delivered"


def test_summary_names_routes_and_reasons(demo_run):
    _, _, printed = demo_run

    assert "route permits-to-customs -> customs" in printed
    assert "TypeExtensionCode" in printed
    assert "source code" in printed


def test_demo_with_a_configuration_uses_its_partners(tmp_path):
    import yaml

    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({
        "partners": {
            "permit-store": {"adapter": "permit_store", "may_send": ["permit.issued"], "options": {"url": "simulator"}},
            "window": {"adapter": "stub"},
        },
        "routes": [{"name": "to-window", "match": {"message_type": ["permit.issued"]}, "to": ["window"]}],
    }), encoding="utf-8")
    out = io.StringIO()
    from hub.config import load

    summary = demo(csv_path=None, data_dir=tmp_path / "demo", limit=5, out=out, config=load(config))

    assert summary.settled
    assert "route to-window -> window" in out.getvalue()
    assert summary.deliveries[("to-window", "window", "delivered")] >= 1
