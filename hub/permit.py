"""The canonical model: a CITES permit or certificate, box by box.

Box numbers follow the standard form of Res. Conf. 12.3 (Annex 2). The XML mapping lives in
``mappings/citesepermit.py``; this module only holds the data and the invariants every permit
keeps whatever format it came in. Code lists are checked by ``hub.validation`` so that an unknown
code becomes a finding that names the field, not a parse failure.

Quantities are ``Decimal``; date-times keep the offset they were given with; permit numbers and
other identifiers stay strings so that leading zeros survive.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

COUNTRY_PATTERN = r"^[A-Z]{2}$"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=False, extra="forbid", str_strip_whitespace=True)


class Address(_Model):
    """A postal address (UN/CEFACT PostalTradeAddress)."""

    street: str | None = None
    post_office_box: str | None = None
    postcode: str | None = None
    city: str | None = None
    country_subdivision: str | None = None
    country: str | None = Field(default=None, pattern=COUNTRY_PATTERN, description="ISO 3166-1 alpha-2")
    country_name: str | None = None


class TradeParty(_Model):
    """A person or organisation named on the permit (importer, exporter, authority, office)."""

    id: str | None = None
    name: str | None = None
    address: Address | None = None
    representative: str | None = Field(default=None, description="SpecifiedRepresentativePerson/Name")
    signatory: str | None = Field(default=None, description="SpecifiedAuthoritativeSignatoryPerson/Name")


class ReferencedDocument(_Model):
    """Another document the permit refers to (origin permit, last re-export certificate...)."""

    id: str | None = None
    type_code: str | None = Field(default=None, description="UN/EDIFACT 1001, e.g. 861 origin, 811 export")
    name: str | None = None
    issued_at: datetime | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None


class Quantity(_Model):
    """An amount with its CITES unit code; no unit means a number of specimens."""

    value: Decimal
    unit: str | None = None


class Signatory(_Model):
    """A signatory authentication of the header: A the Management Authority, C the issuing official."""

    role: str = Field(description="TypeCode: A, B, C or D")
    id: str | None = Field(default=None, description="for role A, the security stamp number (box 5b)")
    signed_at: datetime | None = None
    statement: str | None = None
    party: TradeParty | None = None
    place: str | None = None


class Endorsement(_Model):
    """Box 14: the export endorsement made by Customs when the permit is used."""

    endorsed_at: datetime | None = None
    port: str | None = Field(default=None, description="UN/LOCODE or national port code")
    port_name: str | None = None
    office: TradeParty | None = None


class PermitItem(_Model):
    """One line of the permit (block A, B, C...), boxes 7 to 12b and its part of box 14."""

    line_id: str = Field(min_length=1, description="the block letter, e.g. 'A'")
    scientific_name: str = Field(min_length=1, description="box 7")
    common_name: str | None = Field(default=None, description="box 8")
    description: str | None = Field(default=None, description="box 9, free text")
    term: str = Field(min_length=1, description="box 9, CITES term code such as SKI or LIV")
    marks: list[str] = Field(default_factory=list, description="box 9, marks and numbers")
    appendix: str = Field(min_length=1, description="box 10: I, II or III")
    source: str = Field(min_length=1, description="box 10: source code such as W or C")
    quantity: Quantity = Field(description="box 11")
    quota_used_to_date: Quantity | None = Field(default=None, description="box 11a")
    annual_quota: Quantity | None = Field(default=None, description="box 11a")
    origin_country: str | None = Field(default=None, pattern=COUNTRY_PATTERN, description="box 12")
    origin_permit: ReferencedDocument | None = Field(default=None, description="box 12 (type 861)")
    last_reexport_country: str | None = Field(default=None, pattern=COUNTRY_PATTERN, description="box 12a")
    last_reexport_document: ReferencedDocument | None = Field(default=None, description="box 12a (type 811)")
    operation_category: str | None = Field(default=None, description="box 12b, CategoryCode")
    acquired_at: datetime | None = Field(default=None, description="box 12b")
    previous_document: ReferencedDocument | None = Field(default=None, description="box 12b")
    seller_assigned_id: str | None = None
    manufacturer_assigned_id: str | None = None
    exported_quantity: Quantity | None = Field(default=None, description="box 14, quantity actually exported")


class Permit(_Model):
    """A CITES permit or certificate (export E, re-export R, import I, other O)."""

    number: str = Field(min_length=1, max_length=70, description="box 1")
    type: str = Field(description="box 1: E, R, I or O")
    name: str | None = Field(default=None, description="box 1, the document's title")
    copy_indicator: bool | None = None
    issued_at: datetime | None = Field(default=None, description="box 13")
    valid_from: datetime | None = Field(default=None, description="box 2")
    valid_until: datetime | None = Field(default=None, description="box 2")
    importer: TradeParty | None = Field(default=None, description="boxes 3 and 3a")
    exporter: TradeParty | None = Field(default=None, description="box 4")
    special_conditions: list[str] = Field(default_factory=list, description="box 5")
    purpose: str | None = Field(default=None, description="box 5a code")
    purpose_text: str | None = None
    signatories: list[Signatory] = Field(default_factory=list, description="boxes 5b, 6 and 13")
    issue_place: str | None = Field(default=None, description="box 13")
    issue_place_id: str | None = None
    references: list[ReferencedDocument] = Field(default_factory=list)
    items: list[PermitItem] = Field(min_length=1, description="boxes 7 to 12b, one per block")
    endorsement: Endorsement | None = Field(default=None, description="box 14")
    transport_document: str | None = Field(default=None, description="box 15: bill of lading or air waybill")
    issuing_party_code: str | None = Field(
        default=None,
        pattern=COUNTRY_PATTERN,
        description="the issuing Party when no box names it (set by mappings that know it)",
    )

    def signatory(self, role: str) -> Signatory | None:
        """Return the signatory with ``role`` (A, B, C or D), or None."""
        return next((s for s in self.signatories if s.role == role), None)

    @property
    def management_authority(self) -> TradeParty | None:
        """Box 6: the Management Authority, carried by signatory A."""
        first = self.signatory("A")
        return first.party if first else None

    @property
    def security_stamp(self) -> str | None:
        """Box 5b."""
        first = self.signatory("A")
        return first.id if first else None

    @property
    def issuing_party(self) -> str | None:
        """ISO code of the Party that issued the permit.

        Taken from the Management Authority's address, else the country that issues this type
        of document: the exporter's for E and R, the importer's for I.
        """
        authority = self.management_authority
        if authority and authority.address and authority.address.country:
            return authority.address.country
        if self.issuing_party_code:
            return self.issuing_party_code
        party = self.importer if self.type == "I" else self.exporter
        if party and party.address:
            return party.address.country
        return None

    @property
    def key(self) -> str:
        """The permit's identity in the hub: issuing Party and number, e.g. 'FR/FR1202501030-R'."""
        return f"{self.issuing_party or '??'}/{self.number}"
