"""Prometheus metrics of signing and verification, in the default registry.

``cites_hub_certificate_expiry_seconds{partner}`` is computed at scrape time, so it never goes
stale between loads. With several certificates for one partner (a rotation overlap) it reports
the one that expires last, so an old certificate about to expire beside a new one raises no alert.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from prometheus_client import Counter, Gauge

CERTIFICATE_EXPIRY = Gauge(
    "cites_hub_certificate_expiry_seconds",
    "Seconds until the last certificate known for a partner or own Party expires (negative once expired).",
    ["partner"],
)
VERIFICATION_FAILURES = Counter(
    "cites_hub_signature_verification_failures_total",
    "XML signatures rejected on verification, by reason code.",
    ["reason"],
)
SIGNATURES = Counter(
    "cites_hub_signatures_total",
    "XML signatures made, by signing Party.",
    ["party"],
)

# partner -> certificate fingerprint -> expiry time
_expiries: dict[str, dict[str, datetime]] = {}
_expiries_lock = threading.Lock()


def observe_expiry(partner: str, certificate: x509.Certificate, *, fingerprint: str | None = None) -> None:
    """Count ``certificate`` in the partner's expiry gauge; observing it again changes nothing.

    ``fingerprint`` is the certificate's SHA-256 fingerprint in hex, if the caller has it already.
    """
    fingerprint = fingerprint or certificate.fingerprint(hashes.SHA256()).hex()
    with _expiries_lock:
        known = _expiries.setdefault(partner, {})
        first = not known
        known[fingerprint] = certificate.not_valid_after_utc
    if first:
        CERTIFICATE_EXPIRY.labels(partner).set_function(lambda: seconds_until_expiry(partner))


def seconds_until_expiry(partner: str, now: datetime | None = None) -> float:
    """Return the seconds until the partner's last-expiring certificate expires; NaN if none."""
    with _expiries_lock:
        expiries = list(_expiries.get(partner, {}).values())
    if not expiries:
        return float("nan")
    now = now or datetime.now(timezone.utc)
    return (max(expiries) - now).total_seconds()
