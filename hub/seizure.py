"""The seizure record: one seizure of CITES specimens, reported by Customs or another enforcement agency.

A seizure is a document of its own, not a permit. Its fields are those that the enforcement
databases share (WCO nCEN, TWIX, ETIS) and that the CITES annual illegal trade report asks for:
when, where and by which agency the specimens were found, what they were, the trade chain, the transport
and concealment, the permits presented, and who was involved.

Persons and companies are nominal data. They live in the separate optional ``nominal`` part, and
``sharing`` says whether that part may leave the hub at all. Their ``repr`` shows no field, so
logging a ``Seizure`` or any part of it never writes a name.

Quantities are ``Decimal``. The seizure date-time must carry a UTC offset. Country codes are
ISO 3166-1 alpha-2; ETIS's pseudo-codes such as ``XF`` (somewhere in Africa) have the same form
and are accepted in the trade chain.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.permit import COUNTRY_PATTERN, Quantity

# UN/LOCODE: the ISO country code followed by three letters or digits 2-9.
LOCODE_PATTERN = r"^[A-Z]{2}[A-Z2-9]{3}$"
# Printable ASCII without leading or trailing spaces, so that the id can travel in an HTTP header.
SEIZURE_ID_PATTERN = r"^[!-~]([ -~]{0,68}[!-~])?$"

# Mass units of the CITES unit list, in kilograms.
KILOGRAMS_PER_UNIT = {
    "TON": Decimal(1000),
    "KIL": Decimal(1),
    "GRM": Decimal("0.001"),
    "MGM": Decimal("0.000001"),
    "MYG": Decimal("0.000000001"),
}
# Units whose quantity is a count of pieces; no unit means a number of specimens.
PIECE_UNITS = frozenset({None, "PCS"})

CountryCode = Annotated[str, Field(pattern=COUNTRY_PATTERN, description="ISO 3166-1 alpha-2")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SeizureStatus(str, Enum):
    """How far the record has been checked: reported by the agency, then validated and verified."""

    REPORTED = "reported"
    VALIDATED = "validated"
    VERIFIED = "verified"


class Sharing(str, Enum):
    """Whether the nominal part may leave the hub.

    ``nominal``: it may go to the databases that take nominal data. ``non-nominal``: no database
    receives it, whatever the database takes.
    """

    NOMINAL = "nominal"
    NON_NOMINAL = "non-nominal"


class IvoryForm(str, Enum):
    """Raw ivory (whole tusks, cut pieces) or worked ivory (carvings, jewellery), as ETIS counts it."""

    RAW = "raw"
    WORKED = "worked"


class TransportMode(str, Enum):
    """The mode of transport the specimens were found in or were to travel by."""

    AIR = "air"
    SEA = "sea"
    ROAD = "road"
    RAIL = "rail"
    POSTAL = "postal"
    INLAND_WATERWAY = "inland-waterway"
    PEDESTRIAN = "pedestrian"
    OTHER = "other"
    UNKNOWN = "unknown"


class SeizureItem(_Model):
    """One kind of specimen seized: a taxon, a term and how much of it.

    At least one of ``quantity``, ``pieces`` and ``weight_kg`` is given, and each given one is
    positive. ``quantity`` is the amount in the CITES unit as reported, while ``pieces`` and
    ``weight_kg`` are the count and the mass that ETIS and TWIX record.
    """

    scientific_name: str = Field(min_length=1, max_length=200)
    common_name: str | None = Field(default=None, max_length=200)
    taxon_id: str | None = Field(default=None, max_length=20, description="Species+ taxon concept id")
    term: str = Field(min_length=1, description="CITES term code such as TUS or SCA")
    description: str | None = Field(default=None, max_length=512)
    quantity: Quantity | None = None
    pieces: int | None = Field(default=None, gt=0)
    weight_kg: Decimal | None = Field(default=None, gt=0)
    ivory_form: IvoryForm | None = Field(default=None, description="for ivory: raw or worked")

    @model_validator(mode="after")
    def _has_an_amount(self) -> "SeizureItem":
        if self.quantity is None and self.pieces is None and self.weight_kg is None:
            raise ValueError("item has no amount; expected a quantity, a number of pieces or a weight in kg")
        if self.quantity is not None and self.quantity.value <= 0:
            raise ValueError(f"quantity '{self.quantity.value}' must be positive; expected a number greater than 0")
        return self

    @property
    def weight_in_kg(self) -> Decimal | None:
        """The weight in kg: ``weight_kg``, else the quantity when its unit is a mass unit, else None."""
        if self.weight_kg is not None:
            return self.weight_kg
        if self.quantity is not None and self.quantity.unit in KILOGRAMS_PER_UNIT:
            return self.quantity.value * KILOGRAMS_PER_UNIT[self.quantity.unit]
        return None

    @property
    def piece_count(self) -> int | None:
        """The number of pieces: ``pieces``, else a whole quantity counted in pieces or specimens, else None."""
        if self.pieces is not None:
            return self.pieces
        quantity = self.quantity
        if quantity is not None and quantity.unit in PIECE_UNITS and quantity.value == quantity.value.to_integral_value():
            return int(quantity.value)
        return None


class OriginCountry(_Model):
    """A country the specimens came from, with the share of the seizure from it when known (0 to 1)."""

    country: CountryCode
    proportion: Decimal | None = Field(default=None, gt=0, le=1)


class TransitCountry(_Model):
    """A country the consignment passed through.

    ``seizure_opportunity`` is true when the consignment was within that country's jurisdiction
    long enough that it could have been seized there.
    """

    country: CountryCode
    seizure_opportunity: bool | None = None


class TradeChain(_Model):
    """The countries of origin, export, transit and destination, each when known."""

    origin: list[OriginCountry] = Field(default_factory=list)
    export: list[CountryCode] = Field(default_factory=list)
    transit: list[TransitCountry] = Field(default_factory=list)
    destination: CountryCode | None = None

    @model_validator(mode="after")
    def _proportions_add_up(self) -> "TradeChain":
        total = sum((origin.proportion or Decimal(0) for origin in self.origin), Decimal(0))
        if total > 1:
            raise ValueError(f"origin proportions add up to {total}; expected at most 1")
        return self


class Person(_Model):
    """A person linked to the seizure. Nominal data: its repr shows no field."""

    name: str = Field(min_length=1, max_length=200, repr=False)
    role: str | None = Field(default=None, max_length=100, repr=False, description="e.g. courier, owner")
    nationality: CountryCode | None = Field(default=None, repr=False)
    birth_date: date | None = Field(default=None, repr=False)
    identity_document: str | None = Field(default=None, max_length=100, repr=False)


class Company(_Model):
    """A company linked to the seizure. Nominal data: its repr shows no field."""

    name: str = Field(min_length=1, max_length=200, repr=False)
    role: str | None = Field(default=None, max_length=100, repr=False, description="e.g. consignor, carrier")
    country: CountryCode | None = Field(default=None, repr=False)
    registration_id: str | None = Field(default=None, max_length=100, repr=False)


class NominalData(_Model):
    """The persons and companies linked to a seizure; its repr shows only how many there are."""

    persons: list[Person] = Field(default_factory=list, repr=False)
    companies: list[Company] = Field(default_factory=list, repr=False)

    def __repr_args__(self):  # type: ignore[no-untyped-def]
        yield "persons", len(self.persons)
        yield "companies", len(self.companies)


class Seizure(_Model):
    """A seizure of CITES specimens, with its nominal data in a separate optional part."""

    id: str = Field(pattern=SEIZURE_ID_PATTERN, description="the seizing agency's reference")
    seized_at: datetime = Field(description="when the specimens were seized, with its UTC offset")
    discovery_country: CountryCode = Field(description="the country that made the seizure")
    discovery_place: str | None = Field(default=None, max_length=200, description="port, airport or place name")
    discovery_locode: str | None = Field(default=None, pattern=LOCODE_PATTERN, description="UN/LOCODE of the place")
    agency: str | None = Field(default=None, max_length=200)
    detection_method: str | None = Field(default=None, max_length=200, description="e.g. x-ray, sniffer dog, risk profile")
    items: list[SeizureItem] = Field(min_length=1)
    trade_chain: TradeChain = Field(default_factory=TradeChain)
    transport_mode: TransportMode | None = None
    concealment: str | None = Field(default=None, max_length=512, description="method of concealment")
    permit_numbers: list[str] = Field(default_factory=list, description="CITES documents presented with the specimens")
    status: SeizureStatus = SeizureStatus.REPORTED
    sharing: Sharing = Sharing.NON_NOMINAL
    disposal: str | None = Field(default=None, max_length=512, description="what became of the specimens")
    nominal: NominalData | None = Field(default=None, repr=False)

    @field_validator("seized_at")
    @classmethod
    def _has_offset(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"seized_at '{value.isoformat()}' has no UTC offset; expected e.g. 2026-03-14T06:40:00+01:00")
        return value

    @property
    def shares_nominal(self) -> bool:
        """True when the record has nominal data and its sharing restriction lets that data leave the hub."""
        return self.sharing is Sharing.NOMINAL and self.nominal is not None

    def without_nominal(self) -> "Seizure":
        """Return a copy without the nominal part: what a non-nominal database may receive."""
        return self.model_copy(update={"nominal": None})
