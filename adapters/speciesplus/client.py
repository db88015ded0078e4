"""A client of the Species+ / CITES Checklist API v1, with an in-memory cache that expires.

Endpoints used (under ``base_url``, e.g. ``https://api.speciesplus.net/api/v1``):
    ``GET /taxon_concepts.json``                       taxa by name, or every taxon page by page
    ``GET /taxon_concepts/{id}/cites_legislation.json`` current listings, quotas and suspensions
    ``GET /taxon_concepts/{id}/distributions.json``    countries where the taxon occurs

Every request carries the API token in the ``X-Authentication-Token`` header. The token comes from
an environment variable or a file, never from the configuration itself, and it is never logged
or shown in an error. It is only ever sent to ``base_url``: a ``Link`` header pointing to another
host is followed on ``base_url`` with the same query.

Errors, translated at this boundary and chained with ``from``:
    HTTP 401                                   →  ``AuthenticationError`` (the token was rejected)
    HTTP 400 and 422                           →  ``InvalidMessage`` naming the parameter
    HTTP 404                                   →  ``NotFound``
    timeouts, connection errors, 429 and 5xx  →  ``TransientDeliveryError``
    any other status                           →  ``PermanentDeliveryError``

The real API returns HTTP 500, not 404, for a taxon id that does not exist.

Name look-ups (``taxon_concepts(name=...)``), legislation and distributions are cached for
``cache_ttl_seconds``. Pages of a bulk listing are never cached.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from hub.errors import (
    AuthenticationError,
    ConfigError,
    Finding,
    InvalidMessage,
    NotFound,
    PermanentDeliveryError,
    Severity,
    TransientDeliveryError,
)
from hub.species import HIGHER_RANKS, TaxonMatch, is_hybrid_name, normalize_name, taxon_match, unspecified_base

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.speciesplus.net/api/v1"
TOKEN_HEADER = "X-Authentication-Token"
# The real API took up to 3.7 s to respond to a name look-up when the recordings were made (its
# x-runtime header), so the default leaves room for that.
DEFAULT_TIMEOUT_SECONDS = 15.0
# Listings change at Conferences of the Parties, with 90 days' notice, and suspensions by
# notification, so a response a day old is recent enough for checking permits.
DEFAULT_CACHE_TTL_SECONDS = 24 * 3600.0
DEFAULT_CACHE_MAX_ENTRIES = 10_000
MAX_PER_PAGE = 500
TRANSIENT_STATUSES = frozenset({408, 429})
MAX_REASON_CHARS = 300

_MISSING = object()


class TTLCache:
    """A thread-safe in-memory cache whose entries expire ``ttl_seconds`` after they were stored.

    When ``max_entries`` is reached, the expired entries are dropped, then the oldest. A TTL of 0
    turns the cache off. Values are returned as deep copies, so callers may change them.
    """

    def __init__(self, ttl_seconds: float, max_entries: int = DEFAULT_CACHE_MAX_ENTRIES, *, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl_seconds < 0 or max_entries < 1:
            raise ConfigError(f"cache ttl_seconds {ttl_seconds} and max_entries {max_entries} are invalid; expected ttl_seconds >= 0 and max_entries >= 1")
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.clock = clock
        self.hits = 0
        self.misses = 0
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, default: Any = None) -> Any:
        """Return a copy of the value stored under ``key``, or ``default`` when there is none or it expired."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] <= self.clock():
                self._entries.pop(key, None)
                self.misses += 1
                return default
            self.hits += 1
            value = entry[1]
        return copy.deepcopy(value)

    def put(self, key: Hashable, value: Any) -> None:
        if self.ttl_seconds == 0:
            return
        stored = copy.deepcopy(value)
        with self._lock:
            self._entries.pop(key, None)
            if len(self._entries) >= self.max_entries:
                self._evict()
            self._entries[key] = (self.clock() + self.ttl_seconds, stored)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _evict(self) -> None:
        now = self.clock()
        for key in [key for key, (expires, _value) in self._entries.items() if expires <= now]:
            del self._entries[key]
        while len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]


@dataclass(frozen=True)
class Page:
    """One page of taxon concepts with the pagination the API sent (``Total-Count`` and ``Link`` headers)."""

    records: list[dict[str, Any]]
    page: int
    per_page: int
    total_count: int | None
    links: dict[str, str] = field(default_factory=dict)

    @property
    def next_url(self) -> str | None:
        return self.links.get("next")

    @property
    def last_page(self) -> int | None:
        """Number of the last page, read from the ``rel="last"`` link (or this page when there is no next one)."""
        last = self.links.get("last")
        if last is None:
            return None if self.next_url else self.page
        value = dict(parse_qsl(urlsplit(last).query)).get("page")
        return int(value) if value and value.isdigit() else None


class SpeciesPlusClient:
    """Species+ API v1 client; see the module docstring for errors, caching and the token.

    The token is read from the file ``token_file`` when given, else from the environment variable
    ``token_env``. ``transport`` replaces httpx's network transport, for tests.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        token_env: str = "SPECIESPLUS_TOKEN",
        token_file: str | Path | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        cache_ttl_seconds: float = DEFAULT_CACHE_TTL_SECONDS,
        cache_max_entries: int = DEFAULT_CACHE_MAX_ENTRIES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"Species+ base_url '{base_url}' is not an http:// or https:// URL; expected e.g. {DEFAULT_BASE_URL}")
        if timeout_seconds <= 0:
            raise ConfigError(f"Species+ timeout_seconds {timeout_seconds} is invalid; expected a number of seconds above 0")

        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.cache = TTLCache(cache_ttl_seconds, cache_max_entries)
        token, self._token_source = _read_token(token_env, token_file)
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_seconds),
            headers={TOKEN_HEADER: token, "Accept": "application/json"},
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"SpeciesPlusClient(base_url={self.base_url!r}, token from {self._token_source})"

    def __enter__(self) -> SpeciesPlusClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # Endpoints.

    def taxon_concepts(
        self,
        name: str | None = None,
        updated_since: datetime | date | str | None = None,
        page: int = 1,
        per_page: int = MAX_PER_PAGE,
        with_descendants: bool | None = None,
        taxonomy: str = "CITES",
        extra_params: Mapping[str, str] | None = None,
    ) -> Page:
        """Return one page of taxon concepts, filtered by exact ``name`` (any case) and ``updated_since``.

        ``extra_params`` adds query parameters as given, e.g. ``{"language": "EN"}``.
        """
        params = {**_taxon_concept_params(name, updated_since, page, per_page, with_descendants, taxonomy), **(extra_params or {})}
        if name is None:
            return self._fetch_page(params)

        key = ("taxon_concepts", tuple(sorted(params.items())))
        cached = self.cache.get(key, _MISSING)
        if cached is not _MISSING:
            return Page(**cached)
        result = self._fetch_page(params)
        self.cache.put(key, asdict(result))
        return result

    def iter_taxon_concepts(
        self,
        name: str | None = None,
        updated_since: datetime | date | str | None = None,
        per_page: int = MAX_PER_PAGE,
        with_descendants: bool | None = None,
        taxonomy: str = "CITES",
        extra_params: Mapping[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield every taxon concept of the query, following the ``rel="next"`` links page after page."""
        params = {**_taxon_concept_params(name, updated_since, 1, per_page, with_descendants, taxonomy), **(extra_params or {})}
        while True:
            page = self._fetch_page(params)
            yield from page.records
            if page.next_url is None or not page.records:
                return
            params = self._next_params(page)

    def cites_legislation(self, taxon_id: int, scope: str = "current") -> dict[str, Any]:
        """Return the CITES listings, quotas and suspensions of a taxon (``scope``: current, historic or all)."""
        params = {} if scope == "current" else {"scope": scope}
        result = self._cached_get(f"/taxon_concepts/{int(taxon_id)}/cites_legislation.json", params)
        if not isinstance(result, dict):
            raise PermanentDeliveryError(f"Species+ cites_legislation of taxon {taxon_id} is not a JSON object; expected cites_listings, cites_quotas and cites_suspensions")
        return result

    def distributions(self, taxon_id: int, language: str | None = None) -> list[dict[str, Any]]:
        """Return the distribution records (country, tags, references) of a taxon."""
        params = {"language": language} if language else {}
        result = self._cached_get(f"/taxon_concepts/{int(taxon_id)}/distributions.json", params)
        if not isinstance(result, list):
            raise PermanentDeliveryError(f"Species+ distributions of taxon {taxon_id} is not a JSON array; expected a list of countries")
        return result

    # Name resolution, as the species checks need it.

    def lookup(self, name: str) -> TaxonMatch | None:
        """Return the one taxon ``name`` resolves to, or None when it resolves to none or to several."""
        matches = self.lookup_all(name)
        return matches[0] if len(matches) == 1 else None

    def lookup_all(self, name: str) -> list[TaxonMatch]:
        """Return every accepted taxon ``name`` resolves to, as :meth:`SpeciesSnapshot.lookup_all` does.

        A synonym costs a second request, for the listing of its accepted name. Both are cached.
        """
        if is_hybrid_name(name):
            return []
        key = normalize_name(name)
        higher = unspecified_base(key)

        records = [record for record in self._records_named(higher or key) if record.get("active", True)]
        accepted = [_record_match(name, record, is_synonym=False) for record in records if record.get("name_status") == "A"]
        if higher is not None:
            return [match for match in accepted if match.rank in HIGHER_RANKS]
        if accepted:
            return accepted
        matches: list[TaxonMatch] = []
        for record in records:
            if record.get("name_status") == "S":
                matches += [match for match in self._accepted_matches(name, record) if match not in matches]
        return matches

    def _records_named(self, name: str) -> list[dict[str, Any]]:
        return self.taxon_concepts(name=name).records

    def _accepted_matches(self, name: str, synonym: dict[str, Any]) -> list[TaxonMatch]:
        matches = []
        for accepted in synonym.get("accepted_names") or []:
            for record in self._records_named(str(accepted.get("full_name", ""))):
                if record.get("id") == accepted.get("id") and record.get("name_status") == "A":
                    matches.append(_record_match(name, record, is_synonym=True))
        return matches

    # HTTP.

    def _fetch_page(self, params: dict[str, str]) -> Page:
        response = self._get("/taxon_concepts.json", params)
        body = _json(response)
        records = body.get("taxon_concepts") if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise PermanentDeliveryError("Species+ taxon_concepts response has no 'taxon_concepts' list; expected the API v1 format")

        pagination = body.get("pagination") or {}
        page = _integer(pagination.get("current_page")) or int(params["page"])
        per_page = _integer(pagination.get("per_page")) or int(params["per_page"])
        total = _integer(response.headers.get("Total-Count"))
        if total is None:
            total = _integer(pagination.get("total_entries"))
        links = {rel: link["url"] for rel, link in response.links.items() if "url" in link}
        return Page(records, page, per_page, total, links)

    def _next_params(self, page: Page) -> dict[str, str]:
        link = urlsplit(page.next_url or "")
        params = dict(parse_qsl(link.query))
        next_page = params.get("page", "")
        if not next_page.isdigit() or int(next_page) <= page.page:
            raise PermanentDeliveryError(f"Species+ Link rel=\"next\" '{page.next_url}' does not go past page {page.page}; expected a higher page number")
        if link.netloc and link.netloc != urlsplit(self.base_url).netloc:
            logger.debug("Species+ next link names host %s; following it on %s", link.netloc, self.base_url)
        return params

    def _cached_get(self, path: str, params: dict[str, str]) -> Any:
        key = (path, tuple(sorted(params.items())))
        cached = self.cache.get(key, _MISSING)
        if cached is not _MISSING:
            return cached
        result = _json(self._get(path, params))
        self.cache.put(key, result)
        return result

    def _get(self, path: str, params: dict[str, str]) -> httpx.Response:
        url = self.base_url + path
        logger.debug("GET %s %s", url, params)
        started = time.perf_counter()
        try:
            response = self._client.get(url, params=params)
        except httpx.TimeoutException as error:
            raise TransientDeliveryError(f"Species+ GET {path} timed out after {self.timeout_seconds:g} s ({type(error).__name__})") from error
        except httpx.TransportError as error:
            raise TransientDeliveryError(f"Species+ GET {path} failed: {error or type(error).__name__}") from error

        logger.debug("GET %s returned HTTP %d in %.3f s", url, response.status_code, time.perf_counter() - started)
        self._raise_for_status(path, response)
        return response

    def _raise_for_status(self, path: str, response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return

        if status == 401:
            raise AuthenticationError(
                f"Species+ rejected the API token read from {self._token_source} (HTTP 401 on GET {path}); "
                "expected a valid token from the Species+ API dashboard"
            )
        reason = _error_message(response)
        if status in (400, 422):
            raise _parameter_error(path, reason, dict(response.request.url.params))
        if status == 404:
            raise NotFound(f"Species+ GET {path} returned HTTP 404: {reason}")
        message = f"Species+ GET {path} returned HTTP {status}: {reason}"
        if status >= 500 or status in TRANSIENT_STATUSES:
            raise TransientDeliveryError(message)
        raise PermanentDeliveryError(message)


def _read_token(token_env: str, token_file: str | Path | None) -> tuple[str, str]:
    if token_file is not None:
        source = f"file '{token_file}'"
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(f"Species+ token {source} cannot be read: {error.strerror}; expected a file that contains the API token") from error
    else:
        source = f"environment variable {token_env}"
        token = os.environ.get(token_env, "").strip()

    if not token:
        raise ConfigError(f"Species+ token {source} is not set or empty; expected the API token in it")
    return token, source


def _taxon_concept_params(
    name: str | None,
    updated_since: datetime | date | str | None,
    page: int,
    per_page: int,
    with_descendants: bool | None,
    taxonomy: str,
) -> dict[str, str]:
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"page {page} or per_page {per_page} is out of range; expected page >= 1 and per_page from 1 to {MAX_PER_PAGE}")

    params = {"page": str(page), "per_page": str(per_page)}
    if name is not None:
        params["name"] = name
    if updated_since is not None:
        params["updated_since"] = _timestamp(updated_since)
    if with_descendants is not None:
        params["with_descendants"] = "true" if with_descendants else "false"
    if taxonomy.upper() != "CITES":
        # CITES is the API's default taxonomy, so it is left out of the query.
        params["taxonomy"] = taxonomy
    return params


def _timestamp(moment: datetime | date | str) -> str:
    """Format ``updated_since`` as the API expects: ISO 8601 in UTC, without an offset."""
    if isinstance(moment, str):
        return moment
    if isinstance(moment, datetime):
        # NOTE: a datetime without an offset is taken to be in UTC already.
        if moment.tzinfo is not None:
            moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
        return moment.isoformat(timespec="seconds")
    return moment.isoformat()


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as error:
        # A body that is not JSON under a 2xx status usually comes from a proxy or a cut
        # connection, so the same request may succeed later.
        raise TransientDeliveryError(f"Species+ GET {response.request.url.path} returned a body that is not JSON: {_short(response.text)}") from error


def _error_message(response: httpx.Response) -> str:
    """Return the API's ``{"error": {"message": ...}}`` text, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return _short(response.text)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    return _short(response.text)


def _integer(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _short(text: str) -> str:
    return " ".join(text.split())[:MAX_REASON_CHARS] or "(empty body)"


_PARAMETER_PATTERNS = (
    re.compile(r"Unpermitted parameters \((?P<names>[^)]*)\)"),
    re.compile(r"Invalid parameter format: (?P<names>\w+)"),
    re.compile(r"Unknown (?P<names>taxonomy)"),
    re.compile(r"Invalid use of (?P<names>\w+)"),
)


_EXPECTED_PARAMETERS = {
    "page": "a whole number of 1 or more",
    "per_page": f"a whole number from 1 to {MAX_PER_PAGE}",
    "updated_since": "an ISO 8601 date or date-time in UTC",
    "with_descendants": "true or false, together with name",
    "taxonomy": "CITES or CMS",
}
_UNKNOWN_PARAMETER = "no such parameter: only the parameters the endpoint accepts"


def _parameter_error(path: str, reason: str, sent: dict[str, str]) -> InvalidMessage:
    """Build the InvalidMessage for a 400 or 422, with a finding per parameter the API named."""
    names: list[str] = []
    for pattern in _PARAMETER_PATTERNS:
        found = pattern.search(reason)
        if found:
            names = [name.strip() for name in found["names"].split(",") if name.strip()]
            break

    label = ", ".join(f"'{name}'" for name in names) or "(not named)"
    message = f"Species+ rejected parameter {label} of GET {path}: {reason}"
    findings = [
        Finding(Severity.ERROR, f"query.{name}", message, value=sent.get(name), expected=_EXPECTED_PARAMETERS.get(name, _UNKNOWN_PARAMETER))
        for name in names
    ]
    return InvalidMessage(message, findings)


def _record_match(name: str, record: dict[str, Any], *, is_synonym: bool) -> TaxonMatch:
    higher_taxa = record.get("higher_taxa") or {}
    return taxon_match(
        name,
        str(record.get("full_name", "")),
        is_synonym=is_synonym,
        rank=str(record.get("rank", "")),
        listing=str(record.get("cites_listing") or ""),
        taxon_id=int(record.get("id", 0)),
        kingdom=str(higher_taxa.get("kingdom", "")),
    )
