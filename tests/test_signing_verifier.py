"""Verification of partner signatures: good signatures, rotation, and one rejection per reason."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from lxml import etree
from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier

from hub.errors import SignatureError
from signing.trust import TrustStore
from signing.verifier import Reason, Verifier
from tests.signing_corpus import NOW, PERMIT_NS, RABIE_NS, Material, material, permit_document
from tests.signing_corpus.hostile import CASES, HostileCase, hub_sign, raw_sign, trust_store


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Material:
    return material(tmp_path_factory.mktemp("signing-keys"))


@pytest.fixture()
def verifier(keys: Material) -> Verifier:
    return Verifier(trust_store(keys))


def quantity(root: etree._Element) -> str:
    return root.findtext(f".//{{{RABIE_NS}}}ItemQuantity")


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_document_rejected_with_reason(case: HostileCase, keys: Material, verifier: Verifier) -> None:
    payload = case.build(keys)

    with pytest.raises(SignatureError, match=case.match) as rejected:
        verifier.verify(payload, case.partner, at=case.at())

    assert rejected.value.reason == case.reason


def test_every_reason_has_hostile_case() -> None:
    signing_only = {Reason.NO_SIGNING_KEY, Reason.ALREADY_SIGNED, Reason.SIGNING_FAILED}
    # Neither reason has a document the policy checks let through to signxml's own checks.
    unreachable = {Reason.MALFORMED, Reason.UNSUPPORTED_ALGORITHM}

    covered = {case.reason for case in CASES}

    assert covered == {reason.value for reason in Reason} - {r.value for r in signing_only | unreachable}


def test_rsa_signature_verifies(keys: Material, verifier: Verifier) -> None:
    signed = hub_sign(keys.rsa, "GH")

    verified = verifier.verify(signed, "GH")

    assert verified.algorithm == "rsa-sha256"
    assert verified.digest_algorithm == "sha256"
    assert verified.signer_subject == "CN=CITES Management Authority GH,C=GH"
    assert verified.signer_fingerprint == keys.rsa.certificate().fingerprint(hashes.SHA256()).hex()


def test_ecdsa_signature_verifies(keys: Material, verifier: Verifier) -> None:
    signed = hub_sign(keys.ecdsa, "FR")

    verified = verifier.verify(signed, "FR")

    assert verified.algorithm == "ecdsa-sha256"
    assert verified.signer_subject.endswith("C=FR")


def test_certificate_issued_by_partner_ca_verifies(keys: Material, verifier: Verifier) -> None:
    signed = hub_sign(keys.issued, "TZ")

    verified = verifier.verify(signed, "TZ")

    assert "O=Wildlife Division" in verified.signer_subject


def test_stored_signed_bytes_still_verify(keys: Material, verifier: Verifier, tmp_path: Path) -> None:
    signed = hub_sign(keys.ecdsa, "FR")
    stored = tmp_path / "permit.xml"
    stored.write_bytes(signed)

    read_back = stored.read_bytes()

    assert read_back == signed
    assert quantity(verifier.verify(read_back, "FR").signed_root) == "100"


def test_signed_content_excludes_the_signature(keys: Material, verifier: Verifier) -> None:
    signed = hub_sign(keys.rsa, "GH")

    verified = verifier.verify(signed, "GH")

    assert b"Signature" not in verified.signed_xml
    assert verified.signed_root.tag == f"{{{PERMIT_NS}}}CITESEPermit"


def test_wrapped_permit_never_returned_as_signed(keys: Material, verifier: Verifier) -> None:
    attack = next(case for case in CASES if case.name == "id_reference_to_moved_permit").build(keys)
    lenient = XMLVerifier().verify(attack, x509_cert=keys.rsa.certificate(), expect_config=SignatureConfiguration())

    with pytest.raises(SignatureError, match="second <CITESEPermit>"):
        verifier.verify(attack, "GH")

    # Without the hub's policy, signxml accepts the document; the root a naive reader sees is forged.
    assert quantity(etree.fromstring(attack)) == "10000"
    assert quantity(lenient.signed_xml) == "100"


def test_comment_cannot_cut_a_signed_value(keys: Material, verifier: Verifier) -> None:
    signed = hub_sign(keys.rsa, "GH")
    # Exclusive canonicalisation without comments ignores comments, so this keeps the digest.
    commented = signed.replace(b">100<", b">1<!-- cut here -->00<")

    verified = verifier.verify(commented, "GH")

    assert quantity(verified.signed_root) == "100"


def test_sha1_verifies_when_verifier_allows(keys: Material) -> None:
    signed = raw_sign(keys.rsa, method=SignatureMethod.RSA_SHA1, digest=DigestAlgorithm.SHA1)

    verified = Verifier(trust_store(keys), allow_sha1=True).verify(signed, "GH")

    assert verified.algorithm == "rsa-sha1"


def test_sha1_verifies_for_allowed_partner(keys: Material) -> None:
    signed = raw_sign(keys.rsa, method=SignatureMethod.RSA_SHA1, digest=DigestAlgorithm.SHA1)
    store = trust_store(keys)
    store.set_allow_sha1("GH")

    verified = Verifier(store).verify(signed, "GH")

    assert verified.digest_algorithm == "sha1"


def test_md5_rejected_even_with_sha1_allowed(keys: Material) -> None:
    md5 = next(case for case in CASES if case.name == "md5_digest").build(keys)

    with pytest.raises(SignatureError, match="MD5") as rejected:
        Verifier(trust_store(keys), allow_sha1=True).verify(md5, "GH")

    assert rejected.value.reason == Reason.WEAK_ALGORITHM


def test_sha224_rejected_as_unsupported(keys: Material, verifier: Verifier) -> None:
    signed = raw_sign(keys.ecdsa, method=SignatureMethod.ECDSA_SHA224, digest=DigestAlgorithm.SHA256)

    with pytest.raises(SignatureError, match="ecdsa-sha224") as rejected:
        verifier.verify(signed, "FR")

    assert rejected.value.reason == Reason.UNSUPPORTED_ALGORITHM


def test_unknown_partner_is_untrusted(keys: Material, verifier: Verifier) -> None:
    signed = hub_sign(keys.rsa, "GH")

    with pytest.raises(SignatureError, match="partner 'ZZ'") as rejected:
        verifier.verify(signed, "ZZ")

    assert rejected.value.reason == Reason.UNTRUSTED


def test_certificate_pinned_by_fingerprint_verifies(keys: Material) -> None:
    store = TrustStore()
    store.pin_fingerprint("FR", keys.ecdsa.certificate().fingerprint(hashes.SHA256()).hex(":"))

    verified = Verifier(store).verify(hub_sign(keys.ecdsa, "FR"), "FR")

    assert verified.signer_subject.endswith("C=FR")


def test_rotation_accepts_both_keys_in_overlap(keys: Material, verifier: Verifier) -> None:
    signed_by_old = hub_sign(keys.old, "KE")
    signed_by_new = hub_sign(keys.new, "KE")

    old = verifier.verify(signed_by_old, "KE", at=NOW)
    new = verifier.verify(signed_by_new, "KE", at=NOW)

    assert old.signer_fingerprint != new.signer_fingerprint


def test_rotation_accepts_only_new_key_after_expiry(keys: Material, verifier: Verifier) -> None:
    signed_by_old = hub_sign(keys.old, "KE")
    signed_by_new = hub_sign(keys.new, "KE")
    after_overlap = NOW + timedelta(days=10)

    with pytest.raises(SignatureError, match="expired") as rejected:
        verifier.verify(signed_by_old, "KE", at=after_overlap)

    assert rejected.value.reason == Reason.EXPIRED
    assert verifier.verify(signed_by_new, "KE", at=after_overlap).signer_subject.endswith("C=KE")


def test_rejection_counted_by_reason(keys: Material, verifier: Verifier) -> None:
    from prometheus_client import REGISTRY

    labels = {"reason": "missing"}
    before = REGISTRY.get_sample_value("cites_hub_signature_verification_failures_total", labels) or 0.0

    with pytest.raises(SignatureError):
        verifier.verify(permit_document(), "GH")

    assert REGISTRY.get_sample_value("cites_hub_signature_verification_failures_total", labels) == before + 1


def test_rejection_chains_signxml_error(keys: Material, verifier: Verifier) -> None:
    tampered = next(case for case in CASES if case.name == "quantity_changed").build(keys)

    with pytest.raises(SignatureError) as rejected:
        verifier.verify(tampered, "GH")

    assert rejected.value.__cause__ is not None
