"""The public interface of adapter authors: the names ``adapters`` exports, and only those.

A change to this list changes what every third-party adapter may import, so it must be made here
on purpose, together with the guide (docs/adapters.md).
"""

import adapters

EXPECTED_PUBLIC_NAMES = [
    "Adapter",
    "AdapterContext",
    "AdapterOptions",
    "ConfigError",
    "DeliveryJob",
    "Direction",
    "Envelope",
    "HttpOptions",
    "HttpTransport",
    "InvalidMessage",
    "MessageType",
    "Outbound",
    "PermanentDeliveryError",
    "Permit",
    "Receipt",
    "SimulatedRequest",
    "SimulatedResponse",
    "Simulator",
    "TransientDeliveryError",
    "bearer_header",
    "safexml",
]


def test_public_names_are_the_expected_ones():
    assert adapters.__all__ == EXPECTED_PUBLIC_NAMES


def test_public_names_are_sorted():
    assert adapters.__all__ == sorted(adapters.__all__)


def test_every_public_name_resolves():
    missing = [name for name in adapters.__all__ if not hasattr(adapters, name)]

    assert missing == []


def test_public_names_are_the_hub_objects_themselves():
    from adapters import base, http_transport, simulation
    from hub import envelope, errors, permit

    assert adapters.Adapter is base.Adapter
    assert adapters.HttpTransport is http_transport.HttpTransport
    assert adapters.Simulator is simulation.Simulator
    assert adapters.MessageType is envelope.MessageType
    assert adapters.PermanentDeliveryError is errors.PermanentDeliveryError
    assert adapters.Permit is permit.Permit


def test_star_import_gives_exactly_the_public_names():
    namespace = {}

    exec("from adapters import *", namespace)

    assert sorted(name for name in namespace if name != "__builtins__") == EXPECTED_PUBLIC_NAMES


def test_delivery_errors_carry_their_classification():
    assert adapters.TransientDeliveryError("x").transient is True
    assert adapters.PermanentDeliveryError("x").transient is False
