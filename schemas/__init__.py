"""Every XSD and WSDL the hub reads, kept locally; nothing is loaded over the network."""

from __future__ import annotations

from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent


def path(relative: str) -> Path:
    """Return the local path of a schema file shipped with the hub, e.g. 'citesepermit/CITESEPermit_2.xsd'."""
    location = SCHEMA_DIR / relative
    if not location.is_file():
        raise FileNotFoundError(f"schema '{relative}' is not shipped in {SCHEMA_DIR}")
    return location
