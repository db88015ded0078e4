"""An offline snapshot of the CITES species list, loaded from a Species+ "Index of CITES Species" export.

The export is a CSV file (optionally gzip-compressed), one accepted taxon per row. The columns
read are ``TaxonId``, ``Kingdom``, ``FullName``, ``RankName``, ``CurrentListing`` and
``SynonymsWithAuthors``. Other columns are ignored.

:meth:`SpeciesSnapshot.load` reads the file once and indexes each taxon by its full name and by
each of its synonyms, so a look-up is a dictionary access. Loading the 38,079 rows of the export
of 2017-04-21 took 0.4 to 1.5 s on a 2-CPU development machine, depending on its load.

``SynonymsWithAuthors`` joins the synonyms with ", " and puts each one's author after it, and
author strings contain commas too ("Phataginus gigantea (Illiger, 1815), Smutsia gigantea
(Illiger, 1815)"). :func:`split_synonyms` cuts the text before each ", Genus epithet". A piece
whose name cannot be read (a hybrid, "aff.", "spec.?", a name with letters outside a-z) is left
out, so that name is reported as unknown rather than matched to a guess.
"""

from __future__ import annotations

import csv
import gzip
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from hub.errors import ConfigError
from hub.species import HIGHER_RANKS, TaxonMatch, is_hybrid_name, normalize_name, taxon_match, unspecified_base

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("TaxonId", "Kingdom", "FullName", "RankName", "CurrentListing", "SynonymsWithAuthors")

_GENUS = r"[A-Z][a-z]+(?:-[A-Za-z][a-z]+)?"
_EPITHET = re.compile(r"[a-z\u00e0-\u00ff][a-z\u00e0-\u00ff'-]*")
# The start of every synonym after the first: a comma, then a genus, an optional subgenus in
# brackets and a lower-case epithet.
_SYNONYM_START = re.compile(rf", (?={_GENUS} (?:\([A-Z][a-z]+\) )?[a-z])")
_GENUS_WORD = re.compile(rf"{_GENUS}")
# Lower-case words that follow a binomial but are part of the author or a note, not a third
# epithet: name particles ("de Filippi", "van Hasselt") and the notes of misapplied names.
_NOT_EPITHETS = frozenset(
    {"d", "da", "das", "de", "del", "della", "den", "der", "des", "di", "dos", "du", "e", "la", "le", "st", "ten", "ter",
     "van", "von", "y", "zu", "ex", "in", "auct", "auctt", "hort", "sensu", "non", "nec", "emend", "nom", "x"}
)
_MARKERS = {"var.": "var.", "f.": "f.", "forma": "f.", "subsp.": "", "ssp.": ""}


@dataclass(frozen=True)
class Taxon:
    """One accepted taxon of the species list."""

    taxon_id: int
    full_name: str
    rank: str
    listing: str
    kingdom: str


def split_synonyms(text: str) -> list[tuple[str, str]]:
    """Split a ``SynonymsWithAuthors`` cell into (name, author) pairs, leaving out names that cannot be read."""
    pairs = []
    for piece in _SYNONYM_START.split(text.strip()):
        parsed = _parse_synonym(piece.strip())
        if parsed is not None:
            pairs.append(parsed)
    return pairs


def _parse_synonym(piece: str) -> tuple[str, str] | None:
    words = piece.split()
    if len(words) < 2 or not _GENUS_WORD.fullmatch(words[0]) or is_hybrid_name(piece):
        return None
    if words[1].startswith("(") and words[1].endswith(")"):
        words.pop(1)  # a subgenus is not part of the name as the species list writes it
    if len(words) < 2 or not _is_epithet(words[1]):
        return None

    name = words[:2]
    rest = words[2:]
    if len(rest) >= 2 and rest[0] in _MARKERS and _is_epithet(rest[1]):
        name += [_MARKERS[rest[0]], rest[1]] if _MARKERS[rest[0]] else [rest[1]]
        rest = rest[2:]
    elif rest and _is_epithet(rest[0]):
        name.append(rest[0])
        rest = rest[1:]
    return " ".join(name), " ".join(rest)


def _is_epithet(word: str) -> bool:
    return bool(_EPITHET.fullmatch(word)) and word not in _NOT_EPITHETS


class SpeciesSnapshot:
    """The species list in memory, indexed by accepted name and by synonym (see the module docstring)."""

    def __init__(self, taxa: Iterable[tuple[Taxon, list[str]]], *, source: str = "species list") -> None:
        """Index ``taxa``: pairs of an accepted taxon and the names of its synonyms."""
        self.source = source
        self._taxa: list[Taxon] = []
        self._accepted: dict[str, list[Taxon]] = {}
        self._synonyms: dict[str, list[Taxon]] = {}
        for taxon, synonyms in taxa:
            self._add(taxon, synonyms)

    @classmethod
    def load(cls, path: str | Path) -> SpeciesSnapshot:
        """Read an "Index of CITES Species" export (``.csv`` or ``.csv.gz``); ConfigError names what is wrong."""
        location = Path(path)
        try:
            with _open_text(location) as stream:
                snapshot = cls(_read_rows(stream, location), source=str(location))
        except OSError as error:
            raise ConfigError(f"species list '{location}' cannot be read: {error}; expected an Index of CITES Species CSV export") from error

        logger.info("species list %s loaded: %d taxa, %d synonyms", location, len(snapshot), snapshot.synonym_count)
        return snapshot

    def __len__(self) -> int:
        return len(self._taxa)

    @property
    def synonym_count(self) -> int:
        """Number of distinct synonym names indexed."""
        return len(self._synonyms)

    def taxa(self) -> Iterator[Taxon]:
        """Yield the accepted taxa in file order."""
        return iter(self._taxa)

    def lookup(self, name: str) -> TaxonMatch | None:
        """Return the one taxon ``name`` resolves to, or None when it resolves to none or to several."""
        matches = self.lookup_all(name)
        return matches[0] if len(matches) == 1 else None

    def lookup_all(self, name: str) -> list[TaxonMatch]:
        """Return every taxon ``name`` resolves to: by accepted name first, else by synonym.

        "Genus spp." resolves to the genus (or family, order...) of that name. A hybrid resolves to nothing.
        """
        if is_hybrid_name(name):
            return []
        key = normalize_name(name)

        higher = unspecified_base(key)
        if higher is not None:
            taxa = [taxon for taxon in self._accepted.get(higher, []) if taxon.rank in HIGHER_RANKS]
            return [_match(name, taxon, is_synonym=False) for taxon in taxa]

        if key in self._accepted:
            return [_match(name, taxon, is_synonym=False) for taxon in self._accepted[key]]
        return [_match(name, taxon, is_synonym=True) for taxon in self._synonyms.get(key, [])]

    def _add(self, taxon: Taxon, synonyms: list[str]) -> None:
        self._taxa.append(taxon)
        key = normalize_name(taxon.full_name)
        self._accepted.setdefault(key, []).append(taxon)

        for synonym in synonyms:
            targets = self._synonyms.setdefault(normalize_name(synonym), [])
            if taxon not in targets:
                targets.append(taxon)


def _match(name: str, taxon: Taxon, *, is_synonym: bool) -> TaxonMatch:
    return taxon_match(
        name,
        taxon.full_name,
        is_synonym=is_synonym,
        rank=taxon.rank,
        listing=taxon.listing,
        taxon_id=taxon.taxon_id,
        kingdom=taxon.kingdom,
    )


def _open_text(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _read_rows(stream: Iterable[str], path: Path) -> Iterator[tuple[Taxon, list[str]]]:
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        raise ConfigError(f"species list '{path}' is empty; expected a header row with {', '.join(REQUIRED_COLUMNS)}")
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise ConfigError(f"species list '{path}' has no column {', '.join(missing)}; expected the columns {', '.join(REQUIRED_COLUMNS)}")

    index = {column: header.index(column) for column in REQUIRED_COLUMNS}
    for row in reader:
        yield _read_row(row, index, path, reader.line_num)


def _read_row(row: list[str], index: dict[str, int], path: Path, line: int) -> tuple[Taxon, list[str]]:
    if len(row) <= max(index.values()):
        raise ConfigError(f"species list '{path}' line {line} has {len(row)} fields; expected at least {max(index.values()) + 1}")
    taxon_id = row[index["TaxonId"]].strip()
    full_name = row[index["FullName"]].strip()
    if not taxon_id.isdigit() or not full_name:
        raise ConfigError(f"species list '{path}' line {line}: TaxonId '{taxon_id}' or FullName '{full_name}' is invalid; expected a number and a name")

    taxon = Taxon(
        taxon_id=int(taxon_id),
        full_name=full_name,
        rank=row[index["RankName"]].strip().upper(),
        listing=row[index["CurrentListing"]].strip(),
        kingdom=row[index["Kingdom"]].strip(),
    )
    synonyms = [name for name, _author in split_synonyms(row[index["SynonymsWithAuthors"]])]
    return taxon, synonyms
