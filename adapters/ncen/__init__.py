"""WCO nCEN, the national Customs Enforcement Network: its adapter and simulator."""

from adapters.ncen.adapter import NcenAdapter, NcenOptions
from adapters.ncen.simulator import NcenSimulator

__all__ = sorted(["NcenAdapter", "NcenOptions", "NcenSimulator"])
