"""Seizure → the fields of nCEN, TWIX and ETIS: what each record carries, and the nominal data rules."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest

from hub.errors import InvalidMessage
from hub.permit import Quantity
from hub.seizure import Sharing
from mappings import etis, ncen, twix
from tests.test_seizure_model import COMPANY_NAME, PERSON_NAME, make_item, make_nominal, make_pangolin_seizure, make_seizure


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


# ETIS.


def test_etis_record_counts_raw_and_worked_ivory() -> None:
    tusks = make_item(term="TUS", pieces=4, weight_kg=Decimal("23.5"))
    bangles = make_item(term="IVC", pieces=None, weight_kg=None, quantity=Quantity(value=Decimal("25")))
    carvings = make_item(term="IVC", pieces=3, weight_kg=Decimal("1.25"))

    record = etis.to_record(make_seizure(items=[tusks, bangles, carvings]))

    assert (record["raw_pieces"], record["raw_weight"]) == (4, 23.5)
    assert (record["worked_pieces"], record["worked_weight"]) == (28, 1.25)


def test_etis_record_carries_the_trade_chain() -> None:
    record = etis.to_record(make_seizure())

    assert record["seizure_year"] == 2026
    assert record["discovered_country"] == "FR"
    assert record["destination_country"] == "VN"
    assert record["origin_countries"] == [{"country": "KE", "proportion": 0.8}, {"country": "UG", "proportion": 0.2}]
    assert record["export_countries"] == ["KE"]
    assert record["transit_countries"] == [{"country": "AE", "seizure_opportunity": True}]
    assert record["ma_submitted"] is True


def test_etis_record_lists_skins_as_other_products() -> None:
    skins = make_item(scientific_name="Loxodonta africana", term="SKI", pieces=2, weight_kg=None)

    record = etis.to_record(make_seizure(items=[skins]))

    assert record["raw_pieces"] is None
    assert record["other_products"] == [
        {"scientific_name": "Loxodonta africana", "term": "SKI", "quantity": None, "unit": None, "pieces": 2, "weight_kg": None}
    ]


def test_etis_record_leaves_out_other_species() -> None:
    scales = make_item(scientific_name="Smutsia gigantea", term="SCA", pieces=None, weight_kg=Decimal("80"))

    record = etis.to_record(make_seizure(items=[make_item(), scales]))

    assert "Smutsia" not in json.dumps(record)
    assert record["raw_weight"] == 23.5


def test_etis_mapping_rejects_a_seizure_without_elephants() -> None:
    with pytest.raises(InvalidMessage, match="no elephant specimens") as caught:
        etis.to_record(make_pangolin_seizure())

    assert caught.value.findings[0].path == "items"
    assert caught.value.findings[0].value == "Phataginus tricuspis"


def test_etis_record_never_carries_nominal_data() -> None:
    seizure = make_seizure(nominal=make_nominal(), sharing=Sharing.NOMINAL)

    body = etis.to_json(seizure).decode("utf-8")

    assert PERSON_NAME not in body
    assert COMPANY_NAME not in body


# nCEN.


def test_ncen_record_groups_seizure_goods_and_route() -> None:
    record = ncen.to_record(make_seizure(), include_nominal=True)

    assert record["seizure"]["reference"] == "FR-DGDDI-2026-0042"
    assert record["seizure"]["date_time"] == "2026-03-14T06:40:00+01:00"
    assert record["seizure"]["locode"] == "FRCDG"
    assert record["seizure"]["documents"] == ["KE2026000111"]
    assert record["goods"][0]["scientific_name"] == "Loxodonta africana"
    assert record["goods"][0]["weight_kg"] == 23.5
    assert record["route"]["destination"] == "VN"
    assert record["conveyance"] == "air"


def test_ncen_national_record_carries_shared_nominal_data() -> None:
    seizure = make_seizure(nominal=make_nominal(), sharing=Sharing.NOMINAL)

    record = ncen.to_record(seizure, include_nominal=True)

    assert record["persons"][0]["name"] == PERSON_NAME
    assert record["companies"][0]["name"] == COMPANY_NAME


def test_ncen_record_respects_a_non_nominal_seizure() -> None:
    seizure = make_seizure(nominal=make_nominal(), sharing=Sharing.NON_NOMINAL)

    record = ncen.to_record(seizure, include_nominal=True)

    assert "persons" not in record
    assert "companies" not in record


def test_cen_record_never_carries_nominal_data() -> None:
    seizure = make_seizure(nominal=make_nominal(), sharing=Sharing.NOMINAL)

    body = ncen.to_json(seizure, include_nominal=False).decode("utf-8")

    assert PERSON_NAME not in body
    assert "persons" not in json.loads(body)


# TWIX.


def test_twix_csv_has_one_row_per_item() -> None:
    seizure = make_seizure(items=[make_item(), make_item(term="IVC", pieces=7, weight_kg=None)])

    rows = csv_rows(twix.to_csv(seizure, include_nominal=False))

    assert [row["term_code"] for row in rows] == ["TUS", "IVC"]
    assert [row["seizure_id"] for row in rows] == ["FR-DGDDI-2026-0042"] * 2
    assert rows[0]["countries_of_origin"] == "KE:0.8;UG:0.2"
    assert rows[0]["weight_kg"] == "23.5"
    assert rows[1]["pieces"] == "7"


def test_twix_csv_without_nominal_has_no_nominal_columns() -> None:
    seizure = make_seizure(nominal=make_nominal(), sharing=Sharing.NOMINAL)

    data = twix.to_csv(seizure, include_nominal=False)

    header = data.decode("utf-8").splitlines()[0].split(",")
    assert "persons" not in header
    assert PERSON_NAME.encode() not in data


def test_twix_csv_with_nominal_lists_persons_and_companies() -> None:
    seizure = make_seizure(nominal=make_nominal(), sharing=Sharing.NOMINAL)

    rows = csv_rows(twix.to_csv(seizure, include_nominal=True))

    assert rows[0]["persons"] == f"{PERSON_NAME} (KE, courier)"
    assert rows[0]["companies"] == f"{COMPANY_NAME} (KE, consignor)"


def test_twix_nominal_columns_empty_when_restricted() -> None:
    seizure = make_seizure(nominal=make_nominal())

    rows = csv_rows(twix.to_csv(seizure, include_nominal=True))

    assert rows[0]["persons"] == ""
    assert rows[0]["companies"] == ""
