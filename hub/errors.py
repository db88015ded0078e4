"""The hub's error family, drawn once.

Errors raised by lxml, httpx, kombu, SQLAlchemy or signxml are translated into these where they
cross into the hub, chained with ``from``. ``Retry``, ``Reject`` and ``Park`` settle a delivery:
a step raises one of them and the worker records the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Severity(str, Enum):
    """How much a finding weighs: an error rejects the message, the others travel with it."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One validation result, with the field path, the value read and what was expected."""

    severity: Severity
    path: str
    message: str
    value: str | None = None
    expected: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity.value,
            "path": self.path,
            "value": self.value,
            "expected": self.expected,
            "message": self.message,
        }

    def __str__(self) -> str:
        return f"{self.severity.value}: {self.path}: {self.message}"


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class ConfigError(HubError, ValueError):
    """The configuration is invalid; the message names the key and the expected value."""


class InvalidMessage(HubError, ValueError):
    """A message failed validation; ``findings`` holds every reason, each with its field path."""

    def __init__(self, message: str, findings: list[Finding] | None = None) -> None:
        super().__init__(message)
        self.findings: list[Finding] = list(findings or [])
        if not self.findings:
            self.findings = [Finding(Severity.ERROR, "/", message)]


class UnsafeXML(InvalidMessage):
    """The document uses a feature the hardened parser never allows (DTD, entity, excess size)."""


class SignatureError(HubError, ValueError):
    """A signature could not be made or did not verify; ``reason`` is a short fixed code."""

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class AuthenticationError(HubError, PermissionError):
    """A caller could not be authenticated or may not act as the sender it names."""


class NotFound(HubError, LookupError):
    """A message, delivery or permit is not in the journal."""


class DeliveryError(HubError, ConnectionError):
    """Sending to a destination failed. ``transient`` says whether trying again can help."""

    transient: bool = True

    def __init__(self, message: str, *, transient: bool | None = None) -> None:
        super().__init__(message)
        if transient is not None:
            self.transient = transient


class TransientDeliveryError(DeliveryError):
    """The destination may accept the same delivery later (timeout, 5xx, connection refused)."""

    transient = True


class PermanentDeliveryError(DeliveryError):
    """The destination rejected the delivery; sending it again unchanged cannot succeed."""

    transient = False


class BrokerError(HubError, ConnectionError):
    """The message broker refused or lost a publish, or could not be reached."""


@dataclass
class Settle(HubError):
    """Base of the exceptions that settle a delivery's outcome."""

    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.reason


@dataclass
class Retry(Settle):
    """Try the delivery again after ``after`` seconds."""

    after: float = 0.0


@dataclass
class Reject(Settle):
    """The destination refused the delivery for a business reason; recorded as failed for good."""


@dataclass
class Park(Settle):
    """Stop trying and park the delivery for an operator, with the reason."""
