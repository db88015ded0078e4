"""The hub's configuration: one YAML file validated by pydantic.

With no file the hub runs embedded: the in-process broker, a SQLite journal in the data folder,
the built-in simulators standing in for Customs and the permit store, and one route that feeds
every permit to Customs. Secrets are never written inline: API keys are stored as SHA-256 hashes
and adapter credentials are read from environment variables or files named in the options.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hub.envelope import MessageType
from hub.errors import ConfigError

SIMULATOR_URL = "simulator"
PERMIT_MESSAGE_TYPES = [
    MessageType.PERMIT_ISSUED,
    MessageType.PERMIT_AMENDED,
    MessageType.PERMIT_CANCELLED,
    MessageType.PERMIT_REPLACED,
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BrokerConfig(_Section):
    """Where the work queues live: ``memory://`` in one process, or an ``amqp://`` URL."""

    url: str = "memory://"
    prefetch: int = Field(default=32, ge=1, description="unacknowledged deliveries per consumer")
    confirm_timeout_seconds: float = Field(default=5.0, gt=0)
    quorum_queues: bool = True
    delivery_limit: int = Field(default=20, ge=1, description="redeliveries before RabbitMQ drops a poison message")
    namespace: str = Field(default="cites", pattern=r"^[a-z][a-z0-9_-]*$", description="prefix of every exchange and queue")


class JournalConfig(_Section):
    """The journal database: a SQLAlchemy URL; empty means a SQLite file in the data folder."""

    url: str | None = None
    pool_size: int = Field(default=5, ge=1)


class ApiConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)


class RetryPolicy(_Section):
    """How often and how patiently a delivery is tried: attempts and exponential backoff with jitter."""

    max_attempts: int = Field(default=5, ge=1)
    backoff_initial_seconds: float = Field(default=1.0, ge=0)
    backoff_max_seconds: float = Field(default=300.0, ge=0)


class DeliveryConfig(RetryPolicy):
    """The default retry policy, the worker's lease and the sweep that republishes due work."""

    lease_seconds: float = Field(default=60.0, gt=0, description="how long a worker holds a delivery")
    sweep_interval_seconds: float = Field(default=2.0, gt=0)
    consumers_per_destination: int = Field(
        default=4, ge=1, le=64,
        description="delivery threads per destination in each worker process on RabbitMQ; they overlap "
                    "network waits (the in-process broker uses one)")


class KeyConfig(_Section):
    """A signing key of one of our Parties: PEM key and certificate, or PKCS#12 without ``cert``.

    The password of an encrypted key is read from ``password_env`` or ``password_file``, never
    written here.
    """

    party: str = Field(pattern=r"^[A-Z]{2}$")
    key: Path
    cert: Path | None = None
    password_env: str | None = None
    password_file: Path | None = None


class TrustConfig(_Section):
    """Whose signatures a partner's messages may carry: pinned certificates, or a CA and a subject."""

    certificates: list[Path] = Field(default_factory=list, description="PEM/DER files or folders to pin")
    fingerprints: list[str] = Field(default_factory=list, description="SHA-256 fingerprints to pin")
    ca: Path | None = None
    expected_subject: dict[str, str] = Field(default_factory=dict, description="e.g. {C: FR, O: ...}")
    allow_sha1: bool = Field(default=False, description="accept SHA-1 from this partner, for verification only")


class PartnerConfig(_Section):
    """A partner: a Party, a Customs system or a database, with its adapter and its rights."""

    adapter: str
    party: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    api_key_sha256: list[str] = Field(default_factory=list, description="hex SHA-256 of each valid API key")
    amqp_user: str | None = None
    may_send: list[MessageType] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)
    retry: RetryPolicy | None = Field(default=None, description="this partner's retry policy (default: delivery's)")
    sign_outbound: bool = Field(default=False, description="sign what is sent to this partner with our key")
    verify_inbound: bool = Field(default=False, description="accept only messages this partner signed")
    trust: TrustConfig | None = None

    @field_validator("api_key_sha256", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class OperatorConfig(_Section):
    """An operator who may list, replay and discard parked deliveries over the HTTP API."""

    api_key_sha256: list[str] = Field(default_factory=list, description="hex SHA-256 of each valid API key")

    @field_validator("api_key_sha256", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class RouteMatch(_Section):
    """Conditions of a route; each listed field must match (any of its values). Empty matches all."""

    message_type: list[MessageType] = Field(default_factory=list)
    permit_type: list[str] = Field(default_factory=list)
    sender: list[str] = Field(default_factory=list)
    issuing_party: list[str] = Field(default_factory=list)
    exporter_country: list[str] = Field(default_factory=list)
    importer_country: list[str] = Field(default_factory=list)
    taxon: list[str] = Field(default_factory=list, description="scientific name or genus prefix")
    term: list[str] = Field(default_factory=list)
    appendix: list[str] = Field(default_factory=list)
    elephant: bool | None = Field(default=None, description="seizures: of elephant specimens (ETIS) or not")
    twix_region: list[str] = Field(default_factory=list, description="seizures: TWIX region of the discovery")


class SpeciesConfig(_Section):
    """The species list that validation checks names and appendices against."""

    snapshot: Path = Field(description="a Species+ 'Index of CITES Species' CSV export (.csv or .csv.gz)")
    unknown_policy: str = Field(default="warning", pattern="^(warning|error)$")


class RouteConfig(_Section):
    name: str
    match: RouteMatch = Field(default_factory=RouteMatch)
    to: list[str] = Field(min_length=1)


class HubConfig(_Section):
    """The whole configuration file."""

    party: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="our own Party")
    data_dir: Path = Path("cites-hub-data")
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    journal: JournalConfig = Field(default_factory=JournalConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    keys: list[KeyConfig] = Field(default_factory=list, description="our signing keys")
    partners: dict[str, PartnerConfig] = Field(default_factory=dict)
    operators: dict[str, OperatorConfig] = Field(default_factory=dict)
    routes: list[RouteConfig] = Field(default_factory=list)
    twix_regions: dict[str, list[str]] = Field(default_factory=dict, description="TWIX region -> ISO countries")
    species: SpeciesConfig | None = None
    trade_restrictions: Path | None = Field(
        default=None, description="CSV of trade suspensions and export quotas (taxon, country, kind, note)")

    @property
    def journal_url(self) -> str:
        return self.journal.url or f"sqlite:///{self.data_dir / 'journal.sqlite3'}"

    @property
    def embedded(self) -> bool:
        return self.broker.url.startswith("memory://")

    def check_references(self) -> None:
        """Raise ConfigError when a route names an unknown partner or signing lacks its keys or trust."""
        for name, partner in self.partners.items():
            if partner.verify_inbound and partner.trust is None:
                raise ConfigError(f"partner '{name}': verify_inbound needs a trust section (certificates or ca)")
            if partner.sign_outbound and not any(key.party == self.party for key in self.keys):
                raise ConfigError(f"partner '{name}': sign_outbound needs our party set and a key for it in keys; "
                                  f"party is {self.party!r}, keys are for {[key.party for key in self.keys]}")
        for route in self.routes:
            for target in route.to:
                if target not in self.partners:
                    known = ", ".join(sorted(self.partners)) or "(none)"
                    raise ConfigError(f"route '{route.name}': destination '{target}' is not a partner; known: {known}")


def hash_api_key(key: str) -> str:
    """Return the hex SHA-256 of an API key, as stored in ``api_key_sha256``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def load(path: Path | None) -> HubConfig:
    """Read and validate the configuration file, or return the embedded default when ``path`` is None."""
    if path is None:
        return default_config()
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise ConfigError(f"cannot read configuration file {path}: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"configuration file {path} is not valid YAML: {error}") from error
    return from_dict(raw, source=str(path))


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_environment(value: Any, path: str = "") -> Any:
    """Replace ``${NAME}`` in every string with the environment variable NAME (for secrets in URLs).

    Raises ConfigError naming the variable and the key when NAME is not set.
    """
    if isinstance(value, dict):
        return {key: expand_environment(item, f"{path}.{key}" if path else str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [expand_environment(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, str):
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigError(f"{path}: environment variable {name} is not set; set it or remove ${{{name}}}")
            return os.environ[name]

        return _VARIABLE.sub(replace, value)
    return value


def from_dict(raw: dict[str, Any], source: str = "configuration") -> HubConfig:
    raw = expand_environment(raw)
    try:
        config = HubConfig.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})" for e in error.errors()
        )
        raise ConfigError(f"{source} is invalid: {problems}") from error
    config.check_references()
    return config


def default_config(data_dir: Path = Path("cites-hub-data")) -> HubConfig:
    """The embedded default: simulators stand in for the permit store, Customs and the enforcement databases.

    Permits go to Customs; Customs' usage reports go to the permit store; seizures go to nCEN,
    TWIX and the permit store, and to ETIS only when they are of elephant specimens.
    """
    simulated = {"url": SIMULATOR_URL}
    return HubConfig(
        data_dir=data_dir,
        partners={
            "permit-store": PartnerConfig(adapter="permit_store", may_send=[*PERMIT_MESSAGE_TYPES], options=simulated),
            "customs": PartnerConfig(adapter="customs", options=simulated,
                                     may_send=[MessageType.PERMIT_ENDORSED, MessageType.SEIZURE_REPORTED]),
            "ncen": PartnerConfig(adapter="ncen", options=simulated),
            "twix": PartnerConfig(adapter="twix", options=simulated),
            "etis": PartnerConfig(adapter="etis", options=simulated),
        },
        operators={"operator": OperatorConfig()},
        routes=[
            RouteConfig(name="permits-to-customs", match=RouteMatch(message_type=[*PERMIT_MESSAGE_TYPES]),
                        to=["customs"]),
            RouteConfig(name="usage-to-permit-store",
                        match=RouteMatch(message_type=[MessageType.PERMIT_ENDORSED], sender=["customs"]),
                        to=["permit-store"]),
            RouteConfig(name="seizures", match=RouteMatch(message_type=[MessageType.SEIZURE_REPORTED]),
                        to=["ncen", "twix", "permit-store"]),
            RouteConfig(name="ivory-seizures-to-etis",
                        match=RouteMatch(message_type=[MessageType.SEIZURE_REPORTED], elephant=True), to=["etis"]),
        ],
    )
