"""Verification of partner signatures: good signatures, rotation, and one refusal per reason."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree
from signxml import SignatureConfiguration, XMLVerifier

from hub.errors import SignatureError
from signing.trust import TrustStore
from signing.verifier import Reason, Verifier
from tests.signing_corpus import NOW, PERMIT_NS, RABIE_NS, Material, material, permit_document
from tests.signing_corpus.hostile import CASES, HostileCase, hub_sign, raw_sign, trust_store

from signxml import SignatureMethod, DigestAlgorithm


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Material:
    return material(tmp_path_factory.mktemp("signing-keys"))


@pytest.fixture()
def verifier(keys: Material) -> Verifier:
    return Verifier(trust_store(keys))


def quantity(root: etree._Element) -> str:
    return root.findtext(f".//{{{RABIE_NS}}}ItemQuantity")


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_document_is_refused_with_its_reason(case: HostileCase, keys: Material, verifier: Verifier) -> None:
    payload = case.build(keys)

    with pytest.raises(SignatureError, match=case.match) as refused:
        verifier.verify(payload, case.partner, at=case.at())

    assert refused.value.reason == case.reason


def test_every_verification_reason_has_a_hostile_case() -> None:
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
    assert verified.signer_fingerprint == keys.rsa.certificate().fingerprint(keys.rsa.certificate().signature_hash_algorithm).hex()


def test_ecdsa_signature_verifies(keys: Material, verifier: Verifier) -> None:
    signed = hub_sign(keys.ecdsa, "FR")

    verified = verifier.verify(signed, "FR")

    assert verified.algorithm == "ecdsa-sha256"
    assert verified.signer_subject.endswith("C=FR")


def test_certificate_issued_by_partner_ca_verifies(keys: Material, verifier: Verifier) -> None:
    signed = hub_sign(keys.issued, "TZ")

    verified = verifier.verify(signed, "TZ")

    assert "O=Wildlife Division" in verified.signer_subject


def test_signed_bytes_verify_after_storing_and_reading(keys: Material, verifier: Verifier, tmp_path: Path) -> None:
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


def test_wrapped_permit_is_never_returned_as_signed_content(keys: Material, verifier: Verifier) -> None:
    attack = next(case for case in CASES if case.name == "id_reference_to_moved_permit").build(keys)
    lenient = XMLVerifier().verify(attack, x509_cert=keys.rsa.certificate(), expect_config=SignatureConfiguration())

    with pytest.raises(SignatureError, match="second <CITESEPermit>"):
        verifier.verify(attack, "GH")

    # Without the hub's policy, signxml accepts the document; the root a naive reader sees is forged.
    assert quantity(etree.fromstring(attack)) == "10000"
    assert quantity(lenient.signed_xml) == "100"


def test_comment_inside_a_value_is_not_read_as_a_cut_value(keys: Material, verifier: Verifier) -> None:
    signed = hub_sign(keys.rsa, "GH")
    # Exclusive canonicalisation without comments ignores comments, so this keeps the digest.
    commented = signed.replace(b">100<", b">1<!-- cut here -->00<")

    verified = verifier.verify(commented, "GH")

    assert quantity(verified.signed_root) == "100"


def test_sha1_verifies_when_the_verifier_allows_it(keys: Material) -> None:
    signed = raw_sign(keys.rsa, method=SignatureMethod.RSA_SHA1, digest=DigestAlgorithm.SHA1)

    verified = Verifier(trust_store(keys), allow_sha1=True).verify(signed, "GH")

    assert verified.algorithm == "rsa-sha1"


def test_sha1_verifies_for_a_partner_allowed_it(keys: Material) -> None:
    signed = raw_sign(keys.rsa, method=SignatureMethod.RSA_SHA1, digest=DigestAlgorithm.SHA1)
    store = trust_store(keys)
    store.set_allow_sha1("GH")

    verified = Verifier(store).verify(signed, "GH")

    assert verified.digest_algorithm == "sha1"


def test_md5_is_refused_even_when_sha1_is_allowed(keys: Material) -> None:
    md5 = next(case for case in CASES if case.name == "md5_digest").build(keys)

    with pytest.raises(SignatureError, match="MD5") as refused:
        Verifier(trust_store(keys), allow_sha1=True).verify(md5, "GH")

    assert refused.value.reason == Reason.WEAK_ALGORITHM


def test_sha224_is_refused_as_unsupported(keys: Material, verifier: Verifier) -> None:
    signed = raw_sign(keys.ecdsa, method=SignatureMethod.ECDSA_SHA224, digest=DigestAlgorithm.SHA256)

    with pytest.raises(SignatureError, match="ecdsa-sha224") as refused:
        verifier.verify(signed, "FR")

    assert refused.value.reason == Reason.UNSUPPORTED_ALGORITHM


def test_unknown_partner_is_untrusted(keys: Material, verifier: Verifier) -> None:
    signed = hub_sign(keys.rsa, "GH")

    with pytest.raises(SignatureError, match="partner 'ZZ'") as refused:
        verifier.verify(signed, "ZZ")

    assert refused.value.reason == Reason.UNTRUSTED


def test_certificate_pinned_by_fingerprint_verifies(keys: Material) -> None:
    store = TrustStore()
    store.pin_fingerprint("FR", keys.ecdsa.certificate().fingerprint(keys.ecdsa.certificate().signature_hash_algorithm).hex(":"))

    verified = Verifier(store).verify(hub_sign(keys.ecdsa, "FR"), "FR")

    assert verified.signer_subject.endswith("C=FR")


def test_rotation_accepts_both_keys_during_the_overlap(keys: Material, verifier: Verifier) -> None:
    signed_by_old = hub_sign(keys.old, "KE")
    signed_by_new = hub_sign(keys.new, "KE")

    old = verifier.verify(signed_by_old, "KE", at=NOW)
    new = verifier.verify(signed_by_new, "KE", at=NOW)

    assert old.signer_fingerprint != new.signer_fingerprint


def test_rotation_accepts_only_the_new_key_after_the_old_expires(keys: Material, verifier: Verifier) -> None:
    signed_by_old = hub_sign(keys.old, "KE")
    signed_by_new = hub_sign(keys.new, "KE")
    after_overlap = NOW + timedelta(days=10)

    with pytest.raises(SignatureError, match="expired") as refused:
        verifier.verify(signed_by_old, "KE", at=after_overlap)

    assert refused.value.reason == Reason.EXPIRED
    assert verifier.verify(signed_by_new, "KE", at=after_overlap).signer_subject.endswith("C=KE")


def test_refusal_is_counted_by_reason(keys: Material, verifier: Verifier) -> None:
    from prometheus_client import REGISTRY

    labels = {"reason": "missing"}
    before = REGISTRY.get_sample_value("cites_hub_signature_verification_failures_total", labels) or 0.0

    with pytest.raises(SignatureError):
        verifier.verify(permit_document(), "GH")

    assert REGISTRY.get_sample_value("cites_hub_signature_verification_failures_total", labels) == before + 1


def test_refusal_is_chained_to_the_signxml_error(keys: Material, verifier: Verifier) -> None:
    tampered = next(case for case in CASES if case.name == "quantity_changed").build(keys)

    with pytest.raises(SignatureError) as refused:
        verifier.verify(tampered, "GH")

    assert refused.value.__cause__ is not None
