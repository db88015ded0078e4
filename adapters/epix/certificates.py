"""A small certificate authority for tests and first trials of EPIX mutual TLS.

:class:`CertificateAuthority` makes a CA, then server certificates (for 127.0.0.1 and
localhost) and client certificates whose subject names a Party with ``C=XX``. Keys are ECDSA
P-256, written unencrypted with mode 0600. These certificates are for loopback tests and
walkthroughs: production uses the certificates EPIX and the Parties exchange.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.errors import ConfigError


@dataclass(frozen=True)
class IssuedCertificate:
    """The PEM files of an issued certificate and its private key."""

    cert: Path
    key: Path


class CertificateAuthority:
    """A CA whose key and certificate are written to ``directory`` (created if needed)."""

    def __init__(self, directory: Path | str, name: str = "cites-hub test CA", *, days: int = 30) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.days = days
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = self._builder(subject, subject, self._key.public_key())
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        builder = builder.add_extension(_key_usage(ca=True), critical=True)
        self.certificate = builder.sign(self._key, hashes.SHA256())
        self.cert = self._write_certificate(self.certificate, "ca")

    def issue_server(self, name: str = "localhost", *, ip: str = "127.0.0.1") -> IssuedCertificate:
        """Issue a server certificate for DNS ``name`` and address ``ip``."""
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        names = [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address(ip))]
        extensions: list[x509.ExtensionType] = [
            x509.SubjectAlternativeName(names),
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
        ]
        return self._issue(subject, extensions, f"server-{name}")

    def issue_client(self, country: str | None, common_name: str, *, organization: str | None = None) -> IssuedCertificate:
        """Issue a client certificate with subject ``C=country, O=organization, CN=common_name``.

        ``country`` None leaves ``C`` out, as in a certificate that names no Party.
        """
        if country is not None and not (len(country) == 2 and country.isalpha() and country.isupper()):
            raise ConfigError(f"country '{country}' is not an ISO 3166-1 alpha-2 code; expected e.g. XB")
        attributes = []
        if country is not None:
            attributes.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
        if organization:
            attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        extensions: list[x509.ExtensionType] = [x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])]
        stem = f"client-{country or 'none'}-{_file_safe(common_name)}"
        return self._issue(x509.Name(attributes), extensions, stem)

    def _issue(self, subject: x509.Name, extensions: list[x509.ExtensionType], stem: str) -> IssuedCertificate:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = self._builder(subject, self.certificate.subject, key.public_key())
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(_key_usage(ca=False), critical=True)
        for extension in extensions:
            builder = builder.add_extension(extension, critical=False)
        certificate = builder.sign(self._key, hashes.SHA256())
        return IssuedCertificate(cert=self._write_certificate(certificate, stem), key=self._write_key(key, stem))

    def _builder(self, subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
        now = datetime.now(timezone.utc)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=self.days))
        )

    def _write_certificate(self, certificate: x509.Certificate, stem: str) -> Path:
        path = self.directory / f"{stem}.cert.pem"
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return path

    def _write_key(self, key: ec.EllipticCurvePrivateKey, stem: str) -> Path:
        path = self.directory / f"{stem}.key.pem"
        path.touch(mode=0o600)
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        return path


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=not ca, key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False,
    )


def _file_safe(name: str) -> str:
    return "".join(character if character.isalnum() else "-" for character in name).strip("-").lower()


CONDUIT_COMMON_NAME = "epix-conduit"


@dataclass(frozen=True)
class LoopbackCertificates:
    """A CA with what a loopback EPIX setup needs: one server certificate, a client per Party, the conduit's client."""

    ca: Path
    server: IssuedCertificate
    parties: dict[str, IssuedCertificate]
    conduit: IssuedCertificate
    authority: CertificateAuthority


def loopback_certificates(directory: Path | str, parties: tuple[str, ...] = ("XA", "XB")) -> LoopbackCertificates:
    """Make a CA in ``directory`` and issue: a server certificate for 127.0.0.1, a client certificate
    ``C=XX, CN=Management Authority of XX`` per Party, and the conduit's client certificate
    ``CN=epix-conduit`` (no ``C``, as it names no Party)."""
    authority = CertificateAuthority(directory)
    clients = {party: authority.issue_client(party, f"Management Authority of {party}") for party in parties}
    return LoopbackCertificates(ca=authority.cert, server=authority.issue_server(), parties=clients,
                                conduit=authority.issue_client(None, CONDUIT_COMMON_NAME), authority=authority)
