"""A cites-hub adapter for a national Single Window that takes a JSON permit feed (worked example)."""

from cites_hub_adapter_single_window.adapter import SingleWindowAdapter, SingleWindowOptions
from cites_hub_adapter_single_window.simulator import SingleWindowSimulator

__all__ = sorted(["SingleWindowAdapter", "SingleWindowOptions", "SingleWindowSimulator"])
