"""The cites-hub command, called in process."""

from hub.cli import main
from tests.conftest import REPO_ROOT
from tests.factories import make_item, permit_xml

EXAMPLE = REPO_ROOT / "examples" / "permits" / "export_permit_two_items.xml"


def test_validate_accepts_the_example(capsys):
    assert main(["validate", str(EXAMPLE)]) == 0
    assert "permit GH/26GH004512, 2 item(s)" in capsys.readouterr().out


def test_validate_lists_findings_of_a_bad_permit(tmp_path, capsys):
    bad = tmp_path / "bad.xml"
    bad.write_bytes(permit_xml(items=[make_item(term="XYZ")]))

    assert main(["validate", str(bad)]) == 1
    output = capsys.readouterr().out
    assert "error" in output and "'XYZ'" in output


def test_validate_of_a_missing_file_names_it(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "none.xml")]) == 2
    assert "none.xml" in capsys.readouterr().err


def test_trace_without_a_journal_says_where_it_looked(tmp_path, capsys):
    assert main(["trace", "FR/NOPE", "--data-dir", str(tmp_path)]) == 2
    assert "no journal at" in capsys.readouterr().err


def test_trace_of_an_unknown_permit_says_so(tmp_path, capsys):
    from hub.journal import Journal

    Journal(f"sqlite:///{tmp_path / 'journal.sqlite3'}").upgrade()

    assert main(["trace", "FR/NOPE", "--data-dir", str(tmp_path)]) == 1
    assert "FR/NOPE is not in the journal" in capsys.readouterr().out


def test_send_without_a_key_explains_where_to_find_one(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CITES_HUB_API_KEY", raising=False)

    assert main(["send", str(EXAMPLE), "--data-dir", str(tmp_path)]) == 2
    assert "CITES_HUB_API_KEY" in capsys.readouterr().err


def test_adapters_list_shows_the_built_in_adapters(capsys):
    assert main(["adapters", "list"]) == 0
    output = capsys.readouterr().out
    for name in ("customs", "permit_store", "stub"):
        assert name in output
