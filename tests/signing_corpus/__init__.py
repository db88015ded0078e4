"""Keys, certificates and hostile documents for the signing tests, made at test time.

No key material is committed: :func:`material` creates every key once per test session in a
temporary folder, and :mod:`tests.signing_corpus.hostile` builds one document per rejection
reason from these keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from signing.keys import KeyStore, new_key_pair, signature_key_usage

PERMIT_NS = "urn:un:unece:uncefact:data:standard:CITESEPermit:2"
RABIE_NS = "urn:un:unece:uncefact:data:draft:ReusableAggregateBusinessInformationEntity:1"

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def permit_document(
    number: str = "GH/2026/00123", quantity: str = "100", root_id: str | None = None, item_id: str | None = "item-A"
) -> bytes:
    """Return a small CITESEPermit document: a header and one consignment item."""
    id_attribute = f' Id="{root_id}"' if root_id else ""
    item_id_attribute = f' Id="{item_id}"' if item_id else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<CITESEPermit xmlns="{PERMIT_NS}" xmlns:ram="{RABIE_NS}"{id_attribute}>'
        f"<ram:HeaderExchangedDocument><ram:ID>{number}</ram:ID><ram:TypeCode>E</ram:TypeCode>"
        f"</ram:HeaderExchangedDocument>"
        f"<ram:SpecifiedSupplyChainConsignment><ram:IncludedSupplyChainConsignmentItem{item_id_attribute}>"
        f"<ram:ID>A</ram:ID><ram:ScientificName>Python regius</ram:ScientificName>"
        f'<ram:ItemQuantity unitCode="NAR">{quantity}</ram:ItemQuantity>'
        f"</ram:IncludedSupplyChainConsignmentItem></ram:SpecifiedSupplyChainConsignment>"
        f"</CITESEPermit>"
    ).encode()


@dataclass(frozen=True)
class KeyFiles:
    key: Path
    cert: Path

    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert.read_bytes())

    def private_key(self) -> object:
        return serialization.load_pem_private_key(self.key.read_bytes(), password=None)


@dataclass(frozen=True)
class Material:
    """Every key the signing tests use, each with its certificate file."""

    folder: Path
    rsa: KeyFiles  # GH, RSA 2048, valid from yesterday for a year
    ecdsa: KeyFiles  # FR, P-256, valid from yesterday for a year
    old: KeyFiles  # KE, expires in 5 days: the key being rotated out
    new: KeyFiles  # KE, valid from yesterday for a year: the key rotated in
    attacker: KeyFiles  # GH subject again, but a key that is not pinned
    future: KeyFiles  # GH, valid from 30 days from now
    no_signing_usage: KeyFiles  # GH, key usage keyAgreement only
    ca: KeyFiles  # a partner CA for TZ
    issued: KeyFiles  # issued by the CA to C=TZ, O=Wildlife Division
    issued_other: KeyFiles  # issued by the same CA to another organisation
    impostor: KeyFiles  # self-signed with the subject the CA's signer has

    def keystore(self) -> KeyStore:
        store = KeyStore()
        store.add("GH", self.rsa.key, self.rsa.cert)
        store.add("FR", self.ecdsa.key, self.ecdsa.cert)
        store.add("KE", self.old.key, self.old.cert)
        store.add("KE", self.new.key, self.new.cert)
        return store


_material: Material | None = None


def material(folder: Path) -> Material:
    """Create the session's keys in ``folder`` on the first call; return the same ones after."""
    global _material
    if _material is None:
        _material = _create(folder)
    return _material


def _create(folder: Path) -> Material:
    yesterday = NOW - timedelta(days=1)
    ca = _ca(folder)
    return Material(
        folder=folder,
        rsa=KeyFiles(*new_key_pair("GH", folder / "rsa", algorithm="rsa", valid_from=yesterday)),
        ecdsa=KeyFiles(*new_key_pair("FR", folder / "ecdsa", algorithm="ecdsa", valid_from=yesterday)),
        old=KeyFiles(*new_key_pair("KE", folder / "old", algorithm="ecdsa", valid_from=NOW - timedelta(days=360))),
        new=KeyFiles(*new_key_pair("KE", folder / "new", algorithm="ecdsa", valid_from=yesterday)),
        attacker=KeyFiles(*new_key_pair("GH", folder / "attacker", algorithm="ecdsa", valid_from=yesterday)),
        future=KeyFiles(*new_key_pair("GH", folder / "future", algorithm="ecdsa", valid_from=NOW + timedelta(days=30))),
        no_signing_usage=_certificate_without_signing_usage(folder / "no-usage"),
        ca=ca,
        issued=_issued(folder / "issued", ca, "Wildlife Division"),
        issued_other=_issued(folder / "issued-other", ca, "Timber Exporters Ltd"),
        impostor=_impostor(folder / "impostor"),
    )


def _write(folder: Path, private_key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> KeyFiles:
    folder.mkdir(parents=True, exist_ok=True)
    files = KeyFiles(folder / "key.pem", folder / "cert.pem")
    files.key.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    files.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return files


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=365))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _name(country: str, organization: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate_without_signing_usage(folder: Path) -> KeyFiles:
    private_key = ec.generate_private_key(ec.SECP256R1())
    name = _name("GH", "Wildlife Division", "key agreement only")
    usage = x509.KeyUsage(False, False, False, False, True, False, False, False, False)
    certificate = (
        _builder(name, name, private_key.public_key())
        .add_extension(usage, critical=True)
        .sign(private_key, hashes.SHA256())
    )
    return _write(folder, private_key, certificate)


def _ca(folder: Path) -> KeyFiles:
    private_key = ec.generate_private_key(ec.SECP256R1())
    name = _name("TZ", "Tanzania Test Root CA", "Tanzania Test Root CA")
    usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    certificate = (
        _builder(name, name, private_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .sign(private_key, hashes.SHA256())
    )
    return _write(folder / "ca", private_key, certificate)


def _issued(folder: Path, ca: KeyFiles, organization: str) -> KeyFiles:
    ca_key = ca.private_key()
    ca_certificate = ca.certificate()
    private_key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        _builder(_name("TZ", organization, f"{organization} signer"), ca_certificate.subject, private_key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(signature_key_usage(), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_certificate.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return _write(folder, private_key, certificate)


def _impostor(folder: Path) -> KeyFiles:
    private_key = ec.generate_private_key(ec.SECP256R1())
    name = _name("TZ", "Wildlife Division", "Wildlife Division signer")
    certificate = (
        _builder(name, name, private_key.public_key())
        .add_extension(signature_key_usage(), critical=True)
        .sign(private_key, hashes.SHA256())
    )
    return _write(folder, private_key, certificate)
