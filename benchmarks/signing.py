"""Signing and verification rates of the hub beside raw signxml, measured in the same run.

Three ways are timed for each key type (RSA 2048, ECDSA P-256) on the same permit document.
The first is the hub's Signer and Verifier. The second is raw signxml given key and certificate
objects loaded once. The third is raw signxml given PEM bytes on every call, which parses (and
for RSA, checks) the key each time: that cost is why the hub loads keys once. Each rate is the
best of ``--rounds`` interleaved rounds of ``--iterations`` calls, because other processes on
the machine only ever slow a round down. Ratios are hub / raw signxml with loaded objects.

    python -m benchmarks.signing --iterations 300 --out signing-benchmark.json
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file, Python puts this folder first on sys.path, where this file would shadow the
    # signing package; the repository root takes its place.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from importlib import metadata  # noqa: E402

from lxml import etree  # noqa: E402
from signxml import SignatureConfiguration, XMLVerifier  # noqa: E402

from hub import safexml  # noqa: E402
from signing.keys import KeyStore, LoadedKey, new_key_pair  # noqa: E402
from signing.signer import Signer, new_xml_signer  # noqa: E402
from signing.trust import TrustStore  # noqa: E402
from signing.verifier import Verifier  # noqa: E402

PERMIT_NS = "urn:un:unece:uncefact:data:standard:CITESEPermit:2"
RABIE_NS = "urn:un:unece:uncefact:data:draft:ReusableAggregateBusinessInformationEntity:1"
PARTIES = {"rsa": "GH", "ecdsa": "FR"}
WAYS = ("hub", "raw_loaded", "raw_pem")


def permit_document(items: int = 5) -> bytes:
    """Return a CITESEPermit of about 2 KB: a header and ``items`` consignment items."""
    item_xml = "".join(
        f"<ram:IncludedSupplyChainConsignmentItem><ram:ID>{chr(65 + index)}</ram:ID>"
        f"<ram:ScientificName>Python regius</ram:ScientificName><ram:TypeCode>LIV</ram:TypeCode>"
        f'<ram:ItemQuantity unitCode="NAR">{10 * (index + 1)}</ram:ItemQuantity>'
        f"</ram:IncludedSupplyChainConsignmentItem>"
        for index in range(items)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<CITESEPermit xmlns="{PERMIT_NS}" xmlns:ram="{RABIE_NS}">'
        f"<ram:HeaderExchangedDocument><ram:ID>GH/2026/00123</ram:ID><ram:TypeCode>E</ram:TypeCode>"
        f"<ram:IssueDateTime>2026-03-01T09:00:00Z</ram:IssueDateTime></ram:HeaderExchangedDocument>"
        f"<ram:SpecifiedSupplyChainConsignment>{item_xml}</ram:SpecifiedSupplyChainConsignment></CITESEPermit>"
    ).encode()


def rate(call: Callable[[], object], iterations: int) -> float:
    """Return calls per second over ``iterations`` calls."""
    start = time.perf_counter()
    for _ in range(iterations):
        call()
    return iterations / (time.perf_counter() - start)


def signing_calls(
    loaded: LoadedKey, signer: Signer, key_pem: bytes, cert_pem: str, payload: bytes
) -> dict[str, Callable[[], object]]:
    def raw(key: object, cert: object) -> bytes:
        root = safexml.parse(payload)
        signed = new_xml_signer(loaded.signature_method).sign(root, key=key, cert=cert)
        return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")

    return {
        "hub": lambda: signer.sign(payload, loaded.party),
        "raw_loaded": lambda: raw(loaded.private_key, loaded.chain),
        "raw_pem": lambda: raw(key_pem, cert_pem),
    }


def verification_calls(
    loaded: LoadedKey, verifier: Verifier, cert_pem: str, signed: bytes
) -> dict[str, Callable[[], object]]:
    config = SignatureConfiguration(location="./", expect_references=1)
    return {
        "hub": lambda: verifier.verify(signed, loaded.party),
        "raw_loaded": lambda: XMLVerifier().verify(signed, x509_cert=loaded.certificate, expect_config=config),
        "raw_pem": lambda: XMLVerifier().verify(signed, x509_cert=cert_pem, expect_config=config),
    }


def measure(calls: dict[str, Callable[[], object]], iterations: int, rounds: int) -> dict[str, float]:
    for call in calls.values():
        rate(call, max(5, iterations // 20))  # warm-up
    samples: dict[str, list[float]] = {way: [] for way in calls}
    for _ in range(rounds):
        # Interleaved rounds, so that a slow moment of the machine hits every way alike.
        for way, call in calls.items():
            samples[way].append(rate(call, iterations))
    return {way: max(values) for way, values in samples.items()}


def run(iterations: int, rounds: int, folder: Path) -> dict[str, dict[str, dict[str, float]]]:
    payload = permit_document()
    keystore, trust = KeyStore(), TrustStore()
    results: dict[str, dict[str, dict[str, float]]] = {}
    for algorithm, party in PARTIES.items():
        key_path, cert_path = new_key_pair(party, folder, algorithm=algorithm)  # type: ignore[arg-type]
        loaded = keystore.add(party, key_path, cert_path)
        trust.pin_certificates(party, cert_path)
        key_pem = key_path.read_bytes()
        cert_pem = cert_path.read_text()

        signer, verifier = Signer(keystore), Verifier(trust)
        signed = signer.sign(payload, party)
        results[algorithm] = {
            "sign": measure(signing_calls(loaded, signer, key_pem, cert_pem, payload), iterations, rounds),
            "verify": measure(verification_calls(loaded, verifier, cert_pem, signed), iterations, rounds),
        }
    return results


def ratios(results: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    table = {}
    for algorithm, operations in results.items():
        for operation, rates in operations.items():
            table[f"{algorithm}_{operation}"] = {
                "hub_over_raw_loaded": rates["hub"] / rates["raw_loaded"],
                "raw_pem_over_raw_loaded": rates["raw_pem"] / rates["raw_loaded"],
            }
    return table


def environment() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "cpu_count": os.cpu_count(),
        "system": platform.platform(),
        "versions": {name: metadata.version(name) for name in ("signxml", "cryptography", "lxml")},
    }


def print_table(results: dict[str, dict[str, dict[str, float]]], ratio_table: dict[str, dict[str, float]]) -> None:
    print(f"{'operation':16} {'hub /s':>10} {'raw loaded /s':>14} {'raw PEM /s':>11} {'hub/raw':>8} {'PEM/raw':>8}")
    for algorithm, operations in results.items():
        for operation, rates in operations.items():
            name = f"{algorithm}_{operation}"
            ratio = ratio_table[name]
            print(f"{name:16} {rates['hub']:10.0f} {rates['raw_loaded']:14.0f} {rates['raw_pem']:11.0f} "
                  f"{ratio['hub_over_raw_loaded']:8.2f} {ratio['raw_pem_over_raw_loaded']:8.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Signing and verification rates: hub beside raw signxml.")
    parser.add_argument("--iterations", type=int, default=300, help="calls per round and way (default 300)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; each rate is the best of them (default 5)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON to this file")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="cites-hub-signing-bench-") as folder:
        results = run(args.iterations, args.rounds, Path(folder))
    ratio_table = ratios(results)
    print_table(results, ratio_table)

    if args.out is not None:
        report = {"iterations": args.iterations, "rounds": args.rounds, "payload_bytes": len(permit_document()),
                  "environment": environment(), "rates_per_second": results, "ratios": ratio_table}
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
