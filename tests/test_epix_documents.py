"""The request and confirmation documents that permit.requested and permit.quantities_confirmed carry."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.epix import CertificateRequest, PermitReference, Position, QuantitiesConfirmation
from adapters.epix.documents import read_certificate_request, read_quantities_confirmation
from hub.errors import InvalidMessage
from hub.pipeline import identify_permit

PERMIT = PermitReference("XA", "XA2026000001", "S0042")


def test_request_reads_back_as_written():
    request = CertificateRequest(PERMIT, final=True)

    assert read_certificate_request(request.to_xml()) == request


def test_confirmation_reads_back_as_written():
    confirmation = QuantitiesConfirmation(PERMIT, (Position("A", Decimal("12")), Position("B", Decimal("0.5"))),
                                          inspecting_party="XB")

    assert read_quantities_confirmation(confirmation.to_xml()) == confirmation


def test_documents_are_filed_under_their_permit():
    request = CertificateRequest(PERMIT).to_xml()
    confirmation = QuantitiesConfirmation(PERMIT, (Position("A", Decimal("1")),)).to_xml()

    assert identify_permit(request) == "XA/XA2026000001"
    assert identify_permit(confirmation) == "XA/XA2026000001"


def test_quantity_is_written_without_exponent():
    confirmation = QuantitiesConfirmation(PERMIT, (Position("A", Decimal("1.20E+2")),))

    assert b"<x:InspectedUnitQuantity>120</x:InspectedUnitQuantity>" in confirmation.to_xml()


def test_token_is_left_out_of_the_repr():
    assert "S0042" not in repr(PERMIT)


@pytest.mark.parametrize("party, number, match", [
    ("xa", "XA1", "issuing Party 'xa'"),
    ("XA", "", "permit number ''"),
    ("XA", "N" * 71, "permit number"),
])
def test_invalid_reference_is_named(party, number, match):
    document = CertificateRequest(PermitReference(party, number)).to_xml()

    with pytest.raises(InvalidMessage, match=match):
        read_certificate_request(document)


@pytest.mark.parametrize("positions, match", [
    ((), "has no CitesPosition"),
    ((Position("A", Decimal("1")), Position("A", Decimal("2"))), "'A' occurs twice"),
    ((Position("A B", Decimal("1")),), "ID 'A B' is not valid"),
    ((Position("A", Decimal("-1")),), "negative"),
])
def test_invalid_positions_are_named(positions, match):
    document = QuantitiesConfirmation(PERMIT, positions).to_xml()

    with pytest.raises(InvalidMessage, match=match):
        read_quantities_confirmation(document)


def test_quantity_that_is_not_a_number_is_named():
    document = QuantitiesConfirmation(PERMIT, (Position("A", Decimal("1")),)).to_xml().replace(b">1<", b">twelve<")

    with pytest.raises(InvalidMessage, match="'twelve' is not a number"):
        read_quantities_confirmation(document)


def test_other_document_is_not_a_request():
    with pytest.raises(InvalidMessage, match="is not a CitesCertificateRequest"):
        read_certificate_request(b"<CITESEPermit/>")
