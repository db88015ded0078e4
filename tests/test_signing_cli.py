"""The keys, sign and verify commands, called through a parser built as the main CLI builds it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from signing import cli
from tests.signing_corpus import permit_document


def run(*arguments: str) -> int:
    parser = argparse.ArgumentParser(prog="cites-hub")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(arguments))
    return args.func(args)


@pytest.fixture()
def key_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "keys"
    assert run("keys", "new", "GH", "--out", str(folder), "--algorithm", "ecdsa", "--days", "30") == 0
    return folder


def key_files(folder: Path) -> tuple[Path, Path]:
    return next(folder.glob("*.key.pem")), next(folder.glob("*.cert.pem"))


def test_keys_new_writes_a_key_and_a_certificate(key_folder: Path) -> None:
    key_path, cert_path = key_files(key_folder)

    assert key_path.name.startswith("GH-")
    assert cert_path.name.endswith("-ecdsa.cert.pem")


def test_keys_list_shows_certificate_details(key_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = run("keys", "list", "--dir", str(key_folder))

    output = capsys.readouterr().out
    assert status == 0
    assert "C=GH" in output
    assert "ECDSA-secp256r1" in output
    assert "29 days left" in output or "30 days left" in output


def test_signed_file_verifies(key_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key_path, cert_path = key_files(key_folder)
    permit = tmp_path / "permit.xml"
    permit.write_bytes(permit_document())

    signed_status = run("sign", str(permit), "--key", str(key_path), "--cert", str(cert_path))
    verify_status = run("verify", str(tmp_path / "permit.signed.xml"), "--trust", str(key_folder))

    assert signed_status == 0
    assert verify_status == 0
    assert "valid: signed by CN=CITES Management Authority GH,C=GH" in capsys.readouterr().out


def test_unsigned_file_fails_with_reason(key_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    permit = tmp_path / "permit.xml"
    permit.write_bytes(permit_document())

    status = run("verify", str(permit), "--trust", str(key_folder))

    assert status == 1
    assert capsys.readouterr().out.startswith("rejected: missing:")


def test_sign_names_missing_password_variable(
    key_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_path, cert_path = key_files(key_folder)
    permit = tmp_path / "permit.xml"
    permit.write_bytes(permit_document())

    status = run(
        "sign", str(permit), "--key", str(key_path), "--cert", str(cert_path), "--password-env", "NO_SUCH_VARIABLE"
    )

    assert status == 1
    assert "NO_SUCH_VARIABLE is not set" in capsys.readouterr().err


def test_keys_new_rejects_a_party_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = run("keys", "new", "Ghana", "--out", str(tmp_path))

    assert status == 2
    assert "party 'Ghana'" in capsys.readouterr().err
