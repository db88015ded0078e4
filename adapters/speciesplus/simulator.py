"""A Species+ API v1 server on 127.0.0.1 that replays recorded responses, for tests and the demo.

Routes (under ``/api/v1``; the ``.json`` extension is optional):
    ``GET /taxon_concepts``                           taxa by name, or page by page
    ``GET /taxon_concepts/{id}/cites_legislation``    listings, quotas and suspensions
    ``GET /taxon_concepts/{id}/distributions``        distribution records
    ``GET /taxon_concepts/{id}/eu_legislation`` and ``.../references``, from recordings only

Responses come from, in this order:

1. the recordings: VCR cassettes (JSON files with ``http_interactions``, each holding a request
   URI and the response status, headers and body) read from the folder given to the constructor.
   A request matches a recording with the same path and the same query parameters in any order,
   after filling in the API's defaults (page 1, 500 per page, taxonomy CITES).
2. the species list, when one is given: records built from an "Index of CITES Species" CSV export
   for names and pages not recorded. Pages list the accepted taxa in file order, and a synonym is
   found by name, as a record with ``name_status`` "S" and a made-up id above
   ``SYNONYM_ID_OFFSET``. The export has no listing dates or quotas, so built legislation has
   ``effective_at`` null and no quotas or suspensions.
3. otherwise an empty page for ``taxon_concepts`` and, as the real API does for an id it does not
   know, HTTP 500 for the other routes.

Like the real API, the server answers HTTP 401 with an empty body unless ``X-Authentication-Token``
is the token it was given, 422 ``Unpermitted parameters (...)`` for parameters an endpoint does
not take, and 400 ``Invalid parameter format: ...`` for a page, per_page, updated_since or
with_descendants it cannot read. Pages carry the ``Total-Count`` and ``Link`` headers, with the
links pointing at this server.
"""

from __future__ import annotations

import csv
import hmac
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from adapters import simulation
from adapters.simulation import SimulatedRequest, SimulatedResponse, Simulator
from adapters.speciesplus.snapshot import split_synonyms
from hub.species import normalize_name, parse_listing

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
RECORDED_BASE_URL = "https://api.speciesplus.net/api/v1"
MAX_PER_PAGE = 500
SYNONYM_ID_OFFSET = 10_000_000
SERVER_ERROR = "We are sorry but an error occurred processing your request"

# Query parameters each endpoint takes, as in the API's controllers ("format" is the extension).
PERMITTED_PARAMETERS = {
    "taxon_concepts": frozenset({"page", "per_page", "updated_since", "name", "with_descendants", "taxonomy", "language", "with_eu_listings", "format"}),
    "cites_legislation": frozenset({"scope", "language", "format"}),
    "eu_legislation": frozenset({"scope", "language", "format"}),
    "distributions": frozenset({"language", "format"}),
    "references": frozenset({"format"}),
}
_DEFAULTS = {"taxon_concepts": {"page": "1", "per_page": str(MAX_PER_PAGE), "taxonomy": "cites"}}
_ROUTE = re.compile(r"^/api/v1/taxon_concepts(?:/(?P<id>[^/]+)/(?P<endpoint>[a-z_]+))?(?:\.json)?$")
_REPLAYED_HEADERS = ("total-count", "link")
_HIGHER_TAXA = ("kingdom", "phylum", "class", "order", "family")


@dataclass(frozen=True)
class QueryRequest(SimulatedRequest):
    """A request with its query string, which the base simulator does not keep."""

    query: str = ""


@dataclass(frozen=True)
class HeaderResponse(SimulatedResponse):
    """A response with extra headers (``Total-Count``, ``Link``)."""

    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Recording:
    status: int
    body: str
    headers: dict[str, str]


@dataclass(frozen=True)
class _ListedTaxon:
    taxon_id: int
    full_name: str
    author_year: str
    rank: str
    listing: str
    annotation: str
    higher_taxa: dict[str, str]
    synonyms: tuple[tuple[int, str, str], ...]
    common_names: tuple[tuple[str, str], ...]
    distribution: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class _Synonym:
    synonym_id: int
    name: str
    author: str
    accepted: _ListedTaxon


class SpeciesPlusSimulator(Simulator):
    """The simulated Species+ API; see the module docstring for its routes and sources."""

    name = "speciesplus"

    def __init__(
        self,
        recordings: str | Path | None,
        *,
        token: str,
        species_list: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        delay_seconds: float = 0.0,
    ) -> None:
        super().__init__(host=host, port=port, delay_seconds=delay_seconds)
        if not token:
            raise ValueError("token is empty; expected the token the simulator accepts in X-Authentication-Token")
        self.token = token
        self._recordings = _load_recordings(Path(recordings)) if recordings is not None else {}
        self._served: list[str] = []
        self._taxa: list[_ListedTaxon] = []
        self._by_id: dict[int, _ListedTaxon] = {}
        self._by_name: dict[str, list[_ListedTaxon]] = {}
        self._synonym_total = 0
        self._synonyms: dict[str, list[_Synonym]] = {}
        self._updated_at = ""
        if species_list is not None:
            self._load_species_list(Path(species_list))

    @property
    def api_url(self) -> str:
        """The base URL to give the client, e.g. http://127.0.0.1:41234/api/v1."""
        return self.url + API_PREFIX

    @property
    def recording_count(self) -> int:
        return len(self._recordings)

    def start(self) -> str:
        url = super().start()
        # The base's handler drops the query string and sends no extra headers; this one keeps
        # both. Clients learn the URL only when start() returns, so every request gets this handler.
        if self._server is not None:
            self._server.RequestHandlerClass = _Handler
        return url

    def served(self) -> list[str]:
        """Return the path and query of every request handled so far, oldest first."""
        with self._lock:
            return list(self._served)

    def handle(self, request: SimulatedRequest) -> SimulatedResponse:
        query = request.query if isinstance(request, QueryRequest) else ""
        self._served.append(request.path + (f"?{query}" if query else ""))

        supplied = request.headers.get("x-authentication-token", "")
        if not hmac.compare_digest(supplied.encode(), self.token.encode()):
            return SimulatedResponse(401, b"", "text/plain")

        route = _ROUTE.match(request.path)
        if request.method not in ("GET", "HEAD") or route is None:
            return _error(404, f"no route for {request.method} {request.path}")

        endpoint = route["endpoint"] or "taxon_concepts"
        if endpoint not in PERMITTED_PARAMETERS:
            return _error(404, f"no route for {request.method} {request.path}")
        params = dict(parse_qsl(query, keep_blank_values=True))
        problem = _parameter_problem(endpoint, params)
        if problem is not None:
            return problem
        return self._respond(endpoint, route["id"], params)

    # Responses.

    def _respond(self, endpoint: str, taxon_id: str | None, params: dict[str, str]) -> SimulatedResponse:
        recording = self._recordings.get(_key(endpoint, taxon_id, params))
        if recording is not None:
            return self._replay(recording)
        if endpoint == "taxon_concepts":
            return self._taxon_concepts_page(params)

        listed = self._taxon_by_id(taxon_id)
        if listed is None or endpoint not in ("cites_legislation", "distributions"):
            return _error(500, SERVER_ERROR)
        if endpoint == "cites_legislation":
            return SimulatedResponse.json(200, _legislation(listed))
        return SimulatedResponse.json(200, _distributions(listed))

    def _replay(self, recording: _Recording) -> SimulatedResponse:
        headers = {name: value.replace(RECORDED_BASE_URL, self.api_url) for name, value in recording.headers.items()}
        return HeaderResponse(recording.status, recording.body.encode("utf-8"), "application/json; charset=utf-8", headers)

    def _taxon_concepts_page(self, params: dict[str, str]) -> SimulatedResponse:
        matching = self._matching_taxa(params)
        page = int(params.get("page", "1"))
        per_page = min(int(params.get("per_page", str(MAX_PER_PAGE))), MAX_PER_PAGE)

        start = (page - 1) * per_page
        body = {
            "pagination": {"current_page": page, "per_page": per_page, "total_entries": len(matching)},
            "taxon_concepts": [self._record(entry) for entry in matching[start : start + per_page]],
        }
        headers = {"Total-Count": str(len(matching))}
        link = self._link_header(params, page, per_page, len(matching))
        if link:
            headers["Link"] = link
        return HeaderResponse(200, json.dumps(body).encode("utf-8"), "application/json; charset=utf-8", headers)

    def _matching_taxa(self, params: dict[str, str]) -> list[_ListedTaxon | _Synonym]:
        if params.get("taxonomy", "cites").lower() != "cites":
            return []  # the species list contains the CITES taxonomy only
        if params.get("updated_since", "") > self._updated_at:
            return []  # every taxon of the list was last updated when the file was

        name = params.get("name")
        if name is None:
            return list(self._taxa)
        if params.get("with_descendants") == "true":
            return [taxon for taxon in self._taxa if _descends_from(taxon, name)]

        key = normalize_name(name)
        return [*self._by_name.get(key, []), *self._synonyms.get(key, [])]

    def _record(self, entry: _ListedTaxon | _Synonym) -> dict[str, Any]:
        if isinstance(entry, _Synonym):
            return _synonym_record(entry, self._updated_at)
        return _accepted_record(entry, self._updated_at)

    def _link_header(self, params: dict[str, str], page: int, per_page: int, total: int) -> str:
        last = max(1, -(-total // per_page))
        if total == 0:
            return ""
        pages = []
        if page > 1:
            pages += [("first", 1), ("prev", min(page - 1, last))]
        if page < last:
            pages += [("next", page + 1), ("last", last)]
        return ", ".join(f'<{self._page_url(params, number)}>; rel="{rel}"' for rel, number in pages)

    def _page_url(self, params: dict[str, str], number: int) -> str:
        query = dict(params, page=str(number))
        return f"{self.api_url}/taxon_concepts.json?{urlencode(sorted(query.items()))}"

    def _taxon_by_id(self, taxon_id: str | None) -> _ListedTaxon | None:
        if taxon_id is None or not taxon_id.isdigit():
            return None
        return self._by_id.get(int(taxon_id))

    # The species list.

    def _load_species_list(self, path: Path) -> None:
        modified = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
        self._updated_at = modified.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        with open(path, encoding="utf-8", newline="") as stream:
            for row in csv.DictReader(stream):
                self._add_taxon(_listed_taxon(row, SYNONYM_ID_OFFSET + self._synonym_total))
        logger.info("%s simulator: %d taxa from species list %s", self.name, len(self._taxa), path)

    def _add_taxon(self, taxon: _ListedTaxon) -> None:
        self._taxa.append(taxon)
        self._by_id[taxon.taxon_id] = taxon
        self._synonym_total += len(taxon.synonyms)
        self._by_name.setdefault(normalize_name(taxon.full_name), []).append(taxon)
        for synonym_id, name, author in taxon.synonyms:
            self._synonyms.setdefault(normalize_name(name), []).append(_Synonym(synonym_id, name, author, taxon))


def _listed_taxon(row: dict[str, str], first_synonym_id: int) -> _ListedTaxon:
    synonyms = split_synonyms(row.get("SynonymsWithAuthors", ""))
    return _ListedTaxon(
        taxon_id=int(row["TaxonId"]),
        full_name=row["FullName"].strip(),
        author_year=row.get("AuthorYear", ""),
        rank=row.get("RankName", "").upper(),
        listing=row.get("CurrentListing", ""),
        annotation=row.get("AnnotationEnglish", ""),
        higher_taxa={rank: row.get(rank.capitalize(), "") for rank in _HIGHER_TAXA},
        synonyms=tuple((first_synonym_id + number, name, author) for number, (name, author) in enumerate(synonyms)),
        common_names=_common_names(row),
        distribution=_distribution(row),
    )


def _common_names(row: dict[str, str]) -> tuple[tuple[str, str], ...]:
    names = []
    for column, language in (("EnglishNames", "EN"), ("SpanishNames", "ES"), ("FrenchNames", "FR")):
        names += [(name.strip(), language) for name in row.get(column, "").split(",") if name.strip()]
    return tuple(names)


def _distribution(row: dict[str, str]) -> tuple[tuple[str, str | None], ...]:
    codes = [code.strip() for code in row.get("All_DistributionISOCodes", "").split(",") if code.strip()]
    names = [name.strip() for name in row.get("All_DistributionFullNames", "").split(",") if name.strip()]
    # Country names may contain commas ("Korea, Republic of"); names are only paired with codes
    # when the counts agree.
    if len(names) != len(codes):
        return tuple((code, None) for code in codes)
    return tuple(zip(codes, names))


def _accepted_record(taxon: _ListedTaxon, updated_at: str) -> dict[str, Any]:
    return {
        "id": taxon.taxon_id,
        "full_name": taxon.full_name,
        "author_year": taxon.author_year,
        "rank": taxon.rank,
        "name_status": "A",
        "updated_at": updated_at,
        "active": True,
        "cites_listing": taxon.listing,
        "higher_taxa": dict(taxon.higher_taxa),
        "synonyms": [{"id": synonym_id, "full_name": name, "author_year": author, "rank": taxon.rank} for synonym_id, name, author in taxon.synonyms],
        "common_names": [{"name": name, "language": language} for name, language in taxon.common_names],
        "cites_listings": [{"appendix": appendix, "annotation": taxon.annotation, "hash_annotation": None} for appendix in sorted(parse_listing(taxon.listing))],
    }


def _synonym_record(synonym: _Synonym, updated_at: str) -> dict[str, Any]:
    accepted = synonym.accepted
    return {
        "id": synonym.synonym_id,
        "full_name": synonym.name,
        "author_year": synonym.author,
        "rank": accepted.rank,
        "name_status": "S",
        "updated_at": updated_at,
        "active": True,
        "accepted_names": [{"id": accepted.taxon_id, "full_name": accepted.full_name, "author_year": accepted.author_year, "rank": accepted.rank}],
    }


def _legislation(taxon: _ListedTaxon) -> dict[str, Any]:
    listings = [
        {
            "id": None,
            "taxon_concept_id": taxon.taxon_id,
            "is_current": True,
            "appendix": appendix,
            "change_type": "+",
            "effective_at": None,
            "annotation": taxon.annotation,
        }
        for appendix in sorted(parse_listing(taxon.listing))
    ]
    return {"cites_listings": listings, "cites_quotas": [], "cites_suspensions": []}


def _distributions(taxon: _ListedTaxon) -> list[dict[str, Any]]:
    return [
        {"id": number, "iso_code2": code, "name": name, "tags": [], "type": "COUNTRY", "references": []}
        for number, (code, name) in enumerate(taxon.distribution, start=1)
    ]


def _descends_from(taxon: _ListedTaxon, name: str) -> bool:
    target = name.lower()
    genus = taxon.full_name.split(" ", 1)[0].lower()
    return taxon.full_name.lower() == target or genus == target or any(value.lower() == target for value in taxon.higher_taxa.values())


# Recordings.


def _load_recordings(folder: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], _Recording]:
    if not folder.is_dir():
        raise FileNotFoundError(f"recordings folder '{folder}' does not exist; expected a folder of Species+ cassettes (*.json)")
    recordings: dict[tuple[str, tuple[tuple[str, str], ...]], _Recording] = {}
    for path in sorted(folder.glob("*.json")):
        for uri, recording in _read_cassette(path):
            key = _recorded_key(uri)
            if key is not None:
                recordings.setdefault(key, recording)
    logger.info("speciesplus simulator: %d recorded responses from %s", len(recordings), folder)
    return recordings


def _read_cassette(path: Path) -> Iterable[tuple[str, _Recording]]:
    cassette = json.loads(path.read_text(encoding="utf-8"))
    for interaction in cassette.get("http_interactions", []):
        request, response = interaction["request"], interaction["response"]
        if request.get("method", "").lower() != "get":
            continue
        headers = {name.lower(): value for name, value in response.get("headers", {}).items()}
        replayed = {name: headers[name] for name in _REPLAYED_HEADERS if name in headers}
        yield request["uri"], _Recording(int(response["status"]["status_code"]), response["body"].get("string", ""), replayed)


def _recorded_key(uri: str) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    parts = urlsplit(uri)
    route = _ROUTE.match(parts.path)
    if route is None:
        return None
    endpoint = route["endpoint"] or "taxon_concepts"
    return _key(endpoint, route["id"], dict(parse_qsl(parts.query, keep_blank_values=True)))


def _key(endpoint: str, taxon_id: str | None, params: dict[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    canonical = dict(_DEFAULTS.get(endpoint, {}))
    canonical.update({name: value for name, value in params.items() if name != "format"})
    # The API matches names and taxonomies in any case.
    for name in ("name", "taxonomy"):
        if name in canonical:
            canonical[name] = canonical[name].lower()
    return f"{endpoint}/{taxon_id or ''}", tuple(sorted(canonical.items()))


# Parameter checks.


def _parameter_problem(endpoint: str, params: dict[str, str]) -> SimulatedResponse | None:
    unpermitted = [name for name in params if name not in PERMITTED_PARAMETERS[endpoint]]
    if unpermitted:
        return _error(422, f"Unpermitted parameters ({', '.join(unpermitted)})")
    if endpoint != "taxon_concepts":
        return None

    for name in ("updated_since", "page", "per_page", "with_descendants"):
        if name in params and not _valid_format(name, params[name]):
            return _error(400, f"Invalid parameter format: {name}")
    taxonomy = params.get("taxonomy")
    if taxonomy is not None and taxonomy.lower() not in ("cites", "cms"):
        return _error(422, f"Unknown taxonomy: {taxonomy}")
    if params.get("with_descendants") == "true" and not params.get("name"):
        return _error(422, "Invalid use of with_descendants")
    return None


def _valid_format(name: str, value: str) -> bool:
    if name in ("page", "per_page"):
        return value.isdigit() and int(value) >= 1
    if name == "with_descendants":
        return value in ("true", "false")
    try:
        date.fromisoformat(value[:10])
    except ValueError:
        return False
    return True


def _error(status: int, message: str) -> SimulatedResponse:
    return SimulatedResponse(status, json.dumps({"error": {"message": message}}).encode("utf-8"), "application/json; charset=utf-8")


# HTTP handler.


class _Handler(simulation._Handler):
    """The base handler, keeping the query string and sending a response's extra headers."""

    _extra_headers: dict[str, str] = {}

    def _read_request(self) -> SimulatedRequest:
        request = super()._read_request()
        return QueryRequest(request.method, request.path, request.headers, request.body, request.received_at, urlsplit(self.path).query)

    def _send(self, response: SimulatedResponse) -> None:
        self._extra_headers = response.headers if isinstance(response, HeaderResponse) else {}
        super()._send(response)

    def end_headers(self) -> None:
        for name, value in self._extra_headers.items():
            self.send_header(name, value)
        super().end_headers()
