"""What the message path shares: job headers, the permit a payload carries, and the worker's name.

The path is receive → validate → route → journal → publish (:mod:`hub.ingress`), then deliver
(:mod:`hub.delivery`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from lxml import etree

from hub import safexml
from hub.envelope import PERMIT_PAYLOAD_TYPES, Envelope
from hub.errors import InvalidMessage
from hub.permit import Permit
from mappings import cbfship, citesepermit

log = logging.getLogger(__name__)

DELIVERY_HEADER = "x-cites-delivery-id"
DESTINATION_HEADER = "x-cites-destination"
IDEMPOTENCY_HEADER = "x-cites-idempotency-key"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"

def job_headers(envelope: Envelope, delivery_id: str, destination: str, idempotency_key: str) -> dict[str, str]:
    """AMQP headers of a delivery job: the envelope plus the delivery's own ids."""
    headers = envelope.to_headers()
    headers[DELIVERY_HEADER] = delivery_id
    headers[DESTINATION_HEADER] = destination
    headers[IDEMPOTENCY_HEADER] = idempotency_key
    return headers

_PERMIT_NUMBER = etree.XPath("string(/*/*[local-name()='HeaderExchangedDocument']/*[local-name()='ID'])")
_ISSUING_COUNTRY = etree.XPath(
    "string(/*/*[local-name()='HeaderExchangedDocument']/*[local-name()='FirstSignatoryDocumentAuthentication']"
    "/*[local-name()='ProviderTradeParty']/*[local-name()='PostalTradeAddress']/*[local-name()='CountryID'])")
_CONSIGNOR_COUNTRY = etree.XPath(
    "string(/*/*[local-name()='SpecifiedSupplyChainConsignment']/*[local-name()='ConsignorTradeParty']"
    "/*[local-name()='PostalTradeAddress']/*[local-name()='CountryID'])")


def identify_permit(payload: bytes) -> str | None:
    """Best-effort 'PARTY/NUMBER' of a document that failed validation, so its evidence can be found.

    Only a permit number that reads as one (1 to 70 characters) is taken; the party is the
    Management Authority's country, else the consignor's, else '??'.
    """
    try:
        root = safexml.parse(payload)
    except InvalidMessage:
        return None
    number = _PERMIT_NUMBER(root).strip()
    if not number or len(number) > 70:
        return None
    party = (_ISSUING_COUNTRY(root) or _CONSIGNOR_COUNTRY(root)).strip()
    return f"{party if len(party) == 2 else '??'}/{number}"

def read_permit(payload: bytes) -> Permit:
    """Map a journaled permit payload (CITESEPermit v2 or CBFShip v1) to the canonical model."""
    root = safexml.parse(payload)
    # Inside an EPIX response the root may be unqualified, so its local name tells v1 from v2.
    if safexml.namespace(root) == cbfship.NAMESPACE or safexml.localname(root) == cbfship.ROOT_NAME:
        return cbfship.from_xml(root)
    return citesepermit.from_xml(root)


def permit_for(envelope: Envelope, payload: bytes) -> Permit | None:
    if envelope.message_type not in PERMIT_PAYLOAD_TYPES:
        return None
    try:
        return read_permit(payload)
    except InvalidMessage as error:
        log.warning("journaled payload of message_id=%s no longer maps to a permit: %s", envelope.message_id, error)
        return None
