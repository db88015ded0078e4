"""Enveloped XML signatures of outbound documents, with the issuing Party's key.

The signature is enveloped, RSA-SHA256 or ECDSA-SHA256 according to the key, with exclusive
canonicalisation, one reference with URI="" (the whole document) and the signer certificate
in KeyInfo. The bytes :meth:`Signer.sign` returns are final: callers store and forward exactly
these bytes, because re-serialising them (pretty-printing, changing the encoding or namespace
prefixes) invalidates the signature.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureMethod, XMLSigner
from signxml.exceptions import SignXMLException
from signxml.signer import SignatureReference

from hub import safexml
from hub.errors import SignatureError
from signing import metrics
from signing.keys import KeyStore, LoadedKey

logger = logging.getLogger(__name__)

DS_SIGNATURE = "{http://www.w3.org/2000/09/xmldsig#}Signature"


class _WholeDocumentSigner(XMLSigner):
    """An XMLSigner whose enveloped reference is always URI="" (the whole document).

    signxml 5.x points the reference at ``#<Id>`` when the root has an Id attribute. That names
    the same element, but the hub's profile fixes URI="" so partners see one form only.
    """

    # NOTE: overrides a private method of signxml 5.x; test_signing_signer checks the URI stays "".
    def _unpack(self, data: Any, references: Any) -> Any:
        sig_root, doc_root, c14n_inputs, _ = super()._unpack(data, references)
        return sig_root, doc_root, c14n_inputs, [SignatureReference(URI="")]


def new_xml_signer(signature_method: SignatureMethod) -> XMLSigner:
    """Return a signxml signer with the hub's profile for the given signature method."""
    return _WholeDocumentSigner(
        signature_algorithm=signature_method,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )


class Signer:
    """Signs outbound documents with the newest valid key of the issuing Party."""

    def __init__(self, keystore: KeyStore) -> None:
        self.keystore = keystore

    def sign(self, payload: bytes, party: str, *, at: datetime | None = None) -> bytes:
        """Return ``payload`` with an enveloped signature by ``party``'s key valid at ``at``.

        Raises UnsafeXML when the payload is not safe, well-formed XML, and SignatureError with
        reason ``no_signing_key`` (no valid key), ``already_signed`` (the document already has
        a ds:Signature) or ``signing_failed`` (signxml or the key raised an error).
        """
        root = safexml.parse(payload)
        if root.find(f".//{DS_SIGNATURE}") is not None or root.tag == DS_SIGNATURE:
            raise SignatureError(
                f"document <{safexml.localname(root)}> already has a ds:Signature; expected an unsigned document",
                "already_signed",
            )
        key = self.keystore.signing_key(party, at)

        signed_root = _sign_root(root, key)
        metrics.SIGNATURES.labels(party).inc()
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("signed <%s> for party %s with certificate %s",
                         safexml.localname(root), party, key.fingerprint)
        return etree.tostring(signed_root, xml_declaration=True, encoding="UTF-8")


def _sign_root(root: etree._Element, key: LoadedKey) -> etree._Element:
    try:
        return new_xml_signer(key.signature_method).sign(root, key=key.private_key, cert=key.chain)
    except (SignXMLException, ValueError) as error:
        raise SignatureError(f"signing with certificate {key.subject} failed: {error}", "signing_failed") from error
