"""Which seizures go to ETIS, and which TWIX region gets a seizure."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hub.permit import Quantity
from hub.seizure import IvoryForm
from hub.seizure_rules import is_elephant_ivory, is_elephant_taxon, ivory_form, twix_region
from tests.test_seizure_model import make_item, make_pangolin_seizure, make_seizure

REGIONS = {
    "EU-TWIX": ["BE", "DE", "FR", "NL"],
    "AFRICA-TWIX": ["CM", "CF", "CG", "GA", "TD"],
    "SADC-TWIX": ["BW", "MZ", "NA", "ZA", "ZW"],
}


def test_african_elephant_tusks_go_to_etis() -> None:
    seizure = make_seizure(items=[make_item(scientific_name="Loxodonta africana", term="TUS")])

    assert is_elephant_ivory(seizure)


def test_pangolin_scales_do_not_go_to_etis() -> None:
    seizure = make_pangolin_seizure()

    assert not is_elephant_ivory(seizure)


def test_elephant_skin_products_go_to_etis() -> None:
    handbags = make_item(scientific_name="Elephas maximus", term="LPS", pieces=3, weight_kg=None)
    seizure = make_seizure(items=[handbags])

    assert is_elephant_ivory(seizure)
    assert ivory_form(handbags) is None


def test_mixed_seizure_goes_to_etis() -> None:
    scales = make_item(scientific_name="Smutsia gigantea", term="SCA", pieces=None, weight_kg=Decimal("80"))
    carvings = make_item(scientific_name="Loxodonta africana", term="IVC", pieces=12, weight_kg=None)

    assert is_elephant_ivory(make_seizure(items=[scales, carvings]))


@pytest.mark.parametrize(
    "name",
    ["Loxodonta africana", "Elephas maximus", "Elephas maximus indicus", "Loxodonta cyclotis", "Loxodonta spp.",
     "Elephantidae", "loxodonta  AFRICANA"],
)
def test_elephant_names_are_recognised(name: str) -> None:
    assert is_elephant_taxon(name)


@pytest.mark.parametrize("name", ["Mammuthus primigenius", "Manis pentadactyla", "Hippopotamus amphibius", "Odobenus rosmarus", ""])
def test_other_names_are_not_elephants(name: str) -> None:
    assert not is_elephant_taxon(name)


def test_ivory_form_follows_the_term_unless_stated() -> None:
    tusks = make_item(term="TUS")
    carvings = make_item(term="IVC")
    stated = make_item(term="IVP", ivory_form=IvoryForm.WORKED)

    assert ivory_form(tusks) is IvoryForm.RAW
    assert ivory_form(carvings) is IvoryForm.WORKED
    assert ivory_form(stated) is IvoryForm.WORKED


def test_twix_region_follows_the_country_of_discovery() -> None:
    seized_in_belgium = make_pangolin_seizure()
    seized_in_gabon = make_seizure(discovery_country="GA")

    assert twix_region(seized_in_belgium, REGIONS) == "EU-TWIX"
    assert twix_region(seized_in_gabon, REGIONS) == "AFRICA-TWIX"


def test_twix_region_is_none_outside_every_region() -> None:
    seizure = make_seizure(discovery_country="TH")

    assert twix_region(seizure, REGIONS) is None


def test_twix_region_takes_the_first_listing_region() -> None:
    overlapping = {"SADC-TWIX": ["ZA"], "AFRICA-TWIX": ["ZA"]}
    item = make_item(scientific_name="Manis temminckii", term="SCA", quantity=Quantity(value=Decimal("3"), unit="KIL"))

    assert twix_region(make_seizure(discovery_country="ZA", items=[item]), overlapping) == "SADC-TWIX"
