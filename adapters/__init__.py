"""Adapters: one package per external system, all laid out alike (adapter, transport, simulator).

This module is the public interface of adapter authors: an adapter package, built in or third
party, imports what it needs from ``adapters`` and nothing else from the hub, so the modules behind
these names may move without breaking it. ``tests/test_adapter_api.py`` guards ``__all__``: a name
is added or removed on purpose, never as a side effect.

``adapters.conformance`` (the shared test suite) and ``adapters.scaffold`` (``cites-hub adapter
new``) are public modules of their own, imported by name.
"""

from adapters.base import (
    Adapter,
    AdapterContext,
    AdapterOptions,
    DeliveryJob,
    Direction,
    Outbound,
    Receipt,
)
from adapters.http_transport import HttpOptions, HttpTransport, bearer_header
from adapters.simulation import SimulatedRequest, SimulatedResponse, Simulator
from hub import safexml
from hub.envelope import Envelope, MessageType
from hub.errors import ConfigError, InvalidMessage, PermanentDeliveryError, TransientDeliveryError
from hub.permit import Permit

__all__ = sorted(
    [
        # The interface an adapter implements and the data it receives and returns.
        "Adapter",
        "AdapterContext",
        "AdapterOptions",
        "DeliveryJob",
        "Direction",
        "Envelope",
        "MessageType",
        "Outbound",
        "Permit",
        "Receipt",
        # The errors an adapter raises: delivery outcomes, invalid options, unreadable documents.
        "ConfigError",
        "InvalidMessage",
        "PermanentDeliveryError",
        "TransientDeliveryError",
        # The shared HTTP transport and the hardened XML parser.
        "HttpOptions",
        "HttpTransport",
        "bearer_header",
        "safexml",
        # The base of loopback simulators.
        "SimulatedRequest",
        "SimulatedResponse",
        "Simulator",
    ]
)
