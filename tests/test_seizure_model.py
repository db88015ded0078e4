"""The Seizure model: its invariants, and the builders the other seizure tests use."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from hub.permit import Quantity
from hub.seizure import (
    Company,
    NominalData,
    OriginCountry,
    Person,
    Seizure,
    SeizureItem,
    Sharing,
    TradeChain,
    TransitCountry,
    TransportMode,
)

SEIZED_AT = datetime(2026, 3, 14, 6, 40, tzinfo=timezone(timedelta(hours=1)))
PERSON_NAME = "Ariane Fictive-Moreau"
COMPANY_NAME = "Fictive Curios Export Ltd"


def make_item(**changes: Any) -> SeizureItem:
    values: dict[str, Any] = dict(scientific_name="Loxodonta africana", term="TUS", pieces=4, weight_kg=Decimal("23.5"))
    values.update(changes)
    return SeizureItem(**values)


def make_nominal() -> NominalData:
    return NominalData(
        persons=[Person(name=PERSON_NAME, role="courier", nationality="KE", identity_document="P1234567")],
        companies=[Company(name=COMPANY_NAME, role="consignor", country="KE", registration_id="KE-REG-99")],
    )


def make_seizure(seizure_id: str = "FR-DGDDI-2026-0042", **changes: Any) -> Seizure:
    """An ivory seizure made at Paris-CDG: tusks from Kenya, via Dubai, bound for Viet Nam."""
    values: dict[str, Any] = dict(
        id=seizure_id,
        seized_at=SEIZED_AT,
        discovery_country="FR",
        discovery_place="Paris-Charles de Gaulle airport",
        discovery_locode="FRCDG",
        agency="Customs",
        detection_method="x-ray",
        items=[make_item()],
        trade_chain=TradeChain(
            origin=[OriginCountry(country="KE", proportion=Decimal("0.8")), OriginCountry(country="UG", proportion=Decimal("0.2"))],
            export=["KE"],
            transit=[TransitCountry(country="AE", seizure_opportunity=True)],
            destination="VN",
        ),
        transport_mode=TransportMode.AIR,
        concealment="suitcase lining",
        permit_numbers=["KE2026000111"],
    )
    values.update(changes)
    return Seizure(**values)


def make_pangolin_seizure(seizure_id: str = "BE-ANR-2026-0107", **changes: Any) -> Seizure:
    item = make_item(scientific_name="Phataginus tricuspis", term="SCA", pieces=None,
                     quantity=Quantity(value=Decimal("212"), unit="KIL"), weight_kg=None)
    return make_seizure(seizure_id, discovery_country="BE", items=[item], **changes)


def test_seizure_date_needs_an_offset() -> None:
    naive = SEIZED_AT.replace(tzinfo=None)

    with pytest.raises(ValidationError, match="seized_at"):
        make_seizure(seized_at=naive)


def test_item_without_any_amount_is_rejected() -> None:
    with pytest.raises(ValidationError, match="no amount"):
        make_item(pieces=None, weight_kg=None)


def test_negative_weight_is_rejected() -> None:
    with pytest.raises(ValidationError, match="weight_kg"):
        make_item(weight_kg=Decimal("-1"))


def test_country_of_discovery_must_be_an_iso_code() -> None:
    with pytest.raises(ValidationError, match="discovery_country"):
        make_seizure(discovery_country="France")


def test_origin_proportions_cannot_exceed_one() -> None:
    origins = [OriginCountry(country="KE", proportion=Decimal("0.8")), OriginCountry(country="TZ", proportion=Decimal("0.5"))]

    with pytest.raises(ValidationError, match="proportions add up to 1.3"):
        TradeChain(origin=origins)


def test_weight_in_kg_converts_mass_units() -> None:
    item = make_item(pieces=None, weight_kg=None, quantity=Quantity(value=Decimal("1500"), unit="GRM"))

    assert item.weight_in_kg == Decimal("1.5")
    assert item.piece_count is None


def test_piece_count_reads_a_whole_quantity_without_unit() -> None:
    item = make_item(pieces=None, weight_kg=None, quantity=Quantity(value=Decimal("25")))

    assert item.piece_count == 25
    assert item.weight_in_kg is None


def test_repr_shows_no_nominal_data() -> None:
    seizure = make_seizure(nominal=make_nominal(), sharing=Sharing.NOMINAL)

    texts = [repr(seizure), str(seizure), repr(seizure.nominal), str(seizure.nominal.persons[0])]

    for text in texts:
        assert PERSON_NAME not in text
        assert COMPANY_NAME not in text
        assert "P1234567" not in text


def test_nominal_data_is_shared_only_when_allowed() -> None:
    restricted = make_seizure(nominal=make_nominal())
    shared = make_seizure(nominal=make_nominal(), sharing=Sharing.NOMINAL)

    assert restricted.sharing is Sharing.NON_NOMINAL
    assert not restricted.shares_nominal
    assert shared.shares_nominal
    assert shared.without_nominal().nominal is None
