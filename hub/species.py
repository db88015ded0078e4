"""Species checks of a permit against the CITES species list: names, synonyms, listing, kingdom.

A :class:`SpeciesChecker` takes anything that can look up a scientific name (the offline
snapshot ``adapters.speciesplus.SpeciesSnapshot`` or the Species+ API client
``adapters.speciesplus.SpeciesPlusClient``) and turns what it finds into findings, one pass per
permit item:

- a synonym is mapped to its accepted name, with an info finding that names both;
- a box 10 appendix that the current listing does not contain is an error on
  ``items[n].appendix``;
- a source code for plants on an animal, or for animals on a plant, is an error on
  ``items[n].source``;
- a name that is not found, a hybrid or a synonym of several accepted names is a warning or an
  error, as ``unknown_policy`` sets.

Names are matched exactly, ignoring case, extra spaces and the zoological "ssp."/"subsp."
marker. "Manis spp." (or "sp.") names the genus Manis, and a family or order the same way.
Nothing else is guessed: a name with an author, a misspelling or a subspecies that the list does
not hold is reported as unknown.

The species source holds one listing, the current one, and has no listing dates.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Protocol

from hub import codelists
from hub.errors import ConfigError, Finding, HubError, Severity
from hub.permit import Permit, PermitItem

logger = logging.getLogger(__name__)

APPENDICES = ("I", "II", "III")
# Species+ writes "NC" for a taxon that is not in the Appendices. In a split listing such as
# "I/NC" it means that some populations or subspecies of the taxon are not listed.
NOT_LISTED = "NC"

# Words standing for an unnamed species of a higher taxon, as in "Manis spp.".
UNSPECIFIED_SPECIES = frozenset({"sp", "sp.", "spp", "spp."})
# Ranks that "<name> spp." may resolve to.
HIGHER_RANKS = frozenset({"KINGDOM", "PHYLUM", "CLASS", "ORDER", "FAMILY", "SUBFAMILY", "GENUS"})

# Source codes (box 10) whose definitions in Res. Conf. 12.3 are limited to one kingdom:
# A and Y are for plants, C, F and R for animals. The other codes apply to both.
PLANT_ONLY_SOURCES = frozenset({"A", "Y"})
ANIMAL_ONLY_SOURCES = frozenset({"C", "F", "R"})
PLANT_KINGDOM = "Plantae"
ANIMAL_KINGDOM = "Animalia"

UNKNOWN_POLICIES = ("warning", "error")

# Infraspecific rank markers: the zoological subspecies marker is dropped because the species
# list writes subspecies as trinomials; the botanical markers are kept in one spelling.
_RANK_MARKERS = {"ssp.": "", "ssp": "", "subsp.": "", "subsp": "", "var.": "var.", "var": "var.", "f.": "f.", "forma": "f."}
_HYBRID = re.compile(r"(?:^|\s)[x×](?:\s|$)|×|\bhybrid\b", re.IGNORECASE)


@dataclass(frozen=True)
class TaxonMatch:
    """A scientific name resolved to a taxon of the CITES species list.

    ``listing`` is the Species+ listing string as given ("I/II", "II/NC", "NC"), or "" when the
    source gives none. ``appendices`` contains the appendices it names, without "NC".
    """

    name: str
    accepted_name: str
    is_synonym: bool
    rank: str
    listing: str
    appendices: frozenset[str]
    taxon_id: int
    kingdom: str

    @property
    def is_listed(self) -> bool:
        """True when at least part of the taxon is in Appendix I, II or III."""
        return bool(self.appendices)

    @property
    def is_plant(self) -> bool:
        return self.kingdom == PLANT_KINGDOM

    @property
    def is_animal(self) -> bool:
        return self.kingdom == ANIMAL_KINGDOM


class TaxonLookup(Protocol):
    """A species source that resolves a scientific name to its taxa, as the checker uses it."""

    def lookup_all(self, name: str) -> list[TaxonMatch]:
        """Return the taxa ``name`` resolves to: none when unknown, several when ambiguous."""
        ...


def parse_listing(listing: str) -> frozenset[str]:
    """Return the appendices of a Species+ listing string: 'I/II/NC' gives {'I', 'II'}."""
    parts = {part.strip() for part in listing.split("/")}
    return frozenset(part for part in parts if part in APPENDICES)


def normalize_name(name: str) -> str:
    """Return the key a scientific name is matched by: lower case, single spaces, one rank-marker spelling."""
    words = name.lower().split()
    if len(words) >= 4 and words[2] in _RANK_MARKERS:
        marker = _RANK_MARKERS[words[2]]
        words = words[:2] + ([marker] if marker else []) + words[3:]
    return " ".join(words)


def unspecified_base(key: str) -> str | None:
    """Return the higher taxon of a normalised name such as 'manis spp.' ('manis'), else None."""
    words = key.split()
    if len(words) == 2 and words[1] in UNSPECIFIED_SPECIES:
        return words[0]
    return None


def is_hybrid_name(name: str) -> bool:
    """Return whether ``name`` is written as a hybrid ('A x B', 'A × B', '× Genus', 'hybrid')."""
    return bool(_HYBRID.search(name))


def taxon_match(name: str, accepted_name: str, *, is_synonym: bool, rank: str, listing: str, taxon_id: int, kingdom: str) -> TaxonMatch:
    """Build a TaxonMatch, deriving ``appendices`` from ``listing``."""
    return TaxonMatch(
        name=name,
        accepted_name=accepted_name,
        is_synonym=is_synonym,
        rank=rank,
        listing=listing,
        appendices=parse_listing(listing),
        taxon_id=taxon_id,
        kingdom=kingdom,
    )


class SpeciesChecker:
    """Check the items of permits against a species source.

    ``unknown_policy`` grades the findings for names that resolve to no single taxon:
    "warning" lets the permit through, "error" rejects it.
    """

    def __init__(self, species: TaxonLookup, unknown_policy: str = "warning") -> None:
        if unknown_policy not in UNKNOWN_POLICIES:
            raise ConfigError(f"unknown_policy '{unknown_policy}' is not valid; expected one of {', '.join(UNKNOWN_POLICIES)}")
        self.species = species
        self.unknown_policy = unknown_policy
        self._unknown_severity = Severity.ERROR if unknown_policy == "error" else Severity.WARNING

    def check_permit(self, permit: Permit) -> list[Finding]:
        """Return the species findings of every item of ``permit``."""
        findings: list[Finding] = []
        for index, item in enumerate(permit.items):
            findings += self.check_item(index, item)
        return findings

    def check_item(self, index: int, item: PermitItem) -> list[Finding]:
        """Return the species findings of one item; ``index`` is its 0-based place in the permit."""
        try:
            matches = [] if is_hybrid_name(item.scientific_name) else self.species.lookup_all(item.scientific_name)
        except HubError as error:
            logger.warning("species check of item %s skipped: %s", item.line_id, error)
            return [_unchecked_finding(index, item, error)]

        if len(matches) != 1:
            return [self._unresolved_finding(index, item, matches)]

        match = matches[0]
        findings = [_synonym_finding(index, item, match)] if match.is_synonym else []
        findings += _appendix_findings(index, item, match)
        findings += _source_findings(index, item, match)
        return findings

    def _unresolved_finding(self, index: int, item: PermitItem, matches: list[TaxonMatch]) -> Finding:
        name = item.scientific_name
        subject = f"item {item.line_id} scientific name '{name}'"
        if matches:
            accepted = ", ".join(sorted({match.accepted_name for match in matches}))
            message = f"{subject} is a synonym of several accepted names ({accepted}); expected one of these accepted names"
            expected = f"one of {accepted}"
        elif is_hybrid_name(name):
            message = f"{subject} is a hybrid; hybrids are not matched to a taxon, so check the listings of both parents"
            expected = "the name of a species or higher taxon"
        else:
            message = (
                f"{subject} is not in the CITES species list as an accepted name or a synonym; "
                "expected a name listed in Species+, e.g. 'Manis javanica', or 'Manis spp.' for a genus"
            )
            expected = "an accepted name or synonym in Species+"
        return Finding(self._unknown_severity, f"items[{index}].scientific_name", message, value=name, expected=expected)


def _synonym_finding(index: int, item: PermitItem, match: TaxonMatch) -> Finding:
    message = (
        f"item {item.line_id} scientific name '{item.scientific_name}' is a synonym of "
        f"'{match.accepted_name}' (Species+ taxon {match.taxon_id}); checked as '{match.accepted_name}'"
    )
    return Finding(Severity.INFO, f"items[{index}].scientific_name", message, value=item.scientific_name, expected=match.accepted_name)


def _appendix_findings(index: int, item: PermitItem, match: TaxonMatch) -> list[Finding]:
    path = f"items[{index}].appendix"
    if not match.listing:
        message = f"the species list gives no current listing for '{match.accepted_name}', so item {item.line_id} appendix was not checked"
        return [Finding(Severity.INFO, path, message, value=item.appendix)]
    if item.appendix not in APPENDICES or item.appendix in match.appendices:
        # A code outside I, II and III is reported by the code-list check.
        return []

    # NOTE: the listing is the current one, so a permit issued before a listing change and still
    # valid carries the earlier appendix and gets this error too.
    subject = f"item {item.line_id} appendix '{item.appendix}'"
    if not match.is_listed:
        message = (
            f"{subject} contradicts the current listing of '{match.accepted_name}' ({match.listing}): "
            "the taxon is not in the CITES Appendices; expected a listed taxon, check the name"
        )
        return [Finding(Severity.ERROR, path, message, value=item.appendix, expected=f"a taxon listed in Appendix {item.appendix}")]

    expected = " or ".join(appendix for appendix in APPENDICES if appendix in match.appendices)
    message = f"{subject} contradicts the current listing of '{match.accepted_name}' ({match.listing}); expected {expected}"
    return [Finding(Severity.ERROR, path, message, value=item.appendix, expected=expected)]


def _source_findings(index: int, item: PermitItem, match: TaxonMatch) -> list[Finding]:
    if match.is_animal and item.source in PLANT_ONLY_SOURCES:
        wrong_for, kingdom, excluded = "plants", "an animal", PLANT_ONLY_SOURCES
    elif match.is_plant and item.source in ANIMAL_ONLY_SOURCES:
        wrong_for, kingdom, excluded = "animals", "a plant", ANIMAL_ONLY_SOURCES
    else:
        return []

    allowed = ", ".join(code for code in codelists.load("source") if code not in excluded)
    message = (
        f"item {item.line_id} source '{item.source}' is only for {wrong_for}, but '{match.accepted_name}' is "
        f"{kingdom} (kingdom {match.kingdom}); expected one of {allowed}"
    )
    return [Finding(Severity.ERROR, f"items[{index}].source", message, value=item.source, expected=f"one of {allowed}")]


def _unchecked_finding(index: int, item: PermitItem, error: HubError) -> Finding:
    message = f"item {item.line_id} species '{item.scientific_name}' was not checked because the species look-up failed: {error}"
    return Finding(Severity.WARNING, f"items[{index}].scientific_name", message, value=item.scientific_name)
