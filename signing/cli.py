"""The ``keys``, ``sign`` and ``verify`` commands of ``cites-hub``.

:func:`register` adds them to the main command's subparsers; each sets ``func`` to a handler
that takes the parsed arguments and returns the exit status.
"""

from __future__ import annotations

import argparse
import math
import sys
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hub.errors import HubError, SignatureError
from signing.keys import KeyStore, new_key_pair
from signing.signer import Signer
from signing.trust import CERTIFICATE_SUFFIXES, TrustStore, certificate_fingerprint
from signing.verifier import Verifier

# The label the verify command gives the one partner its --trust option describes.
CLI_PARTNER = "cli"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``keys new``, ``keys list``, ``sign`` and ``verify`` to ``subparsers``."""
    _register_keys(subparsers)

    sign = subparsers.add_parser("sign", help="sign an XML file with an enveloped XML Signature")
    sign.add_argument("file", type=Path, help="the XML document to sign")
    sign.add_argument("--key", type=Path, required=True, help="PEM private key, or PKCS#12 file (.p12, .pfx)")
    sign.add_argument("--cert", type=Path, default=None, help="PEM certificate and chain (required with a PEM key)")
    sign.add_argument("--out", type=Path, default=None, help="signed output file (default: FILE.signed.xml)")
    sign.add_argument("--password-env", default=None, help="environment variable containing the key password")
    sign.add_argument("--password-file", type=Path, default=None, help="file containing the key password")
    sign.set_defaults(func=cmd_sign)

    verify = subparsers.add_parser("verify", help="verify the XML Signature of a file against pinned certificates")
    verify.add_argument("file", type=Path, help="the signed XML document")
    verify.add_argument("--trust", type=Path, required=True,
                        help="the signer certificate to trust: a PEM or DER file, or a folder of them")
    verify.add_argument("--allow-sha1", action="store_true", help="accept SHA-1 digests and signatures")
    verify.set_defaults(func=cmd_verify)


def _register_keys(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    keys = subparsers.add_parser("keys", help="create and list signing keys")
    commands = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")

    new = commands.add_parser("new", help="create a private key and a self-signed certificate for a Party")
    new.add_argument("party", help="ISO 3166 alpha-2 code of the Party, e.g. GH")
    new.add_argument("--out", type=Path, default=Path("keys"), help="folder to write to (default keys)")
    new.add_argument("--algorithm", choices=["rsa", "ecdsa"], default="rsa",
                     help="rsa (2048-bit) or ecdsa (P-256); default rsa")
    new.add_argument("--days", type=int, default=365, help="validity of the certificate in days (default 365)")
    new.add_argument("--password-env", default=None, help="encrypt the key with the password in this variable")
    new.set_defaults(func=cmd_keys_new)

    listing = commands.add_parser("list", help="list the keys and certificates in a folder")
    listing.add_argument("--dir", type=Path, default=Path("keys"), help="folder to list (default keys)")
    listing.set_defaults(func=cmd_keys_list)


def cmd_keys_new(args: argparse.Namespace) -> int:
    try:
        key_path, cert_path = new_key_pair(
            args.party, args.out, algorithm=args.algorithm, days=args.days, password_env=args.password_env
        )
    except HubError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"key:         {key_path}")
    print(f"certificate: {cert_path}")
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    folder: Path = args.dir
    if not folder.is_dir():
        print(f"error: folder {folder} not found; expected a folder of keys and certificates", file=sys.stderr)
        return 2

    certificates = _certificates_in(folder)
    for path, certificate in certificates:
        print(f"{path.name}  certificate  {_algorithm_name(certificate.public_key())}  "
              f"{_days_left(certificate)} days left  {certificate.subject.rfc4514_string()}  "
              f"SHA-256 {certificate_fingerprint(certificate)[:16]}")
    for path in sorted(folder.glob("*.key.pem")) + sorted(folder.glob("*.p12")) + sorted(folder.glob("*.pfx")):
        print(f"{path.name}  key  {_describe_key(path, certificates)}")
    return 0


def _certificates_in(folder: Path) -> list[tuple[Path, x509.Certificate]]:
    found = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in CERTIFICATE_SUFFIXES or path.name.endswith(".key.pem"):
            continue
        data = path.read_bytes()
        try:
            if b"-----BEGIN" in data:
                certificate = x509.load_pem_x509_certificate(data)
            else:
                certificate = x509.load_der_x509_certificate(data)
        except ValueError:
            continue  # not a certificate, for example a private key under another name
        found.append((path, certificate))
    return found


def _describe_key(path: Path, certificates: list[tuple[Path, x509.Certificate]]) -> str:
    if path.suffix.lower() != ".pem":
        return "PKCS#12 (needs its password to be read)"
    try:
        private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except TypeError:
        return "encrypted (needs its password to be read)"
    except ValueError as error:
        return f"unreadable: {error}"

    public = private_key.public_key()
    for cert_path, certificate in certificates:
        if certificate.public_key() == public:
            return f"{_algorithm_name(public)}  {_days_left(certificate)} days left  certificate {cert_path.name}"
    return f"{_algorithm_name(public)}  no certificate found in the folder"


def _algorithm_name(public_key: object) -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA-{public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"ECDSA-{public_key.curve.name}"
    return type(public_key).__name__


def _days_left(certificate: x509.Certificate) -> int:
    seconds = (certificate.not_valid_after_utc - datetime.now(timezone.utc)).total_seconds()
    return math.floor(seconds / 86400)


def cmd_sign(args: argparse.Namespace) -> int:
    label = args.key.name
    out: Path = args.out or args.file.with_suffix(".signed.xml")
    try:
        keystore = KeyStore()
        keystore.add(label, args.key, args.cert, password_env=args.password_env, password_file=args.password_file)
        signed = Signer(keystore).sign(args.file.read_bytes(), label)
    except (HubError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    out.write_bytes(signed)
    print(f"signed: {out}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        trust = TrustStore()
        trust.pin_certificates(CLI_PARTNER, args.trust)
        verified = Verifier(trust, allow_sha1=args.allow_sha1).verify(args.file.read_bytes(), CLI_PARTNER)
    except SignatureError as error:
        print(f"rejected: {error.reason}: {error}")
        return 1
    except (HubError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    print(f"valid: signed by {verified.signer_subject} (SHA-256 {verified.signer_fingerprint}) "
          f"with {verified.algorithm}")
    return 0
