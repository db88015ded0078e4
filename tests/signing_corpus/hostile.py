"""One hostile or broken signed document per rejection reason, built from the session's keys.

Each :class:`HostileCase` names the partner the document claims to come from, the time of the
check and the reason the verifier must give. Documents outside the hub's profile (SHA-1, HMAC,
a partial reference) are signed with signxml directly, as a partner's own software would.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureMethod, XMLSigner

from hub import safexml
from signing.keys import KeyStore
from signing.signer import Signer
from signing.trust import TrustStore
from tests.signing_corpus import NOW, PERMIT_NS, KeyFiles, Material, permit_document

DS = "{http://www.w3.org/2000/09/xmldsig#}"
MD5_DIGEST = "http://www.w3.org/2001/04/xmldsig-more#md5"


def trust_store(material: Material) -> TrustStore:
    """Return the trust the hostile cases are checked against (the attacker is never pinned)."""
    store = TrustStore()
    for files in (material.rsa, material.future, material.no_signing_usage):
        store.pin_certificates("GH", files.cert)
    store.pin_certificates("FR", material.ecdsa.cert)
    store.pin_certificates("KE", material.old.cert)
    store.pin_certificates("KE", material.new.cert)
    store.add_ca("TZ", material.ca.cert, expected_subject={"C": "TZ", "O": "Wildlife Division"})
    return store


def hub_sign(files: KeyFiles, party: str, payload: bytes | None = None, at: datetime | None = None) -> bytes:
    """Sign with the hub's Signer and a key store holding only ``files``."""
    keystore = KeyStore()
    keystore.add(party, files.key, files.cert)
    return Signer(keystore).sign(payload or permit_document(), party, at=at)


def raw_sign(
    files: KeyFiles,
    payload: bytes | None = None,
    *,
    method: SignatureMethod = SignatureMethod.ECDSA_SHA256,
    digest: DigestAlgorithm = DigestAlgorithm.SHA256,
    reference_uri: str | None = None,
) -> bytes:
    """Sign with signxml directly, allowing what the hub's profile never produces."""
    signer = XMLSigner(c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    # signxml raises InvalidInput for SHA-1; setting the attributes after construction is how a
    # legacy partner's software is imitated here.
    signer.sign_alg = method
    signer.digest_alg = digest
    root = safexml.parse(payload or permit_document())
    signed = signer.sign(root, key=files.private_key(), cert=[files.certificate()], reference_uri=reference_uri)
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


def _sha1(material: Material) -> bytes:
    return raw_sign(material.rsa, method=SignatureMethod.RSA_SHA1, digest=DigestAlgorithm.SHA1)


def _md5_digest(material: Material) -> bytes:
    root = safexml.parse(hub_sign(material.rsa, "GH"))
    root.find(f".//{DS}DigestMethod").set("Algorithm", MD5_DIGEST)
    return etree.tostring(root)


def _hmac(material: Material) -> bytes:
    signer = XMLSigner(signature_algorithm=SignatureMethod.HMAC_SHA256)
    return etree.tostring(signer.sign(safexml.parse(permit_document()), key=b"shared secret"))


def _dtd(material: Material) -> bytes:
    signed = hub_sign(material.rsa, "GH")
    declaration, _, rest = signed.partition(b"\n")
    return declaration + b'\n<!DOCTYPE CITESEPermit [<!ENTITY quantity "100">]>\n' + rest


def _wrapped_signed_document(material: Material) -> bytes:
    """A forged permit for 10,000 specimens that carries the genuine signed permit inside it."""
    genuine = safexml.parse(hub_sign(material.rsa, "GH"))
    forged = safexml.parse(permit_document(quantity="10000", item_id=None))
    extension = etree.SubElement(forged, f"{{{PERMIT_NS}}}Extension")
    extension.append(genuine)
    return etree.tostring(forged)


def _id_reference_moved(material: Material, *, forged_id: str | None = None) -> bytes:
    """The genuine permit signed by its Id, moved into an extension of a forged permit.

    signxml alone accepts this document and returns the genuine permit, while a reader of the
    root reads the forged quantity of 10,000.
    """
    genuine = safexml.parse(raw_sign(material.rsa, permit_document(root_id="permit-1"),
                                     method=SignatureMethod.RSA_SHA256, reference_uri="#permit-1"))
    signature = genuine.find(f"{DS}Signature")
    genuine.remove(signature)

    forged = safexml.parse(permit_document(quantity="10000", root_id=forged_id, item_id=None))
    forged.append(signature)
    extension = etree.SubElement(forged, f"{{{PERMIT_NS}}}Extension")
    extension.append(genuine)
    return etree.tostring(forged)


def _item_only(material: Material) -> bytes:
    return raw_sign(material.rsa, method=SignatureMethod.RSA_SHA256, reference_uri="#item-A")


def _pretty_printed(material: Material) -> bytes:
    return etree.tostring(safexml.parse(hub_sign(material.rsa, "GH")), pretty_print=True)


def _quantity_changed(material: Material) -> bytes:
    return hub_sign(material.rsa, "GH").replace(b">100<", b">10000<")


def _signature_value_changed(material: Material) -> bytes:
    root = safexml.parse(hub_sign(material.rsa, "GH"))
    value = root.find(f"{DS}Signature/{DS}SignatureValue")
    raw = bytearray(base64.b64decode(value.text))
    raw[10] ^= 0x01
    value.text = base64.b64encode(bytes(raw)).decode()
    return etree.tostring(root)


@dataclass(frozen=True)
class HostileCase:
    name: str
    reason: str
    match: str  # a part of the message that names the rule broken
    build: Callable[[Material], bytes]
    partner: str = "GH"
    days_later: int = 0

    def at(self) -> datetime:
        return NOW + timedelta(days=self.days_later)


CASES = [
    HostileCase("sha1_signature_and_digest", "weak_algorithm", "rsa-sha1' uses SHA-1", _sha1),
    HostileCase("md5_digest", "weak_algorithm", "DigestMethod .* uses MD5", _md5_digest),
    HostileCase("hmac_signature", "hmac_not_allowed", "hmac-sha256' is an HMAC", _hmac),
    HostileCase("dtd_with_entity", "dtd", "DTD", _dtd),
    HostileCase("signed_permit_wrapped_in_forged_one", "wrapping", "ds:Signature is inside <CITESEPermit>",
                _wrapped_signed_document),
    HostileCase("id_reference_to_moved_permit", "wrapping", "second <CITESEPermit>", _id_reference_moved),
    HostileCase("duplicate_id", "wrapping", "Id 'permit-1' is carried by <CITESEPermit> and <CITESEPermit>",
                lambda material: _id_reference_moved(material, forged_id="permit-1")),
    HostileCase("reference_covers_one_item", "not_covered", "URI '#item-A' does not cover", _item_only),
    HostileCase("unsigned", "missing", "no ds:Signature", lambda material: permit_document()),
    HostileCase("signed_by_unpinned_key", "untrusted", "not trusted for partner 'GH'",
                lambda material: hub_sign(material.attacker, "GH")),
    HostileCase("signed_by_other_partner", "untrusted", "not trusted for partner 'GH'",
                lambda material: hub_sign(material.ecdsa, "FR")),
    HostileCase("ca_issued_to_other_subject", "untrusted", "issued by its CA to subject C=TZ, O=Wildlife Division",
                lambda material: hub_sign(material.issued_other, "TZ"), partner="TZ"),
    HostileCase("subject_of_ca_signer_but_self_signed", "untrusted", "does not chain to a CA of partner 'TZ'",
                lambda material: hub_sign(material.impostor, "TZ"), partner="TZ"),
    HostileCase("expired_certificate", "expired", "expired at", lambda material: hub_sign(material.old, "KE"),
                partner="KE", days_later=10),
    HostileCase("certificate_not_yet_valid", "not_yet_valid", "is not valid before",
                lambda material: hub_sign(material.future, "GH", at=NOW + timedelta(days=31))),
    HostileCase("no_digital_signature_usage", "key_usage", "lacks the digitalSignature key usage",
                lambda material: raw_sign(material.no_signing_usage)),
    HostileCase("pretty_printed", "digest_mismatch", "re-indented", _pretty_printed),
    HostileCase("quantity_changed", "digest_mismatch", "Digest mismatch", _quantity_changed),
    HostileCase("signature_value_changed", "bad_signature", "SignatureValue does not verify", _signature_value_changed),
]
