"""The access list of our national CITES service: which calling Parties may call which operations.

A caller is the Party named by the country (``C=``) of its TLS client certificate. Each listed
Party gets its operations and the partner of the hub configuration that represents it. Its
confirmations are journaled with that partner as sender, and that partner's profile decides
whether the Party must sign its requests and whether the permits served to it are signed.
``blanket`` grants operations to every other authenticated Party, as EPIX Connect's blanket
permission does, under ``default_partner``.

An unknown Party gets the fault ``CallerNotFound``; a known Party calling an operation it was
not granted gets ``OperationNotAllowed``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.epix.soap import EpixFault, FaultCode, Operation
from hub.errors import ConfigError

_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class CallerRule:
    """The operations one calling Party may call, and the partner that represents it in the hub's configuration."""

    country: str
    operations: frozenset[Operation]
    partner: str


class CallerConfig(BaseModel):
    """One Party in the ``access`` option: the operations it may call and, optionally, its partner."""

    model_config = ConfigDict(extra="forbid")

    operations: list[Operation] = Field(default_factory=lambda: list(Operation))
    partner: str | None = Field(default=None, description="partner name in the configuration; default: the EPIX partner")


class AccessConfig(BaseModel):
    """The ``access`` option: callers by ISO code, and operations granted to every other Party."""

    model_config = ConfigDict(extra="forbid")

    callers: dict[str, CallerConfig] = Field(default_factory=dict)
    blanket: list[Operation] = Field(default_factory=list)


class AccessList:
    """The rules that decide whether a calling Party may call an operation; see the module docstring."""

    def __init__(self, rules: Iterable[CallerRule], *, blanket: Iterable[Operation] = (),
                 default_partner: str | None = None) -> None:
        self._rules: dict[str, CallerRule] = {}
        for rule in rules:
            if not _COUNTRY.match(rule.country):
                raise ConfigError(f"access list: caller '{rule.country}' is not an ISO 3166-1 alpha-2 code; "
                                  "expected two upper-case letters such as FR")
            self._rules[rule.country] = rule
        self.blanket = frozenset(blanket)
        if self.blanket and default_partner is None:
            raise ConfigError("access list: blanket operations need a default partner for the callers they admit")
        self.default_partner = default_partner

    @classmethod
    def from_config(cls, raw: AccessConfig | Mapping[str, Any], *, default_partner: str) -> "AccessList":
        """Build the list from the ``access`` option; a Party without ``partner`` gets ``default_partner``."""
        try:
            config = raw if isinstance(raw, AccessConfig) else AccessConfig.model_validate(raw)
        except ValidationError as error:
            raise ConfigError(f"access list is invalid: {error}") from error
        rules = [
            CallerRule(country=country, operations=frozenset(caller.operations),
                       partner=caller.partner or default_partner)
            for country, caller in config.callers.items()
        ]
        return cls(rules, blanket=config.blanket, default_partner=default_partner)

    @classmethod
    def allow_all(cls, countries: Iterable[str], partner: str) -> "AccessList":
        """Return a list that grants every operation to each of ``countries``, all under ``partner``."""
        return cls([CallerRule(country, frozenset(Operation), partner) for country in countries])

    def check(self, country: str, operation: Operation) -> CallerRule:
        """Return the rule that admits ``country`` to ``operation``; EpixFault otherwise."""
        rule = self._rules.get(country)
        if rule is not None and operation in rule.operations:
            return rule
        if rule is None and operation in self.blanket and self.default_partner is not None:
            return CallerRule(country, self.blanket, self.default_partner)

        if rule is None:
            raise EpixFault(FaultCode.CALLER_NOT_FOUND,
                            f"caller Party '{country}' is not in the access list of this service; its Management "
                            "Authority must be added before it can call")
        allowed = ", ".join(sorted(op.value for op in rule.operations)) or "nothing"
        raise EpixFault(FaultCode.OPERATION_NOT_ALLOWED,
                        f"caller Party '{country}' may not call {operation.value}; it may call: {allowed}")

    def countries(self) -> list[str]:
        return sorted(self._rules)
