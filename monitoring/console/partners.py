"""Partner profiles as the console shows them: endpoints with credentials hidden, certificates and last contact.

Secrets never reach a page. API keys show as a count of hashes. A password in a URL, and any
option whose name marks it as a secret, show as ``hidden``. An option that names an environment
variable or a file (``*_env``, ``*_file``) shows that name, not its content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography import x509

from hub.config import SIMULATOR_URL
from hub.envelope import utcnow
from monitoring.console import flows
from signing.trust import certificate_fingerprint

HIDDEN = "hidden"
SECRET_NAME = re.compile(r"(password|passwd|secret|token|credential|api_?key|private|auth)", re.IGNORECASE)
REFERENCE_NAME = re.compile(r"_(env|file|path)$", re.IGNORECASE)


@dataclass(frozen=True)
class Certificate:
    """A certificate with its days to expiry (negative once expired)."""

    role: str
    subject: str
    fingerprint: str
    not_after: datetime
    days_left: int


@dataclass(frozen=True)
class PartnerView:
    name: str
    adapter: str
    party: str | None
    receives: bool
    may_send: list[str]
    options: dict[str, Any]
    api_keys: int
    sign_outbound: bool
    verify_inbound: bool
    certificates: list[Certificate]
    fingerprints_without_certificate: int
    last_delivered: datetime | None
    last_received: datetime | None


def hide_secrets(value: Any, name: str = "") -> Any:
    """Return a copy of a configuration value with every secret replaced by ``hidden``."""
    if isinstance(value, dict):
        return {key: hide_secrets(item, str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [hide_secrets(item, name) for item in value]
    if not isinstance(value, str) or not value:
        return value
    if SECRET_NAME.search(name) and not REFERENCE_NAME.search(name):
        return HIDDEN
    return hide_url_password(value)


def hide_url_password(text: str) -> str:
    """``text`` with the password of a URL in it replaced, e.g. ``amqp://hub:hidden@broker/``."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    if not parts.scheme or parts.password is None:
        return text
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{HIDDEN}@{host}{port}"))


def certificate(role: str, cert: x509.Certificate, fingerprint: str, now: datetime) -> Certificate:
    not_after = cert.not_valid_after_utc
    return Certificate(role, cert.subject.rfc4514_string(), fingerprint, not_after, (not_after - now).days)


def partner_views(hub: Any) -> list[PartnerView]:
    """Build the view of every configured partner, in name order."""
    now = utcnow()
    return [_partner_view(hub, name, partner, now) for name, partner in sorted(hub.config.partners.items())]


def _partner_view(hub: Any, name: str, partner: Any, now: datetime) -> PartnerView:
    certificates, bare = _trusted(hub, name, now)
    delivered = flows.last_event(hub.journal, name, flows.DELIVERED).at if name in hub.adapters else None
    return PartnerView(
        name=name, adapter=partner.adapter, party=partner.party, receives=name in hub.adapters,
        may_send=[str(getattr(kind, "value", kind)) for kind in partner.may_send],
        options=_options(hub, name, partner.options), api_keys=len(partner.api_key_sha256),
        sign_outbound=partner.sign_outbound, verify_inbound=partner.verify_inbound, certificates=certificates,
        fingerprints_without_certificate=bare, last_delivered=delivered,
        last_received=flows.last_received(hub.journal, name) if partner.may_send else None,
    )


def _options(hub: Any, name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Return the partner's options with secrets hidden and a simulator's address filled in."""
    visible = hide_secrets(dict(options))
    simulator = getattr(hub, "simulators", {}).get(name)
    if visible.get("url") == SIMULATOR_URL and getattr(simulator, "running", False):
        visible["url"] = f"simulator at {simulator.url}"
    return visible


def _trusted(hub: Any, partner: str, now: datetime) -> tuple[list[Certificate], int]:
    """Return the partner's pinned and CA certificates, and how many pins are fingerprints alone."""
    trust = hub.signatures.trust.get(partner) if hasattr(hub, "signatures") else None
    if trust is None:
        return [], 0
    pinned = [certificate("pinned", cert, fingerprint, now) for fingerprint, cert in trust.pinned.items() if cert]
    authorities = [certificate("CA", cert, certificate_fingerprint(cert), now) for cert in trust.authorities]
    return pinned + authorities, sum(1 for cert in trust.pinned.values() if cert is None)


def own_certificates(hub: Any) -> list[Certificate]:
    """Our signing certificates, each marked with its Party, with days to expiry."""
    if not hasattr(hub, "signatures"):
        return []
    now = utcnow()
    keystore = hub.signatures.keystore
    return [certificate(f"signing for {party}", key.certificate, key.fingerprint, now)
            for party in keystore.parties() for key in keystore.keys(party)]
