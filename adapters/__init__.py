"""Adapters: one package per external system, all laid out alike (adapter, transport, simulator)."""

from adapters.base import (
    Adapter,
    AdapterContext,
    DeliveryJob,
    Direction,
    Outbound,
    Receipt,
)

__all__ = sorted(["Adapter", "AdapterContext", "DeliveryJob", "Direction", "Outbound", "Receipt"])
