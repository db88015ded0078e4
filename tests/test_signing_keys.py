"""Signing keys: creation, loading once, passwords by reference, and choice during rotation."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from hub.errors import ConfigError, SignatureError
from signing.keys import KeyStore, new_key_pair
from tests.signing_corpus import NOW, Material, material

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Material:
    return material(tmp_path_factory.mktemp("signing-keys"))


def encrypted_pair(folder: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("TEST_KEY_PASSWORD", PASSWORD)
    return new_key_pair("GH", folder, algorithm="ecdsa", password_env="TEST_KEY_PASSWORD")


def test_new_rsa_key_pair_signs_for_its_party(tmp_path: Path) -> None:
    key_path, cert_path = new_key_pair("GH", tmp_path, algorithm="rsa", days=30)

    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    private_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value

    assert isinstance(private_key, rsa.RSAPrivateKey)
    assert private_key.key_size == 2048
    assert key_usage.digital_signature
    assert certificate.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "GH"
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc == timedelta(days=30)


def test_new_ecdsa_key_uses_p256(tmp_path: Path) -> None:
    key_path, _ = new_key_pair("FR", tmp_path, algorithm="ecdsa", common_name="MA France test")

    private_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)

    assert isinstance(private_key, ec.EllipticCurvePrivateKey)
    assert private_key.curve.name == "secp256r1"


def test_new_key_file_is_owner_only(tmp_path: Path) -> None:
    key_path, _ = new_key_pair("GH", tmp_path, algorithm="ecdsa")

    mode = os.stat(key_path).st_mode & 0o777

    assert mode == 0o600


def test_party_name_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="party 'Ghana'"):
        new_key_pair("Ghana", tmp_path)


def test_key_is_loaded_once_per_process(keys: Material) -> None:
    first = KeyStore().add("GH", keys.rsa.key, keys.rsa.cert)

    second = KeyStore().add("GH", keys.rsa.key, keys.rsa.cert)

    assert second.private_key is first.private_key


def test_replaced_key_file_is_loaded_again(tmp_path: Path) -> None:
    key_path, cert_path = new_key_pair("GH", tmp_path, algorithm="ecdsa")
    first = KeyStore().add("GH", key_path, cert_path)
    stat = key_path.stat()
    os.utime(key_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    second = KeyStore().add("GH", key_path, cert_path)

    assert second.private_key is not first.private_key


def test_encrypted_key_password_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_path, cert_path = encrypted_pair(tmp_path, monkeypatch)

    loaded = KeyStore().add("GH", key_path, cert_path, password_env="TEST_KEY_PASSWORD")

    assert loaded.algorithm == "ecdsa"


def test_password_file_may_end_with_a_newline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_path, cert_path = encrypted_pair(tmp_path, monkeypatch)
    password_file = tmp_path / "password.txt"
    password_file.write_text(PASSWORD + "\n")

    loaded = KeyStore().add("GH", key_path, cert_path, password_file=password_file)

    assert loaded.party == "GH"


def test_unset_password_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_path, cert_path = encrypted_pair(tmp_path, monkeypatch)
    monkeypatch.delenv("TEST_KEY_PASSWORD")

    with pytest.raises(ConfigError, match="TEST_KEY_PASSWORD is not set"):
        KeyStore().add("GH", key_path, cert_path, password_env="TEST_KEY_PASSWORD")


def test_wrong_password_is_not_echoed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_path, cert_path = encrypted_pair(tmp_path, monkeypatch)
    monkeypatch.setenv("WRONG_PASSWORD", "not the password")

    with pytest.raises(ConfigError, match=key_path.name) as rejected:
        KeyStore().add("GH", key_path, cert_path, password_env="WRONG_PASSWORD")

    assert "not the password" not in str(rejected.value)


def test_encrypted_key_without_password_asks_for_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_path, cert_path = encrypted_pair(tmp_path, monkeypatch)

    with pytest.raises(ConfigError, match="expected password_env or password_file"):
        KeyStore().add("GH", key_path, cert_path)


def test_key_of_another_certificate_is_rejected(keys: Material) -> None:
    with pytest.raises(ConfigError, match="matches none of its 1 certificate"):
        KeyStore().add("GH", keys.rsa.key, keys.ecdsa.cert)


def test_pkcs12_file_is_loaded_with_its_password(
    keys: Material, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "fr.p12"
    encryption = serialization.BestAvailableEncryption(PASSWORD.encode())
    bundle.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"fr", keys.ecdsa.private_key(), keys.ecdsa.certificate(), None, encryption
        )
    )
    monkeypatch.setenv("P12_PASSWORD", PASSWORD)

    loaded = KeyStore().add("FR", bundle, password_env="P12_PASSWORD")

    assert loaded.certificate == keys.ecdsa.certificate()


def test_loading_logs_neither_key_nor_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    key_path, cert_path = encrypted_pair(tmp_path, monkeypatch)
    caplog.set_level(logging.DEBUG)

    KeyStore().add("GH", key_path, cert_path, password_env="TEST_KEY_PASSWORD")

    assert PASSWORD not in caplog.text
    assert "PRIVATE KEY" not in caplog.text


def test_loaded_key_repr_shows_no_key_material(keys: Material) -> None:
    loaded = KeyStore().add("GH", keys.rsa.key, keys.rsa.cert)

    text = repr(loaded)

    assert "private_key" not in text
    assert "GH" in text


def test_newest_valid_key_signs_during_the_overlap(keys: Material) -> None:
    store = keys.keystore()

    chosen = store.signing_key("KE", at=NOW)

    assert chosen.certificate == keys.new.certificate()


def test_old_key_signs_before_new_is_valid(keys: Material) -> None:
    store = keys.keystore()

    chosen = store.signing_key("KE", at=NOW - timedelta(days=100))

    assert chosen.certificate == keys.old.certificate()


def test_party_without_valid_key_cannot_sign(keys: Material) -> None:
    store = keys.keystore()

    with pytest.raises(SignatureError, match="party 'KE' has no signing certificate valid") as rejected:
        store.signing_key("KE", at=NOW + timedelta(days=400))

    assert rejected.value.reason == "no_signing_key"


def test_unknown_party_cannot_sign(keys: Material) -> None:
    with pytest.raises(SignatureError, match="party 'ZZ' has no signing key"):
        keys.keystore().signing_key("ZZ")


def test_naive_signing_time_is_rejected(keys: Material) -> None:
    with pytest.raises(ValueError, match="has no timezone"):
        keys.keystore().signing_key("GH", at=NOW.replace(tzinfo=None))
