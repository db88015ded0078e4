"""TWIX, the regional Trade in Wildlife Information eXchange databases: their adapter and simulator."""

from adapters.twix.adapter import TwixAdapter, TwixOptions
from adapters.twix.simulator import TwixSimulator

__all__ = sorted(["TwixAdapter", "TwixOptions", "TwixSimulator"])
