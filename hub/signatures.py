"""The signature policy of the pipeline, built from the partner profiles.

Inbound: a partner whose profile sets ``verify_inbound`` must sign what it sends; the pipeline
then validates and reads only the content the signature covers. Outbound: a partner whose profile
sets ``sign_outbound`` receives the adapter's output signed with our Party's newest valid key. A
document that arrives signed is forwarded as the exact bytes received, never signed again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from hub.config import HubConfig
from hub.errors import ConfigError, Finding, SignatureError, Severity
from signing.keys import KeyStore
from signing.signer import Signer
from signing.trust import TrustStore
from signing.verifier import Reason, Verifier

log = logging.getLogger(__name__)


class SignatureState:
    UNSIGNED = "unsigned"
    VERIFIED = "verified"
    INVALID = "invalid"


@dataclass(frozen=True)
class InboundCheck:
    """What verification found: the bytes to validate, the state, the signer and any finding."""

    content: bytes
    state: str
    signer: str | None = None
    finding: Finding | None = None


class SignaturePolicy:
    """Keys, trust and the per-partner rules, loaded once per process."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.keystore = KeyStore()
        for key in config.keys:
            self.keystore.add(key.party, key.key, key.cert, password_env=key.password_env,
                              password_file=key.password_file)
        self.trust = TrustStore()
        for name, partner in config.partners.items():
            if partner.trust is not None:
                self._load_trust(name, partner.trust)
        self.signer = Signer(self.keystore)
        self.verifier = Verifier(self.trust)

    def _load_trust(self, partner: str, trust) -> None:
        for path in trust.certificates:
            self.trust.pin_certificates(partner, path)
        for fingerprint in trust.fingerprints:
            self.trust.pin_fingerprint(partner, fingerprint)
        if trust.ca is not None:
            self.trust.add_ca(partner, trust.ca, expected_subject=trust.expected_subject)
        if trust.allow_sha1:
            self.trust.set_allow_sha1(partner)
        if not (trust.certificates or trust.fingerprints or trust.ca):
            raise ConfigError(f"partner '{partner}': trust names no certificate, fingerprint or ca")

    def check_inbound(self, sender: str, payload: bytes) -> InboundCheck:
        """Verify the sender's signature when its profile requires one."""
        partner = self.config.partners.get(sender)
        if partner is None or not partner.verify_inbound:
            return InboundCheck(content=payload, state=SignatureState.UNSIGNED)
        try:
            verified = self.verifier.verify(payload, sender)
        except SignatureError as error:
            finding = Finding(Severity.ERROR, "/Signature", f"signature rejected: {error}",
                              value=str(error.reason), expected=f"a valid signature by a certificate {sender} is trusted for")
            return InboundCheck(content=payload, state=SignatureState.INVALID, finding=finding)
        return InboundCheck(content=verified.signed_xml, state=SignatureState.VERIFIED, signer=verified.signer_subject)

    def sign_outbound(self, destination: str, body: bytes) -> tuple[bytes, bool]:
        """Return the body to send and whether the hub signed it.

        A body that already carries a signature (a partner's signed document being forwarded) is
        returned unchanged.
        """
        partner = self.config.partners.get(destination)
        if partner is None or not partner.sign_outbound:
            return body, False
        try:
            return self.signer.sign(body, self.config.party), True
        except SignatureError as error:
            if error.reason == Reason.ALREADY_SIGNED:
                return body, False
            raise
