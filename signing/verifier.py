"""Verification of partners' enveloped XML signatures, with one reason code per rejection.

The hub's profile accepts one enveloped ds:Signature, a child of the root element, with one
reference covering the whole document (URI="" or the root's own Id), RSA or ECDSA with SHA-256
or stronger, and a signer certificate that the partner's trust entry pins or whose CA it names.
The policy checks run on the document parsed by the hub's hardened parser, before signxml
checks the digest and the signature value with the trusted certificate pinned.

Callers read business values only from :attr:`Verified.signed_root` (or ``signed_xml``): that
is the signed content as signxml canonicalised it, without the signature, comments or anything
the reference did not cover. Reading the received bytes again would undo every check here.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives.hashes import Hash
from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureConstructionMethod, SignatureMethod
from signxml import SignatureConfiguration, XMLVerifier
from signxml.algorithms import digest_algorithm_implementations
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidSignature, SignXMLException

from hub import safexml
from hub.errors import SignatureError, UnsafeXML
from signing import metrics
from signing.trust import PartnerTrust, TrustStore, aware_or_now, certificate_fingerprint

logger = logging.getLogger(__name__)

DS_NAMESPACE = "http://www.w3.org/2000/09/xmldsig#"
DS_SIGNATURE = f"{{{DS_NAMESPACE}}}Signature"
NAMESPACES = {"ds": DS_NAMESPACE}

# The attribute names signxml resolves "#id" references against, in any namespace.
ID_ATTRIBUTES = frozenset({"Id", "ID", "id"})


class Reason(StrEnum):
    """Reason code of a rejected signature or of a failed signing, for the journal and metrics."""

    DTD = "dtd"
    MALFORMED = "malformed"
    MISSING = "missing"
    WRAPPING = "wrapping"
    NOT_COVERED = "not_covered"
    WEAK_ALGORITHM = "weak_algorithm"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    HMAC_NOT_ALLOWED = "hmac_not_allowed"
    UNTRUSTED = "untrusted"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    KEY_USAGE = "key_usage"
    DIGEST_MISMATCH = "digest_mismatch"
    BAD_SIGNATURE = "bad_signature"
    # Raised when signing, never when verifying.
    NO_SIGNING_KEY = "no_signing_key"
    ALREADY_SIGNED = "already_signed"
    SIGNING_FAILED = "signing_failed"


STRONG_SIGNATURE_METHODS = frozenset(
    {
        SignatureMethod.RSA_SHA256,
        SignatureMethod.RSA_SHA384,
        SignatureMethod.RSA_SHA512,
        SignatureMethod.ECDSA_SHA256,
        SignatureMethod.ECDSA_SHA384,
        SignatureMethod.ECDSA_SHA512,
        SignatureMethod.ECDSA_SHA3_256,
        SignatureMethod.ECDSA_SHA3_384,
        SignatureMethod.ECDSA_SHA3_512,
        SignatureMethod.SHA256_RSA_MGF1,
        SignatureMethod.SHA384_RSA_MGF1,
        SignatureMethod.SHA512_RSA_MGF1,
        SignatureMethod.SHA3_256_RSA_MGF1,
        SignatureMethod.SHA3_384_RSA_MGF1,
        SignatureMethod.SHA3_512_RSA_MGF1,
    }
)
SHA1_SIGNATURE_METHODS = frozenset(
    {SignatureMethod.RSA_SHA1, SignatureMethod.ECDSA_SHA1, SignatureMethod.SHA1_RSA_MGF1}
)
STRONG_DIGESTS = frozenset(
    {
        DigestAlgorithm.SHA256,
        DigestAlgorithm.SHA384,
        DigestAlgorithm.SHA512,
        DigestAlgorithm.SHA3_256,
        DigestAlgorithm.SHA3_384,
        DigestAlgorithm.SHA3_512,
    }
)
SHA1_DIGESTS = frozenset({DigestAlgorithm.SHA1})
ALLOWED_TRANSFORMS = frozenset(
    {SignatureConstructionMethod.enveloped.value, *(method.value for method in CanonicalizationMethod)}
)

_STRICT_CONFIG = SignatureConfiguration(
    require_x509=True,
    location="./",
    expect_references=1,
    signature_methods=STRONG_SIGNATURE_METHODS,
    digest_algorithms=STRONG_DIGESTS,
)
_SHA1_CONFIG = replace(
    _STRICT_CONFIG,
    signature_methods=STRONG_SIGNATURE_METHODS | SHA1_SIGNATURE_METHODS,
    digest_algorithms=STRONG_DIGESTS | SHA1_DIGESTS,
)


@dataclass(frozen=True)
class Verified:
    """A verified signature: the signed content and who signed it.

    ``signed_xml`` is the canonical form of exactly what the signature covers, and
    ``signed_root`` that content parsed; business values are read from these only.
    ``algorithm`` and ``digest_algorithm`` are the URI fragments, e.g. rsa-sha256 and sha256.
    """

    partner: str
    signed_xml: bytes = field(repr=False)
    signed_root: etree._Element = field(repr=False)
    signer_subject: str
    signer_fingerprint: str
    algorithm: str
    digest_algorithm: str
    certificate: x509.Certificate = field(repr=False)


class Verifier:
    """Verifies partners' signatures against a trust store.

    ``allow_sha1`` accepts SHA-1 from every partner; :meth:`TrustStore.set_allow_sha1` does so
    for one. MD5 and HMAC are never accepted.
    """

    def __init__(self, trust_store: TrustStore, *, allow_sha1: bool = False) -> None:
        self.trust_store = trust_store
        self.allow_sha1 = allow_sha1

    def verify(self, payload: bytes, partner: str, at: datetime | None = None) -> Verified:
        """Verify the signature of ``payload`` as signed by ``partner``, at ``at`` (default now).

        Raises SignatureError whose ``reason`` is a :class:`Reason` value naming the first rule
        the document breaks.
        """
        try:
            verified = self._verify(payload, partner, aware_or_now(at))
        except SignatureError as error:
            metrics.VERIFICATION_FAILURES.labels(error.reason).inc()
            logger.debug("signature of partner %s rejected: %s: %s", partner, error.reason, error)
            raise

        metrics.observe_expiry(partner, verified.certificate, fingerprint=verified.signer_fingerprint)
        logger.debug("signature of partner %s verified: signer %s", partner, verified.signer_subject)
        return verified

    def _verify(self, payload: bytes, partner: str, at: datetime) -> Verified:
        root = _parse(payload)
        signature = _find_signature(root)
        _check_unique_ids(root)
        trust = self._partner_trust(partner)
        allow_sha1 = self.allow_sha1 or trust.allow_sha1
        _check_algorithms(signature, allow_sha1)
        _check_reference(root, signature)

        certificate = _trusted_certificate(trust, _presented_certificates(signature), at)
        config = replace(_SHA1_CONFIG if allow_sha1 else _STRICT_CONFIG, verification_time=at)
        signed_xml, signed_root = _verify_with_signxml(payload, root, signature, certificate, config)

        signature_method = _algorithm(signature, "ds:SignedInfo/ds:SignatureMethod")
        digest_method = _algorithm(signature, "ds:SignedInfo/ds:Reference/ds:DigestMethod")
        return Verified(
            partner=partner,
            signed_xml=signed_xml,
            signed_root=signed_root,
            signer_subject=certificate.subject.rfc4514_string(),
            signer_fingerprint=certificate_fingerprint(certificate),
            algorithm=signature_method.rpartition("#")[2],
            digest_algorithm=digest_method.rpartition("#")[2],
            certificate=certificate,
        )

    def _partner_trust(self, partner: str) -> PartnerTrust:
        trust = self.trust_store.get(partner)
        if trust is None or not (trust.pinned or trust.authorities):
            raise SignatureError(
                f"partner '{partner}' has no trusted certificate or CA; "
                "expected its certificate pinned or its CA added in the trust store",
                Reason.UNTRUSTED,
            )
        return trust


def _parse(payload: bytes) -> etree._Element:
    try:
        return safexml.parse(payload)
    except UnsafeXML as error:
        has_doctype = isinstance(payload, (bytes, bytearray)) and b"<!DOCTYPE" in payload
        reason = Reason.DTD if has_doctype else Reason.MALFORMED
        raise SignatureError(f"signed document rejected by the XML parser: {error}", reason) from error


def _find_signature(root: etree._Element) -> etree._Element:
    signatures = list(root.iter(DS_SIGNATURE))
    if not signatures:
        raise SignatureError(
            f"document <{safexml.localname(root)}> has no ds:Signature; expected an enveloped signature",
            Reason.MISSING,
        )
    if len(signatures) > 1:
        raise SignatureError(
            f"document has {len(signatures)} ds:Signature elements; expected exactly one, a child of the root element",
            Reason.WRAPPING,
        )

    signature = signatures[0]
    parent = signature.getparent()
    if parent is not root:
        where = "is the root element" if parent is None else f"is inside <{safexml.localname(parent)}>"
        raise SignatureError(
            f"ds:Signature {where}; expected it as a child of the root element <{safexml.localname(root)}>",
            Reason.WRAPPING,
        )
    return signature


def _check_unique_ids(root: etree._Element) -> None:
    # A repeated Id lets a reference resolve to a moved copy instead of the element the hub reads.
    seen: dict[str, str] = {}
    for element in root.iter(etree.Element):
        for name, value in element.attrib.items():
            if etree.QName(name).localname not in ID_ATTRIBUTES:
                continue
            if value in seen:
                raise SignatureError(
                    f"Id '{value}' is carried by <{seen[value]}> and <{safexml.localname(element)}>; "
                    "expected every Id once in the document",
                    Reason.WRAPPING,
                )
            seen[value] = safexml.localname(element)


def _algorithm(signature: etree._Element, path: str) -> str:
    element = signature.find(path, NAMESPACES)
    algorithm = None if element is None else element.get("Algorithm")
    if algorithm is None:
        raise SignatureError(f"ds:Signature lacks {path}/@Algorithm; expected an XML Signature", Reason.MALFORMED)
    return algorithm


def _check_algorithms(signature: etree._Element, allow_sha1: bool) -> None:
    method = _algorithm(signature, "ds:SignedInfo/ds:SignatureMethod")
    if "hmac" in method.lower():
        raise SignatureError(
            f"ds:SignatureMethod '{method}' is an HMAC, a shared secret that proves no signer; "
            "expected RSA or ECDSA with SHA-256 or stronger",
            Reason.HMAC_NOT_ALLOWED,
        )
    _check_algorithm("ds:SignatureMethod", method, STRONG_SIGNATURE_METHODS, SHA1_SIGNATURE_METHODS, allow_sha1)

    for digest_method in signature.iterfind("ds:SignedInfo/ds:Reference/ds:DigestMethod", NAMESPACES):
        uri = digest_method.get("Algorithm") or ""
        _check_algorithm("ds:DigestMethod", uri, STRONG_DIGESTS, SHA1_DIGESTS, allow_sha1)


@functools.cache
def _values(members: frozenset[SignatureMethod] | frozenset[DigestAlgorithm]) -> frozenset[str]:
    return frozenset(member.value for member in members)


def _check_algorithm(
    element: str,
    uri: str,
    strong: frozenset[SignatureMethod] | frozenset[DigestAlgorithm],
    sha1: frozenset[SignatureMethod] | frozenset[DigestAlgorithm],
    allow_sha1: bool,
) -> None:
    if uri in _values(strong) or (allow_sha1 and uri in _values(sha1)):
        return

    fragment = uri.rpartition("#")[2].lower()
    if "md5" in fragment or "sha1" in fragment:
        raise SignatureError(
            f"{element} '{uri}' uses {'MD5' if 'md5' in fragment else 'SHA-1'}, which is broken; "
            "expected SHA-256 or stronger",
            Reason.WEAK_ALGORITHM,
        )
    raise SignatureError(
        f"{element} '{uri}' is not accepted; expected RSA or ECDSA with SHA-256, SHA-384 or SHA-512",
        Reason.UNSUPPORTED_ALGORITHM,
    )


def _check_reference(root: etree._Element, signature: etree._Element) -> None:
    references = signature.findall("ds:SignedInfo/ds:Reference", NAMESPACES)
    if len(references) != 1:
        raise SignatureError(
            f"ds:SignedInfo has {len(references)} references; expected exactly one, URI=\"\" (the whole document)",
            Reason.NOT_COVERED,
        )
    reference = references[0]
    _check_transforms(reference)

    uri = reference.get("URI")
    if uri == "":
        return
    target = _element_with_id(root, uri[1:]) if uri and uri.startswith("#") else None
    if target is root:
        return
    if target is not None and target.tag == root.tag:
        raise SignatureError(
            f"ds:Reference URI '{uri}' points at a second <{safexml.localname(root)}> inside the document, "
            "not at the root element the hub reads; expected URI=\"\"",
            Reason.WRAPPING,
        )
    raise SignatureError(
        f"ds:Reference URI {uri!r} does not cover the whole document, so content outside it is unsigned; "
        "expected URI=\"\" or the root element's Id",
        Reason.NOT_COVERED,
    )


def _check_transforms(reference: etree._Element) -> None:
    for transform in reference.iterfind("ds:Transforms/ds:Transform", NAMESPACES):
        algorithm = transform.get("Algorithm")
        if algorithm not in ALLOWED_TRANSFORMS:
            raise SignatureError(
                f"ds:Transform '{algorithm}' may leave part of the document unsigned; "
                "expected only enveloped-signature and canonicalisation transforms",
                Reason.NOT_COVERED,
            )


def _element_with_id(root: etree._Element, value: str) -> etree._Element | None:
    for element in root.iter(etree.Element):
        for name, attribute_value in element.attrib.items():
            if attribute_value == value and etree.QName(name).localname in ID_ATTRIBUTES:
                return element
    return None


def _presented_certificates(signature: etree._Element) -> list[x509.Certificate]:
    certificates = []
    for element in signature.iterfind("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NAMESPACES):
        try:
            certificates.append(x509.load_der_x509_certificate(base64.b64decode(element.text or "")))
        except (ValueError, binascii.Error) as error:
            raise SignatureError(
                f"ds:X509Certificate is not a base64 DER certificate: {error}", Reason.MALFORMED
            ) from error

    if not certificates:
        raise SignatureError(
            "ds:KeyInfo has no ds:X509Certificate; expected the signer certificate, so that it can be "
            "matched against the partner's pinned certificates or CA",
            Reason.UNTRUSTED,
        )
    return certificates


def _trusted_certificate(trust: PartnerTrust, presented: list[x509.Certificate], at: datetime) -> x509.Certificate:
    pinned = trust.find_pinned(presented)
    if pinned is not None:
        _check_certificate(pinned, at)
        return pinned

    leaf = trust.find_issued_leaf(presented)
    if leaf is None:
        raise SignatureError(
            f"signer certificate {_describe(presented[0])} is not trusted for partner '{trust.partner}'; "
            f"expected a pinned certificate{_ca_hint(trust)}",
            Reason.UNTRUSTED,
        )
    _check_certificate(leaf, at)

    chain_error = trust.chain_error(leaf, presented, at)
    if chain_error is not None:
        raise SignatureError(
            f"signer certificate {_describe(leaf)} does not chain to a CA of partner '{trust.partner}': {chain_error}",
            Reason.UNTRUSTED,
        )
    return leaf


def _ca_hint(trust: PartnerTrust) -> str:
    if not trust.authorities:
        return ""
    subject = ", ".join(f"{name}={value}" for name, value in trust.expected_subject.items())
    return f" or one issued by its CA to subject {subject}"


def _describe(certificate: x509.Certificate) -> str:
    return f"'{certificate.subject.rfc4514_string()}' (SHA-256 {certificate_fingerprint(certificate)})"


def _check_certificate(certificate: x509.Certificate, at: datetime) -> None:
    if at < certificate.not_valid_before_utc:
        raise SignatureError(
            f"signer certificate {_describe(certificate)} is not valid before "
            f"{certificate.not_valid_before_utc.isoformat()}; checked at {at.isoformat()}",
            Reason.NOT_YET_VALID,
        )
    if at > certificate.not_valid_after_utc:
        raise SignatureError(
            f"signer certificate {_describe(certificate)} expired at "
            f"{certificate.not_valid_after_utc.isoformat()}; checked at {at.isoformat()}",
            Reason.EXPIRED,
        )

    try:
        key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        key_usage = None
    if key_usage is None or not key_usage.digital_signature:
        raise SignatureError(
            f"signer certificate {_describe(certificate)} lacks the digitalSignature key usage; "
            "expected a certificate issued for signing",
            Reason.KEY_USAGE,
        )


def _hardened_parser() -> etree.XMLParser:
    # The same settings as hub.safexml: signxml parses the payload again with this parser.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _verify_with_signxml(
    payload: bytes,
    root: etree._Element,
    signature: etree._Element,
    certificate: x509.Certificate,
    config: SignatureConfiguration,
) -> tuple[bytes, etree._Element]:
    try:
        result = XMLVerifier().verify(payload, x509_cert=certificate, parser=_hardened_parser(), expect_config=config)
    except InvalidDigest as error:
        raise SignatureError(f"document changed after signing: {error}", Reason.DIGEST_MISMATCH) from error
    except InvalidCertificate as error:
        raise SignatureError(f"signer certificate rejected: {error}", Reason.UNTRUSTED) from error
    except InvalidSignature as error:
        raise _bad_signature_error(root, signature, error) from error
    except (SignXMLException, etree.DocumentInvalid, ValueError) as error:
        raise SignatureError(f"ds:Signature is not a valid XML Signature: {error}", Reason.MALFORMED) from error

    if isinstance(result, list) or result.signed_xml is None:
        raise SignatureError("signed content is not an XML element; expected the whole document", Reason.NOT_COVERED)
    return result.signed_data, result.signed_xml


def _bad_signature_error(root: etree._Element, signature: etree._Element, error: Exception) -> SignatureError:
    # signxml checks the signature value before the digest, so a re-indented document (SignedInfo
    # included) fails there. Comparing the digest here reports that the content changed instead.
    if not _digest_matches(root, signature):
        return SignatureError(
            "document changed after signing (for example re-indented): the ds:DigestValue no longer "
            "matches; expected the bytes exactly as signed",
            Reason.DIGEST_MISMATCH,
        )
    return SignatureError(
        f"ds:SignatureValue does not verify with the signer certificate: {error}", Reason.BAD_SIGNATURE
    )


def _digest_matches(root: etree._Element, signature: etree._Element) -> bool:
    """Recompute the digest of the profile's one whole-document reference, as signxml 5.x does."""
    reference = signature.find("ds:SignedInfo/ds:Reference", NAMESPACES)
    enveloped = SignatureConstructionMethod.enveloped.value
    transforms = [element.get("Algorithm") for element in reference.iterfind("ds:Transforms/ds:Transform", NAMESPACES)]
    c14n = [CanonicalizationMethod(transform) for transform in transforms if transform != enveloped]
    method = c14n[-1] if c14n else CanonicalizationMethod.CANONICAL_XML_1_1

    document = copy.deepcopy(root)
    document_signature = document.find(DS_SIGNATURE)
    if enveloped in transforms and document_signature is not None:
        _remove_keeping_tail(document_signature)
    canonical = etree.tostring(
        document,
        method="c14n",
        exclusive=method.value.startswith("http://www.w3.org/2001/10/xml-exc-c14n#"),
        with_comments=method.value.endswith("#WithComments"),
    )

    digest_method = DigestAlgorithm(_algorithm(signature, "ds:SignedInfo/ds:Reference/ds:DigestMethod"))
    digest = Hash(digest_algorithm_implementations[digest_method]())
    digest.update(canonical)
    expected = reference.findtext("ds:DigestValue", default="", namespaces=NAMESPACES)
    try:
        return digest.finalize() == base64.b64decode(expected)
    except ValueError:
        return True  # an unreadable DigestValue is reported as a bad signature


def _remove_keeping_tail(element: etree._Element) -> None:
    parent = element.getparent()
    previous = element.getprevious()
    if element.tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)
