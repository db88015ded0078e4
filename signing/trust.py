"""Trust stores: the signer certificates the hub accepts from each partner.

A partner is trusted through pinned certificates (PEM or DER files, or SHA-256 fingerprints)
or through a CA certificate together with the subject its signer certificates must carry
(for example C=FR and O=the Management Authority), so that the CA alone never vouches for
any subject it issued to. The system CA store is never consulted, and a certificate that a
message carries is believed only when it matches one of these.

This module only matches certificates: :mod:`signing.verifier` decides and names the reason.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import verification
from cryptography.x509.oid import NameOID

from hub.errors import ConfigError
from signing import metrics

logger = logging.getLogger(__name__)

CERTIFICATE_SUFFIXES = frozenset({".pem", ".crt", ".cer", ".der"})

SUBJECT_ATTRIBUTES: dict[str, x509.ObjectIdentifier] = {
    "C": NameOID.COUNTRY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
    "L": NameOID.LOCALITY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "serialNumber": NameOID.SERIAL_NUMBER,
}


def certificate_fingerprint(certificate: x509.Certificate) -> str:
    """Return the SHA-256 fingerprint of the certificate's DER form as lowercase hex."""
    return certificate.fingerprint(hashes.SHA256()).hex()


def aware_or_now(at: datetime | None) -> datetime:
    """Return ``at``, or the current time in UTC when it is None. Raises ValueError if naive."""
    if at is None:
        return datetime.now(timezone.utc)
    if at.tzinfo is None:
        raise ValueError(f"time {at.isoformat()} has no timezone; expected a timezone-aware datetime")
    return at


@dataclass
class PartnerTrust:
    """The certificates, CAs and policy that one partner's signatures are checked against."""

    partner: str
    pinned: dict[str, x509.Certificate | None] = field(default_factory=dict)
    authorities: list[x509.Certificate] = field(default_factory=list)
    expected_subject: dict[str, str] = field(default_factory=dict)
    allow_sha1: bool = False

    def find_pinned(self, presented: Sequence[x509.Certificate]) -> x509.Certificate | None:
        """Return the pinned certificate among ``presented``, or None if none is pinned."""
        for certificate in presented:
            fingerprint = certificate_fingerprint(certificate)
            if fingerprint in self.pinned:
                return self.pinned[fingerprint] or certificate
        return None

    def find_issued_leaf(self, presented: Sequence[x509.Certificate]) -> x509.Certificate | None:
        """Return the first non-CA certificate of ``presented`` with the expected subject, if any."""
        if not self.authorities:
            return None
        for certificate in presented:
            if not _is_ca(certificate) and self.subject_matches(certificate):
                return certificate
        return None

    def subject_matches(self, certificate: x509.Certificate) -> bool:
        for short_name, expected in self.expected_subject.items():
            attributes = certificate.subject.get_attributes_for_oid(SUBJECT_ATTRIBUTES[short_name])
            values = [attribute.value for attribute in attributes]
            if values != [expected]:
                return False
        return True

    def chain_error(self, leaf: x509.Certificate, presented: Sequence[x509.Certificate], at: datetime) -> str | None:
        """Return why ``leaf`` does not chain to one of the partner's CAs at ``at``, or None."""
        intermediates = [certificate for certificate in presented if certificate is not leaf]
        builder = (
            verification.PolicyBuilder()
            .store(verification.Store(self.authorities))
            .time(at)
            # The verifier checks the signer's key usage itself, to report it as its own reason.
            .extension_policies(
                ee_policy=verification.ExtensionPolicy.permit_all(),
                ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
            )
        )
        try:
            builder.build_client_verifier().verify(leaf, intermediates)
        except verification.VerificationError as error:
            return str(error)
        return None


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return constraints.ca


class TrustStore:
    """The trust of every partner, loaded from files and looked up by partner name."""

    def __init__(self) -> None:
        self._partners: dict[str, PartnerTrust] = {}
        self._lock = threading.Lock()

    def get(self, partner: str) -> PartnerTrust | None:
        with self._lock:
            return self._partners.get(partner)

    def partners(self) -> list[str]:
        with self._lock:
            return sorted(self._partners)

    def _entry(self, partner: str) -> PartnerTrust:
        with self._lock:
            return self._partners.setdefault(partner, PartnerTrust(partner))

    def pin_certificate(self, partner: str, certificate: x509.Certificate) -> None:
        """Trust signatures of ``partner`` made with the key of exactly this certificate."""
        self._entry(partner).pinned[certificate_fingerprint(certificate)] = certificate
        metrics.observe_expiry(partner, certificate)

    def pin_certificates(self, partner: str, path: Path | str) -> int:
        """Pin every certificate in a PEM or DER file, or in the certificate files of a folder.

        Returns how many were pinned. Raises ConfigError when the path contains no certificate.
        """
        certificates = load_certificates(Path(path))
        for certificate in certificates:
            self.pin_certificate(partner, certificate)
        logger.info("pinned %d certificate(s) for partner %s from %s", len(certificates), partner, path)
        return len(certificates)

    def pin_fingerprint(self, partner: str, fingerprint: str) -> None:
        """Trust the certificate with this SHA-256 fingerprint (hex, colons and case ignored)."""
        normalised = fingerprint.replace(":", "").replace(" ", "").lower()
        if len(normalised) != 64 or any(char not in "0123456789abcdef" for char in normalised):
            raise ConfigError(
                f"partner {partner} fingerprint '{fingerprint}' is not a SHA-256 fingerprint; "
                "expected 64 hexadecimal digits, colons allowed"
            )
        self._entry(partner).pinned.setdefault(normalised, None)

    def add_ca(self, partner: str, path: Path | str, *, expected_subject: Mapping[str, str]) -> None:
        """Trust certificates issued by the CA(s) in ``path`` that carry ``expected_subject``.

        ``expected_subject`` maps short attribute names (C, O, OU, CN, L, ST, serialNumber) to the
        exact value the signer certificate must have, e.g. ``{"C": "FR", "O": "..."}``. At least
        one attribute is required, because a CA may issue to more subjects than this partner.
        """
        subject = _checked_subject(partner, expected_subject)
        certificates = load_certificates(Path(path))
        not_ca = [cert.subject.rfc4514_string() for cert in certificates if not _is_ca(cert)]
        if not_ca:
            raise ConfigError(
                f"partner {partner} CA file {path} contains non-CA certificate(s) {not_ca}; expected CA certificates"
            )

        entry = self._entry(partner)
        if entry.expected_subject and entry.expected_subject != subject:
            raise ConfigError(
                f"partner {partner} expected_subject {subject} differs from the one already set "
                f"{entry.expected_subject}; expected one subject per partner"
            )
        entry.expected_subject = subject
        entry.authorities.extend(certificates)

    def set_allow_sha1(self, partner: str, allowed: bool = True) -> None:
        """Accept SHA-1 digests and signature methods from ``partner`` (verification only)."""
        self._entry(partner).allow_sha1 = allowed


def _checked_subject(partner: str, expected_subject: Mapping[str, str]) -> dict[str, str]:
    if not expected_subject:
        raise ConfigError(
            f"partner {partner} CA has no expected_subject; expected at least one attribute, e.g. C and O"
        )
    unknown = sorted(set(expected_subject) - set(SUBJECT_ATTRIBUTES))
    if unknown:
        raise ConfigError(
            f"partner {partner} expected_subject has unknown attribute(s) {unknown}; "
            f"expected some of {sorted(SUBJECT_ATTRIBUTES)}"
        )
    return dict(expected_subject)


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Read the certificates of a PEM or DER file, or of the certificate files in a folder.

    In a folder, files that contain no certificate (such as ``*.key.pem`` beside their
    certificate) are skipped. Raises ConfigError when no certificate is found.
    """
    if path.is_dir():
        files = sorted(child for child in path.iterdir() if child.suffix.lower() in CERTIFICATE_SUFFIXES)
        certificates = [certificate for file in files for certificate in _read_certificates(file, skip_others=True)]
    else:
        certificates = _read_certificates(path, skip_others=False)

    if not certificates:
        suffixes = ", ".join(sorted(CERTIFICATE_SUFFIXES))
        raise ConfigError(f"{path} contains no certificate; expected PEM or DER files ({suffixes})")
    return certificates


def _read_certificates(path: Path, *, skip_others: bool) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"certificate file {path} cannot be read: {error.strerror}") from error

    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as error:
        if skip_others:
            logger.debug("skipped %s: it contains no certificate", path)
            return []
        raise ConfigError(f"certificate file {path} is not a valid PEM or DER certificate: {error}") from error
