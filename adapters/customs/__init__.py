"""Customs / Single Window: the permit feed adapter and its simulator."""

from adapters.customs.adapter import CustomsAdapter, CustomsOptions
from adapters.customs.simulator import CustomsSimulator

__all__ = sorted(["CustomsAdapter", "CustomsOptions", "CustomsSimulator"])
