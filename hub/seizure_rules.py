"""Rules that route a seizure to the enforcement databases: which seizures ETIS takes, which TWIX gets them.

ETIS (the Elephant Trade Information System, Res. Conf. 10.10) records seizures of elephant
ivory and other elephant products, and nothing else. A seizure goes to ETIS when any of its items
is a specimen of an elephant, whatever its term: tusks and carvings, and skins, hair or meat too.
Mammoth ivory (*Mammuthus*) is not elephant ivory.

TWIX databases are regional (EU-TWIX, AFRICA-TWIX, SADC-TWIX, ...): a seizure goes to the one
whose member countries include the country that made it, as the configuration lists them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hub.seizure import IvoryForm, Seizure, SeizureItem

# The elephant species of the CITES standard nomenclature. Loxodonta cyclotis is listed too
# because agencies that follow the newer taxonomy report forest elephants under that name.
ELEPHANT_SPECIES = frozenset({("loxodonta", "africana"), ("loxodonta", "cyclotis"), ("elephas", "maximus")})
# Names above species that still mean an elephant: a genus alone or with "spp.", and the family.
ELEPHANT_HIGHER_TAXA = frozenset({"loxodonta", "elephas", "elephantidae"})
UNSPECIFIED_SPECIES = frozenset({"sp", "sp.", "spp", "spp."})

# Terms whose elephant specimens are ivory, and whether ETIS counts them as raw or worked, for
# items that do not state the form themselves.
IVORY_TERMS = {
    "TUS": IvoryForm.RAW,  # tusks
    "IVP": IvoryForm.RAW,  # ivory pieces
    "IVS": IvoryForm.RAW,  # ivory scraps
    "IVC": IvoryForm.WORKED,  # ivory carvings
    "CAR": IvoryForm.WORKED,  # carvings
    "PKY": IvoryForm.WORKED,  # piano-key sets
}


def is_elephant_taxon(scientific_name: str) -> bool:
    """Return whether ``scientific_name`` names an elephant: a species, a subspecies, the genus or the family."""
    words = scientific_name.lower().split()
    if not words:
        return False
    if len(words) == 1 or words[1] in UNSPECIFIED_SPECIES:
        return words[0] in ELEPHANT_HIGHER_TAXA
    return (words[0], words[1]) in ELEPHANT_SPECIES


def elephant_items(seizure: Seizure) -> list[SeizureItem]:
    """Return the items of ``seizure`` that are elephant specimens, in their order."""
    return [item for item in seizure.items if is_elephant_taxon(item.scientific_name)]


def is_elephant_ivory(seizure: Seizure) -> bool:
    """Return whether ETIS takes ``seizure``: any item is a specimen of an elephant, ivory or another product."""
    return bool(elephant_items(seizure))


def ivory_form(item: SeizureItem) -> IvoryForm | None:
    """Return whether an elephant item is raw or worked ivory, or None when it is another elephant product.

    The item's own ``ivory_form`` wins, else its term decides (``IVORY_TERMS``).
    """
    if item.ivory_form is not None:
        return item.ivory_form
    return IVORY_TERMS.get(item.term)


def twix_region(seizure: Seizure, regions: Mapping[str, Sequence[str]]) -> str | None:
    """Return the TWIX region whose member countries include the seizure's country of discovery.

    ``regions`` maps a region name to its members' ISO codes, e.g.
    ``{"EU-TWIX": ["BE", "FR", ...], "AFRICA-TWIX": ["CM", "GA", ...]}``. A country listed in
    several regions gets the first of them, in the order of the mapping. Returns None when no
    region lists the country.
    """
    for region, countries in regions.items():
        if seizure.discovery_country in countries:
            return region
    return None
