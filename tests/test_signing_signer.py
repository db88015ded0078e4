"""Signing outbound documents: the hub's signature profile and what the signer rejects."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from hub import safexml
from hub.errors import SignatureError, UnsafeXML
from signing.keys import KeyStore
from signing.signer import Signer
from tests.signing_corpus import Material, material, permit_document

DS = "{http://www.w3.org/2000/09/xmldsig#}"


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Material:
    return material(tmp_path_factory.mktemp("signing-keys"))


@pytest.fixture()
def signer(keys: Material) -> Signer:
    return Signer(keys.keystore())


def algorithm(signed: bytes, path: str) -> str:
    return safexml.parse(signed).find(f"{DS}Signature/{path}").get("Algorithm")


def test_reference_uri_is_empty_with_root_id(signer: Signer) -> None:
    signed = signer.sign(permit_document(root_id="permit-1"), "GH")

    reference = safexml.parse(signed).find(f"{DS}Signature/{DS}SignedInfo/{DS}Reference")

    assert reference.get("URI") == ""


def test_rsa_key_signs_rsa_sha256_exc_c14n(signer: Signer) -> None:
    signed = signer.sign(permit_document(), "GH")

    assert algorithm(signed, f"{DS}SignedInfo/{DS}SignatureMethod").endswith("#rsa-sha256")
    assert algorithm(signed, f"{DS}SignedInfo/{DS}CanonicalizationMethod") == "http://www.w3.org/2001/10/xml-exc-c14n#"
    assert algorithm(signed, f"{DS}SignedInfo/{DS}Reference/{DS}DigestMethod").endswith("#sha256")


def test_ecdsa_key_signs_with_ecdsa_sha256(signer: Signer) -> None:
    signed = signer.sign(permit_document(), "FR")

    assert algorithm(signed, f"{DS}SignedInfo/{DS}SignatureMethod").endswith("#ecdsa-sha256")


def test_signature_carries_the_signer_certificate(signer: Signer, keys: Material) -> None:
    signed = signer.sign(permit_document(), "FR")

    certificates = safexml.parse(signed).findall(f"{DS}Signature/{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")

    assert len(certificates) == 1


def test_signature_is_the_last_child_of_the_root(signer: Signer) -> None:
    signed = signer.sign(permit_document(), "GH")

    assert safexml.parse(signed)[-1].tag == f"{DS}Signature"


def test_signed_document_not_signed_twice(signer: Signer) -> None:
    signed = signer.sign(permit_document(), "GH")

    with pytest.raises(SignatureError, match="already has a ds:Signature") as rejected:
        signer.sign(signed, "GH")

    assert rejected.value.reason == "already_signed"


def test_party_without_key_cannot_sign(signer: Signer) -> None:
    with pytest.raises(SignatureError, match="party 'ZZ'"):
        signer.sign(permit_document(), "ZZ")


def test_document_with_dtd_is_not_signed(signer: Signer) -> None:
    payload = b'<!DOCTYPE CITESEPermit [<!ENTITY x "y">]><CITESEPermit>&x;</CITESEPermit>'

    with pytest.raises(UnsafeXML, match="DTD"):
        signer.sign(payload, "GH")


def test_signature_is_counted_by_party(signer: Signer) -> None:
    before = REGISTRY.get_sample_value("cites_hub_signatures_total", {"party": "FR"}) or 0.0

    signer.sign(permit_document(), "FR")

    assert REGISTRY.get_sample_value("cites_hub_signatures_total", {"party": "FR"}) == before + 1


def test_signer_reuses_loaded_key(keys: Material) -> None:
    store = KeyStore()
    loaded = store.add("GH", keys.rsa.key, keys.rsa.cert)
    signer = Signer(store)

    signer.sign(permit_document(), "GH")

    assert store.signing_key("GH") is loaded
