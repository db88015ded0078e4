"""CBFShip v1 XML (CITES Electronic Permitting Toolkit v1) → :class:`Permit`, input only.

v1 has the same structure as CITESEPermit v2 and the same RABIE namespace, with these
differences, which are the only things this module handles:

* the root is ``CBFShip`` in :data:`NAMESPACE`;
* an address carries its country in ``CountryIdentificationTradeCountry`` (``ID``, ``Name``,
  ``SubordinateTradeCountrySubDivision/Name``) instead of ``CountryID`` and ``CountryName``;
* the quota block of an item is ``ApplicableCrossBorderGovernmentProcedure``;
* the quantity actually exported (box 14) is ``ExaminationTransportEvent/InspectedUnitQuantity``;
* the consignment may name the country of import in ``ImportTradeCountry``.

The hub writes v2 only: map the Permit with ``mappings.citesepermit.to_xml``.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from hub import safexml
from hub.permit import Permit
from mappings.citesepermit import PermitReader, find_root_element

NAMESPACE = "urn:un:unece:uncefact:data:draft:CBFShip:1"
ROOT_NAME = "CBFShip"
SCHEMA_FILE = "citesepermit/CBFShip_1.xsd"


def from_bytes(data: bytes) -> Permit:
    """Parse ``data`` with the hardened parser and map the CBFShip it contains (bare or in SOAP)."""
    root = safexml.parse(data)
    return from_xml(find_permit_element(root))


def from_xml(root: etree._Element) -> Permit:
    """Map a CBFShip element, qualified or not, to a Permit. Raises InvalidMessage."""
    return CBFShipReader(root).read()


def find_permit_element(root: etree._Element) -> etree._Element:
    """Return ``root`` when it is a CBFShip, else the first CBFShip below it.

    Raises InvalidMessage when there is none.
    """
    return find_root_element(root, ROOT_NAME, NAMESPACE)


class CBFShipReader(PermitReader):
    """The v2 reader with the v1 element names."""

    namespace = NAMESPACE
    root_name = ROOT_NAME
    procedure_name = "ApplicableCrossBorderGovernmentProcedure"
    exported_quantity_name = "InspectedUnitQuantity"

    def address_country(self, address: etree._Element) -> dict[str, Any]:
        country = ("CountryIdentificationTradeCountry",)
        return {
            "country": self.country(address, *country, "ID"),
            "country_name": self.text(address, *country, "Name"),
            "country_subdivision": self.text(address, *country, "SubordinateTradeCountrySubDivision", "Name"),
        }

    def importer(self, consignment: etree._Element) -> dict[str, Any] | None:
        """Read the consignee, taking its country from ImportTradeCountry when its address has none."""
        importer = super().importer(consignment)
        country = self.country(consignment, "ImportTradeCountry", "ID")
        if country is None:
            return importer

        importer = importer or {}
        address = importer.get("address") or {}
        if "country" not in address:
            address = {**address, "country": country}
            name = self.text(consignment, "ImportTradeCountry", "Name")
            if name is not None:
                address.setdefault("country_name", name)
        return {**importer, "address": address}
