"""Species+ / CITES Checklist: the API client with its cache, the offline snapshot and the simulator."""

from adapters.speciesplus.client import Page, SpeciesPlusClient, TTLCache
from adapters.speciesplus.simulator import SpeciesPlusSimulator
from adapters.speciesplus.snapshot import SpeciesSnapshot, Taxon, split_synonyms

__all__ = sorted(["Page", "SpeciesPlusClient", "SpeciesPlusSimulator", "SpeciesSnapshot", "TTLCache", "Taxon", "split_synonyms"])
