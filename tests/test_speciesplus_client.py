"""Species+ client against its simulator (recorded API responses and a small species list), and the offline snapshot."""

from __future__ import annotations

import csv
import gzip
import logging
import secrets
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from adapters.speciesplus import SpeciesPlusClient, SpeciesPlusSimulator, SpeciesSnapshot, TTLCache, split_synonyms
from hub.errors import AuthenticationError, ConfigError, InvalidMessage, TransientDeliveryError

TOKEN = secrets.token_hex(12)
TOKEN_ENV = "SPECIESPLUS_TOKEN"

# A few real taxa of the species list, written out here: one genus, five of its species (two with
# synonyms), two unrelated taxa, and a synonym shared by two sturgeons.
SPECIES_COLUMNS = [
    "TaxonId", "Kingdom", "Phylum", "Class", "Order", "Family", "Genus", "FullName", "AuthorYear", "RankName",
    "CurrentListing", "AnnotationEnglish", "SynonymsWithAuthors", "EnglishNames", "All_DistributionISOCodes",
    "All_DistributionFullNames",
]
PANGOLIN = ["Animalia", "Chordata", "Mammalia", "Pholidota", "Manidae", "Manis"]
STURGEON = ["Animalia", "Chordata", "Actinopteri", "Acipenseriformes", "Acipenseridae", "Acipenser"]
SPECIES_ROWS = [
    ["2224", *PANGOLIN, "Manis", "Linnaeus, 1758", "GENUS", "I/II", "", "", "", "", ""],
    ["9849", *PANGOLIN, "Manis crassicaudata", "Gray, 1827", "SPECIES", "I", "", "", "Indian Pangolin", "IN, LK", "India, Sri Lanka"],
    ["11136", *PANGOLIN, "Manis gigantea", "Illiger, 1815", "SPECIES", "I", "",
     "Phataginus gigantea (Illiger, 1815), Smutsia gigantea (Illiger, 1815)", "Giant Pangolin", "", ""],
    ["5034", *PANGOLIN, "Manis javanica", "Desmarest, 1822", "SPECIES", "I", "", "", "Sunda Pangolin", "", ""],
    ["5373", *PANGOLIN, "Manis pentadactyla", "Linnaeus, 1758", "SPECIES", "I", "", "", "Chinese Pangolin", "", ""],
    ["4085", *PANGOLIN, "Manis tricuspis", "Rafinesque, 1821", "SPECIES", "I", "", "Phataginus tricuspis (Rafinesque, 1821)", "", "", ""],
    ["3058", *STURGEON, "Acipenser gueldenstaedtii", "Brandt & Ratzeburg, 1833", "SPECIES", "II", "",
     "Acipenser pygmaeus Reisinger, 1830", "Russian Sturgeon", "", ""],
    ["3304", *STURGEON, "Acipenser ruthenus", "Linnaeus, 1758", "SPECIES", "II", "", "Acipenser pygmaeus Reisinger, 1830", "Sterlet", "", ""],
    ["17714", "Plantae", "Tracheophyta", "Liliopsida", "Orchidales", "Orchidaceae", "Dendrobium", "Dendrobium nobile", "Lindl.",
     "SPECIES", "II", "", "Dendrobium coerulescens Wall.", "", "", ""],
]


def write_species_list(path: Path, rows: list[list[str]] = SPECIES_ROWS) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(SPECIES_COLUMNS)
        writer.writerows(rows)
    return path


@pytest.fixture
def recorded(shared_data: Path):
    """The simulator replaying the recorded Species+ responses."""
    with SpeciesPlusSimulator(shared_data / "speciesplus", token=TOKEN) as simulator:
        yield simulator


@pytest.fixture
def listed(tmp_path: Path):
    """The simulator serving records built from the small species list above, and no recordings."""
    with SpeciesPlusSimulator(None, token=TOKEN, species_list=write_species_list(tmp_path / "species.csv")) as simulator:
        yield simulator


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


@pytest.fixture
def make_client(token_env):
    clients = []

    def make(simulator: SpeciesPlusSimulator, **options) -> SpeciesPlusClient:
        client = SpeciesPlusClient(simulator.api_url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# Recorded responses.


def test_name_lookup_returns_recorded_record(recorded, make_client):
    client = make_client(recorded)

    page = client.taxon_concepts(name="Loxodonta africana")

    assert page.total_count == 1
    assert page.records[0]["id"] == 4521
    assert page.records[0]["cites_listing"] == "I/II"
    assert page.next_url is None


def test_recorded_page_reads_total_count_and_links(recorded, make_client):
    client = make_client(recorded)

    page = client.taxon_concepts(page=43, per_page=10)

    assert (page.page, page.per_page, page.total_count) == (43, 10, 85098)
    assert len(page.records) == 10
    assert page.next_url == f"{recorded.api_url}/taxon_concepts.json?page=44&per_page=10"
    assert page.links["prev"].endswith("page=42&per_page=10")
    assert page.last_page == 8510


def test_updated_since_sends_utc_timestamp(recorded, make_client):
    client = make_client(recorded)

    page = client.taxon_concepts(updated_since=datetime(2018, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1))))

    assert page.total_count == 59497
    assert "updated_since=2018-01-01T00%3A00%3A00" in recorded.served()[-1]


def test_legislation_and_distributions_are_recorded_ones(recorded, make_client):
    client = make_client(recorded)

    legislation = client.cites_legislation(4521)
    distributions = client.distributions(4521)

    assert {listing["appendix"] for listing in legislation["cites_listings"]} >= {"I", "II"}
    assert legislation["cites_quotas"]
    assert "NA" in {record["iso_code2"] for record in distributions}


def test_lookup_of_recorded_name_ignores_case_and_spaces(recorded, make_client):
    client = make_client(recorded)

    match = client.lookup("loxodonta   AFRICANA")

    assert match is not None
    assert match.accepted_name == "Loxodonta africana"
    assert match.appendices == {"I", "II"}
    assert match.kingdom == "Animalia"


# Paging over a species list.


def test_iteration_follows_next_links_over_pages(listed, make_client):
    client = make_client(listed)

    records = list(client.iter_taxon_concepts(per_page=4))

    assert [record["full_name"] for record in records] == [row[7] for row in SPECIES_ROWS]
    pages = [path for path in listed.served() if "page=" in path]
    assert len(pages) == 3
    assert "page=3" in pages[-1]


def test_built_pages_carry_links_like_the_api(listed, make_client):
    client = make_client(listed)

    middle = client.taxon_concepts(page=2, per_page=4)
    last = client.taxon_concepts(page=3, per_page=4)

    assert middle.total_count == len(SPECIES_ROWS)
    assert set(middle.links) == {"first", "prev", "next", "last"}
    assert set(last.links) == {"first", "prev"}
    assert last.last_page == 3


def test_with_descendants_returns_the_genus_and_its_species(listed, make_client):
    client = make_client(listed)

    page = client.taxon_concepts(name="Manis", with_descendants=True)

    assert page.total_count == 6
    assert {record["full_name"] for record in page.records} >= {"Manis", "Manis javanica"}


def test_synonym_resolves_to_accepted_taxon_and_listing(listed, make_client):
    client = make_client(listed)

    match = client.lookup("Phataginus gigantea")

    assert match is not None
    assert match.is_synonym
    assert match.accepted_name == "Manis gigantea"
    assert match.appendices == {"I"}
    assert match.taxon_id == 11136


def test_genus_spp_resolves_to_genus(listed, make_client):
    client = make_client(listed)

    match = client.lookup("Manis spp.")

    assert match is not None
    assert match.rank == "GENUS"
    assert match.listing == "I/II"


def test_shared_synonym_resolves_to_both_taxa(listed, make_client):
    client = make_client(listed)

    matches = client.lookup_all("Acipenser pygmaeus")

    assert {match.accepted_name for match in matches} == {"Acipenser gueldenstaedtii", "Acipenser ruthenus"}
    assert client.lookup("Acipenser pygmaeus") is None


def test_unknown_and_hybrid_names_resolve_to_nothing(listed, make_client):
    client = make_client(listed)

    assert client.lookup("Manis unknownensis") is None
    assert client.lookup("Manis javanica x pentadactyla") is None


def test_built_legislation_and_distributions(listed, make_client):
    client = make_client(listed)

    legislation = client.cites_legislation(9849)
    distributions = client.distributions(9849)

    assert [listing["appendix"] for listing in legislation["cites_listings"]] == ["I"]
    assert legislation["cites_quotas"] == []
    assert [(record["iso_code2"], record["name"]) for record in distributions] == [("IN", "India"), ("LK", "Sri Lanka")]


# Errors.


def test_bad_token_raises_authentication_error(recorded, monkeypatch):
    wrong = "wrong-" + secrets.token_hex(8)
    monkeypatch.setenv(TOKEN_ENV, wrong)

    with SpeciesPlusClient(recorded.api_url) as client:
        with pytest.raises(AuthenticationError, match="rejected the API token read from environment variable SPECIESPLUS_TOKEN") as raised:
            client.taxon_concepts(name="Loxodonta africana")

    assert wrong not in str(raised.value)
    assert TOKEN not in str(raised.value)


def test_simulator_answers_bad_token_with_empty_401(recorded):
    url = f"{recorded.api_url}/taxon_concepts.json?name=Loxodonta%20africana"

    missing = httpx.get(url)
    wrong = httpx.get(url, headers={"X-Authentication-Token": "not-" + TOKEN})

    assert (missing.status_code, missing.content) == (401, b"")
    assert (wrong.status_code, wrong.content) == (401, b"")


def test_unknown_parameter_raises_invalid_message_naming_it(recorded, make_client):
    client = make_client(recorded)

    with pytest.raises(InvalidMessage, match="parameter 'colour'") as raised:
        client.taxon_concepts(name="Loxodonta africana", extra_params={"colour": "grey"})

    finding = raised.value.findings[0]
    assert finding.path == "query.colour"
    assert finding.value == "grey"
    assert "Unpermitted parameters (colour)" in finding.message


def test_unknown_taxonomy_raises_invalid_message_with_value(recorded, make_client):
    client = make_client(recorded)

    with pytest.raises(InvalidMessage, match="parameter 'taxonomy'") as raised:
        client.taxon_concepts(taxonomy="ITIS")

    assert raised.value.findings[0].value == "ITIS"
    assert raised.value.findings[0].expected == "CITES or CMS"


def test_unreadable_page_number_raises_invalid_message(recorded, make_client):
    client = make_client(recorded)

    with pytest.raises(InvalidMessage, match="parameter 'page'"):
        client.taxon_concepts(extra_params={"page": "two"})


def test_page_out_of_range_is_rejected_before_sending(recorded, make_client):
    client = make_client(recorded)

    with pytest.raises(ValueError, match="per_page 501"):
        client.taxon_concepts(per_page=501)

    assert recorded.served() == []


def test_server_error_is_transient(recorded, make_client):
    client = make_client(recorded)

    with pytest.raises(TransientDeliveryError, match="HTTP 500"):
        client.cites_legislation(0)


def test_unavailable_service_is_transient(recorded, make_client):
    client = make_client(recorded)
    recorded.fail_next(1, status=503)

    with pytest.raises(TransientDeliveryError, match="HTTP 503"):
        client.taxon_concepts(name="Loxodonta africana")


def test_timeout_is_transient(shared_data, make_client):
    with SpeciesPlusSimulator(shared_data / "speciesplus", token=TOKEN, delay_seconds=1.0) as slow:
        client = make_client(slow, timeout_seconds=0.2)

        with pytest.raises(TransientDeliveryError, match="timed out after 0.2 s"):
            client.taxon_concepts(name="Loxodonta africana")


def test_refused_connection_is_transient(listed, make_client):
    client = make_client(listed)
    listed.stop()

    with pytest.raises(TransientDeliveryError, match="failed"):
        client.taxon_concepts(name="Manis")


# Cache.


def test_second_lookup_is_served_from_cache(recorded, make_client):
    client = make_client(recorded)

    first = client.lookup("Loxodonta africana")
    second = client.lookup("Loxodonta africana")

    assert first == second
    assert len(recorded.served()) == 1
    assert client.cache.hits == 1


def test_legislation_is_cached(recorded, make_client):
    client = make_client(recorded)

    client.cites_legislation(4521)
    client.cites_legislation(4521)

    assert len(recorded.served()) == 1


def test_cached_value_cannot_be_changed_by_caller(recorded, make_client):
    client = make_client(recorded)

    client.cites_legislation(4521)["cites_listings"].clear()

    assert client.cites_legislation(4521)["cites_listings"]


def test_bulk_pages_are_not_cached(recorded, make_client):
    client = make_client(recorded)

    client.taxon_concepts(page=43, per_page=10)
    client.taxon_concepts(page=43, per_page=10)

    assert len(recorded.served()) == 2


def test_cache_entry_expires_after_ttl(recorded, make_client):
    now = [0.0]
    client = make_client(recorded)
    client.cache = TTLCache(60, clock=lambda: now[0])

    client.cites_legislation(4521)
    now[0] = 59.0
    client.cites_legislation(4521)
    now[0] = 61.0
    client.cites_legislation(4521)

    assert len(recorded.served()) == 2


def test_errors_are_not_cached(recorded, make_client):
    client = make_client(recorded)
    recorded.fail_next(1, status=503)

    with pytest.raises(TransientDeliveryError):
        client.cites_legislation(4521)
    legislation = client.cites_legislation(4521)

    assert legislation["cites_listings"]


def test_cache_ttl_is_configurable(recorded, make_client):
    client = make_client(recorded, cache_ttl_seconds=0)

    client.cites_legislation(4521)
    client.cites_legislation(4521)

    assert len(recorded.served()) == 2


def test_full_cache_drops_oldest_entry():
    cache = TTLCache(60, max_entries=2)

    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)

    assert len(cache) == 2
    assert cache.get("b") == 2
    assert cache.get("a") is None


def test_cache_is_safe_across_threads():
    cache = TTLCache(60, max_entries=50)

    def work(offset: int) -> None:
        for number in range(500):
            cache.put((offset, number % 80), number)
            cache.get((offset, (number * 7) % 80))

    threads = [threading.Thread(target=work, args=(offset,)) for offset in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(cache) <= 50
    assert cache.hits + cache.misses == 8 * 500


# Token and configuration.


def test_token_is_read_from_file(recorded, tmp_path, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    token_file = tmp_path / "speciesplus.token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")

    with SpeciesPlusClient(recorded.api_url, token_file=token_file) as client:
        page = client.taxon_concepts(name="Loxodonta africana")

    assert page.total_count == 1


def test_missing_token_names_the_variable(monkeypatch):
    monkeypatch.delenv("SPECIESPLUS_TEST_NO_TOKEN", raising=False)

    with pytest.raises(ConfigError, match="environment variable SPECIESPLUS_TEST_NO_TOKEN is not set"):
        SpeciesPlusClient("http://127.0.0.1:9/api/v1", token_env="SPECIESPLUS_TEST_NO_TOKEN")


def test_missing_token_file_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="absent.token"):
        SpeciesPlusClient("http://127.0.0.1:9/api/v1", token_file=tmp_path / "absent.token")


def test_base_url_must_be_http(token_env):
    with pytest.raises(ConfigError, match="base_url 'ftp://example.org'"):
        SpeciesPlusClient("ftp://example.org")


def test_token_is_never_logged_or_shown(recorded, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(recorded)

    client.lookup("Loxodonta africana")
    client.cites_legislation(4521)

    assert TOKEN not in caplog.text
    assert TOKEN not in repr(client)


# Offline snapshot.


@pytest.fixture
def snapshot(tmp_path: Path) -> SpeciesSnapshot:
    return SpeciesSnapshot.load(write_species_list(tmp_path / "species.csv"))


def test_snapshot_finds_accepted_name(snapshot):
    match = snapshot.lookup("Manis javanica")

    assert match is not None
    assert not match.is_synonym
    assert (match.rank, match.listing, match.taxon_id, match.kingdom) == ("SPECIES", "I", 5034, "Animalia")


def test_snapshot_maps_synonym_to_accepted_name(snapshot):
    match = snapshot.lookup("Smutsia gigantea")

    assert match is not None
    assert match.is_synonym
    assert match.accepted_name == "Manis gigantea"
    assert match.name == "Smutsia gigantea"


def test_snapshot_resolves_genus_spp_to_genus(snapshot):
    for name in ("Manis spp.", "Manis sp.", "manis spp", "Manis"):
        match = snapshot.lookup(name)
        assert match is not None, name
        assert (match.accepted_name, match.rank, match.appendices) == ("Manis", "GENUS", {"I", "II"})


def test_snapshot_reports_odd_names_as_unknown(snapshot):
    for name in ("Manis javanica Desmarest, 1822", "Manis javanika", "Manis javanica x pentadactyla", "Mammalia", "Manis javanica spp."):
        assert snapshot.lookup(name) is None, name


def test_snapshot_reports_shared_synonym_as_ambiguous(snapshot):
    matches = snapshot.lookup_all("Acipenser pygmaeus")

    assert snapshot.lookup("Acipenser pygmaeus") is None
    assert sorted(match.accepted_name for match in matches) == ["Acipenser gueldenstaedtii", "Acipenser ruthenus"]


def test_snapshot_reads_gzip_export(tmp_path):
    plain = write_species_list(tmp_path / "species.csv")
    packed = tmp_path / "species.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))

    snapshot = SpeciesSnapshot.load(packed)

    assert len(snapshot) == len(SPECIES_ROWS)


def test_snapshot_names_missing_column(tmp_path):
    path = tmp_path / "species.csv"
    path.write_text("TaxonId,FullName\n1,Manis\n", encoding="utf-8")

    with pytest.raises(ConfigError, match="no column Kingdom, RankName, CurrentListing, SynonymsWithAuthors"):
        SpeciesSnapshot.load(path)


def test_snapshot_names_line_of_bad_taxon_id(tmp_path):
    rows = [list(SPECIES_ROWS[0]), ["x12", *SPECIES_ROWS[1][1:]]]
    path = write_species_list(tmp_path / "species.csv", rows)

    with pytest.raises(ConfigError, match="line 3: TaxonId 'x12'"):
        SpeciesSnapshot.load(path)


def test_snapshot_of_missing_file_is_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read"):
        SpeciesSnapshot.load(tmp_path / "absent.csv")


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Phataginus gigantea (Illiger, 1815), Smutsia gigantea (Illiger, 1815)", ["Phataginus gigantea", "Smutsia gigantea"]),
        ("Xenopus laevis Campbell, Solano-Zavaleta, Flores-Villela & Frost, 2016", ["Xenopus laevis"]),
        ("Hyla nana de Filippi, 1850, Hyla minor van Hasselt, 1823", ["Hyla nana", "Hyla minor"]),
        ("Aotus lemurinus auct., Dendrobium friedericksianum auct. non Rchb.f.", ["Aotus lemurinus", "Dendrobium friedericksianum"]),
        ("Pachypodium lamerei var. ramosum (Costantin & Bois) Pichon", ["Pachypodium lamerei var. ramosum"]),
        ("Ceratotherium simum cottoni Lydekker, 1908", ["Ceratotherium simum cottoni"]),
        ("Aotus (Aotus) lemurinus Geoffroy, 1843", ["Aotus lemurinus"]),
        ("Ornithoptera victoriae x ornithoptera priamus urvillianus , Mantella aff. baroni Thominot, 1889", []),
        ("Apoda-prorepentia calypso (Luer) Luer", ["Apoda-prorepentia calypso"]),
    ],
)
def test_synonym_cell_is_split_into_names(text, names):
    assert [name for name, _author in split_synonyms(text)] == names


def test_snapshot_loads_real_species_list(shared_data):
    snapshot = SpeciesSnapshot.load(shared_data / "cites_species.csv")

    assert len(snapshot) == 38079
    assert snapshot.lookup("Phataginus gigantea").accepted_name == "Manis gigantea"
    assert snapshot.lookup("Manis spp.").rank == "GENUS"
    assert snapshot.lookup("Dendrobium nobile").kingdom == "Plantae"
