"""Signing keys of the Parties the hub signs for, loaded once per process.

A :class:`KeyStore` keeps any number of keys per Party, so that a certificate can be rotated
with an overlap: :meth:`KeyStore.signing_key` picks the newest key whose certificate is valid
at the signing time. Keys are read from PEM (private key plus a certificate chain) or PKCS#12.
A password is given by reference only, as the name of an environment variable or a file, so
that no configuration file ever contains one.

:func:`new_key_pair` creates a key and a self-signed certificate for tests and first set-up.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from signxml import SignatureMethod

from hub.errors import ConfigError, SignatureError
from signing import metrics
from signing.trust import aware_or_now, certificate_fingerprint
from signing.verifier import Reason

logger = logging.getLogger(__name__)

PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]
Algorithm = Literal["rsa", "ecdsa"]

PKCS12_SUFFIXES = frozenset({".p12", ".pfx"})
RSA_KEY_BITS = 2048


@dataclass(frozen=True)
class LoadedKey:
    """A private key with its certificate, parsed once and reused for every signature."""

    party: str
    private_key: PrivateKey = field(repr=False)
    certificate: x509.Certificate = field(repr=False)
    intermediates: tuple[x509.Certificate, ...] = field(default=(), repr=False)
    key_path: Path | None = None

    @property
    def chain(self) -> list[x509.Certificate]:
        """The signer certificate followed by its intermediates, as KeyInfo carries them."""
        return [self.certificate, *self.intermediates]

    @property
    def algorithm(self) -> Algorithm:
        return "rsa" if isinstance(self.private_key, rsa.RSAPrivateKey) else "ecdsa"

    @property
    def signature_method(self) -> SignatureMethod:
        if self.algorithm == "rsa":
            return SignatureMethod.RSA_SHA256
        return SignatureMethod.ECDSA_SHA256

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    @property
    def fingerprint(self) -> str:
        return certificate_fingerprint(self.certificate)

    @property
    def not_valid_before(self) -> datetime:
        return self.certificate.not_valid_before_utc

    @property
    def not_valid_after(self) -> datetime:
        return self.certificate.not_valid_after_utc

    def is_valid_at(self, at: datetime) -> bool:
        return self.not_valid_before <= at <= self.not_valid_after


@dataclass(frozen=True)
class _KeyMaterial:
    private_key: PrivateKey
    certificate: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]


# Keyed by (key path, its mtime, certificate path, its mtime): a replaced file is read again.
_loaded: dict[tuple[Path, int, Path | None, int | None], _KeyMaterial] = {}
_loaded_lock = threading.Lock()


class KeyStore:
    """The signing keys of one or more Parties, each key loaded once per process."""

    def __init__(self) -> None:
        self._keys: dict[str, list[LoadedKey]] = {}
        self._lock = threading.Lock()

    def add(
        self,
        party: str,
        key_path: Path | str,
        cert_path: Path | str | None = None,
        *,
        password_env: str | None = None,
        password_file: Path | str | None = None,
    ) -> LoadedKey:
        """Load a key for ``party`` and keep it beside the Party's other keys.

        ``key_path`` is a PEM private key with ``cert_path`` a PEM file of the certificate and
        its intermediates, or a PKCS#12 file (``.p12``, ``.pfx``) containing both, without
        ``cert_path``. An encrypted key takes its password from the environment variable named
        by ``password_env`` or from ``password_file``. Raises ConfigError naming the file when
        a file is missing or unreadable, the password is wrong or missing, or the key does not
        match the certificate.
        """
        material = _load_material(
            Path(key_path), _optional_path(cert_path), password_env, _optional_path(password_file)
        )
        loaded = LoadedKey(party, material.private_key, material.certificate, material.intermediates, Path(key_path))

        with self._lock:
            keys = self._keys.setdefault(party, [])
            if all(existing.fingerprint != loaded.fingerprint for existing in keys):
                keys.append(loaded)
                keys.sort(key=_newest_first)
        metrics.observe_expiry(party, loaded.certificate)
        return loaded

    def keys(self, party: str) -> list[LoadedKey]:
        """Return the Party's keys, newest certificate first."""
        with self._lock:
            return list(self._keys.get(party, []))

    def parties(self) -> list[str]:
        with self._lock:
            return sorted(self._keys)

    def signing_key(self, party: str, at: datetime | None = None) -> LoadedKey:
        """Return the newest key of ``party`` whose certificate is valid at ``at`` (default now).

        Raises SignatureError with reason ``no_signing_key`` when the Party has no key, or none
        whose certificate is valid at that time.
        """
        at = aware_or_now(at)
        keys = self.keys(party)
        if not keys:
            raise SignatureError(
                f"party '{party}' has no signing key; expected a key added with KeyStore.add('{party}', ...)",
                Reason.NO_SIGNING_KEY,
            )

        for key in keys:
            if key.is_valid_at(at):
                return key

        windows = "; ".join(
            f"{key.subject} valid {key.not_valid_before:%Y-%m-%d} to {key.not_valid_after:%Y-%m-%d}" for key in keys
        )
        raise SignatureError(
            f"party '{party}' has no signing certificate valid at {at.isoformat()}; its certificates: {windows}",
            Reason.NO_SIGNING_KEY,
        )


def _newest_first(key: LoadedKey) -> tuple[float, float]:
    return (-key.not_valid_before.timestamp(), -key.not_valid_after.timestamp())


def _optional_path(path: Path | str | None) -> Path | None:
    return None if path is None else Path(path)


def _load_material(
    key_path: Path, cert_path: Path | None, password_env: str | None, password_file: Path | None
) -> _KeyMaterial:
    cert_part = (cert_path.resolve(), _mtime(cert_path)) if cert_path else (None, None)
    cache_key = (key_path.resolve(), _mtime(key_path), *cert_part)
    with _loaded_lock:
        material = _loaded.get(cache_key)
    if material is not None:
        return material

    password = _read_password(password_env, password_file)
    if key_path.suffix.lower() in PKCS12_SUFFIXES:
        material = _load_pkcs12(key_path, password)
    else:
        material = _load_pem(key_path, cert_path, password)

    with _loaded_lock:
        _loaded[cache_key] = material
    logger.info("loaded signing key %s: certificate %s, valid until %s", key_path.name,
                material.certificate.subject.rfc4514_string(), material.certificate.not_valid_after_utc.isoformat())
    return material


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError as error:
        raise ConfigError(f"key file {path} cannot be read: {error.strerror}") from error


def _read_password(password_env: str | None, password_file: Path | None) -> bytes | None:
    if password_env is not None and password_file is not None:
        raise ConfigError("password_env and password_file are both set; expected at most one of them")

    if password_env is not None:
        value = os.environ.get(password_env)
        if value is None:
            raise ConfigError(f"environment variable {password_env} is not set; expected the key password in it")
        return value.encode()

    if password_file is not None:
        try:
            # A trailing newline is almost always added by the editor, never part of the password.
            return password_file.read_bytes().rstrip(b"\r\n")
        except OSError as error:
            raise ConfigError(f"password file {password_file} cannot be read: {error.strerror}") from error
    return None


def _load_pem(key_path: Path, cert_path: Path | None, password: bytes | None) -> _KeyMaterial:
    if cert_path is None:
        raise ConfigError(f"key {key_path} is PEM; expected cert_path, a PEM file with its certificate")
    key_data = _read_file(key_path)
    cert_data = _read_file(cert_path)

    try:
        private_key = serialization.load_pem_private_key(key_data, password=password)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"key {key_path} cannot be loaded: {_password_hint(error, password)}") from error
    try:
        certificates = x509.load_pem_x509_certificates(cert_data)
    except ValueError as error:
        raise ConfigError(f"certificate file {cert_path} contains no PEM certificate: {error}") from error
    return _pair(key_path, private_key, certificates)


def _load_pkcs12(key_path: Path, password: bytes | None) -> _KeyMaterial:
    try:
        private_key, certificate, additional = pkcs12.load_key_and_certificates(_read_file(key_path), password)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"PKCS#12 file {key_path} cannot be loaded: {_password_hint(error, password)}") from error
    if private_key is None or certificate is None:
        raise ConfigError(f"PKCS#12 file {key_path} lacks a private key or a certificate; expected both")
    return _pair(key_path, private_key, [certificate, *additional])


def _password_hint(error: Exception, password: bytes | None) -> str:
    # cryptography's messages never contain the password, so they are safe to pass on.
    if password is None and isinstance(error, TypeError):
        return "the key is encrypted; expected password_env or password_file"
    return f"{error} (wrong password or damaged file?)"


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ConfigError(f"file {path} cannot be read: {error.strerror}") from error


def _pair(key_path: Path, private_key: object, certificates: list[x509.Certificate]) -> _KeyMaterial:
    if not isinstance(private_key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ConfigError(f"key {key_path} is {type(private_key).__name__}; expected an RSA or ECDSA key")

    public_der = _public_der(private_key.public_key())
    matching = [cert for cert in certificates if _public_der(cert.public_key()) == public_der]
    if not matching:
        raise ConfigError(
            f"key {key_path} matches none of its {len(certificates)} certificate(s); expected its own certificate"
        )

    certificate = matching[0]
    intermediates = tuple(cert for cert in certificates if cert is not certificate)
    return _KeyMaterial(private_key, certificate, intermediates)


def _public_der(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def new_key_pair(
    party: str,
    out_dir: Path | str,
    *,
    algorithm: Algorithm = "rsa",
    days: int = 365,
    common_name: str | None = None,
    organization: str | None = None,
    valid_from: datetime | None = None,
    password_env: str | None = None,
) -> tuple[Path, Path]:
    """Create a private key and a self-signed certificate for ``party``; return their paths.

    The certificate has subject C=party, the digitalSignature and nonRepudiation key usages,
    and is valid for ``days`` days from ``valid_from`` (default now). The key is written
    unencrypted with mode 0600 unless ``password_env`` names a variable holding a password.
    Files are named ``PARTY-YYYYMMDDTHHMMSSZ-ALGORITHM.key.pem`` and ``.cert.pem``.
    """
    if len(party) != 2 or not party.isalpha() or not party.isupper():
        raise ConfigError(f"party '{party}' is not an ISO 3166 alpha-2 code; expected two capital letters, e.g. GH")
    if days < 1:
        raise ConfigError(f"days {days} is too short; expected a validity of at least 1 day")
    start = aware_or_now(valid_from)
    private_key = _generate_key(algorithm)
    certificate = _self_signed(private_key, party, common_name, organization, start, days)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{party}-{start:%Y%m%dT%H%M%SZ}-{algorithm}"
    key_path = out / f"{stem}.key.pem"
    cert_path = out / f"{stem}.cert.pem"
    _write_private(key_path, _private_pem(private_key, _read_password(password_env, None)))
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def _generate_key(algorithm: str) -> PrivateKey:
    if algorithm == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    if algorithm == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    raise ConfigError(f"algorithm '{algorithm}' is not supported; expected 'rsa' or 'ecdsa'")


def _self_signed(
    private_key: PrivateKey, party: str, common_name: str | None, organization: str | None, start: datetime, days: int
) -> x509.Certificate:
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, party)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name or f"CITES Management Authority {party}"))
    name = x509.Name(attributes)

    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(signature_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(private_key.public_key()), critical=False)
    )
    return builder.sign(private_key, hashes.SHA256())


def signature_key_usage() -> x509.KeyUsage:
    """Return the key usage of a document-signing certificate: digitalSignature, nonRepudiation."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _private_pem(private_key: PrivateKey, password: bytes | None) -> bytes:
    encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
    if password:
        encryption = serialization.BestAvailableEncryption(password)
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _write_private(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
