"""Example data the authors of cites-hub wrote for the demo and the tests (no real permits)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def sample_shipments_path() -> Path:
    """Return the path of ``sample_shipments.csv``, invented rows in the Trade Database layout.

    NOTE: this assumes the package is installed as files on disk, not inside a zip archive.
    """
    return Path(str(resources.files(__name__).joinpath("sample_shipments.csv")))
