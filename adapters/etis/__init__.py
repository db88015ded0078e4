"""ETIS, the Elephant Trade Information System: its adapter and simulator."""

from adapters.etis.adapter import EtisAdapter, EtisOptions
from adapters.etis.simulator import EtisSimulator

__all__ = sorted(["EtisAdapter", "EtisOptions", "EtisSimulator"])
