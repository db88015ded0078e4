"""The SOAP client of other Parties' national CITES services, through EPIX Connect or point to point.

:class:`EpixClient` calls the four operations with zeep over TLS with our client certificate.
The WSDL is always ``schemas/epix/CitesDataExchange_2.wsdl``: the transport rejects any
document that is not a local file of the hub's schema folder. zeep runs with ``strict=True``
(never lxml's recover mode), no huge trees, no DTD, no entities and no external references.

Every response is read once by the hub's hardened parser; zeep then checks its structure
against the WSDL. A permit is taken from that parsed tree as its own document, so a signed
permit keeps what its signature covers. A Party still on toolkit v1 sends a v1 response
(``urn:CitesDataExchange/v1/``, payload ``CBFShip``) even to a v2 request, so the two
certificate operations accept it. The hub's validation checks its payload, because the WSDL
describes v2 only.

Failures become the hub's delivery errors, chained with ``from``:

- a SOAP fault, signed or not, becomes :class:`PartnerFault` carrying the fault's EPIX code.
  ``AdapterNotAvailable`` and other ``Server`` faults are transient; ``CertificateMissing``,
  ``CallerNotFound``, ``CalleeNotFound`` and other ``Client`` faults are permanent;
- timeouts (connect, each read, and the whole response), refused connections and HTTP 5xx, 408
  and 429 without a fault are transient;
- a failed TLS handshake, another HTTP status, and a response that is not XML, not SOAP 1.1, too
  large, or does not match the WSDL (:class:`MalformedResponse`) are permanent. Nothing of a
  response that fails a check is used.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests
import zeep
import zeep.exceptions
from lxml import etree
from requests.adapters import HTTPAdapter
from zeep.transports import Transport

import schemas
from adapters.epix.documents import PermitReference, QuantitiesConfirmation, format_quantity
from adapters.epix.soap import (
    CORRELATION_ID_HEADER,
    MESSAGE_ID_HEADER,
    SERVICE_NAMESPACE,
    SIGNED_DOCUMENT_HEADER,
    V1_SERVICE_NAMESPACE,
    WSDL_FILE,
    FaultCode,
    Operation,
    ReadFault,
    body_element,
    is_fault,
    qualified,
    read_fault,
    schema_errors,
    standalone,
)
from adapters.epix.tls import client_ssl_context
from hub import safexml
from hub.errors import ConfigError, DeliveryError, InvalidMessage, PermanentDeliveryError, TransientDeliveryError
from mappings import cbfship, citesepermit
from signing.signer import DS_SIGNATURE

log = logging.getLogger(__name__)

BINDING = qualified("CitesDataExchangeBinding")
TRANSIENT_STATUSES = frozenset({408, 429})
TRANSIENT_FAULT_CODES = frozenset({FaultCode.ADAPTER_NOT_AVAILABLE.value})
PERMANENT_FAULT_CODES = frozenset(code.value for code in FaultCode) - TRANSIENT_FAULT_CODES
READ_CHUNK_BYTES = 64 * 1024


class PartnerFault(DeliveryError):
    """A SOAP fault from the partner's service or from EPIX Connect; ``code`` is its EPIX code."""

    def __init__(self, message: str, *, code: str, transient: bool) -> None:
        super().__init__(message, transient=transient)
        self.code = code


class MalformedResponse(PermanentDeliveryError):
    """The response is not XML, not SOAP 1.1, too large, or does not match the WSDL; none of it is used."""


class _ResponseTimeout(requests.exceptions.Timeout):
    """The whole response took longer than the client's timeout, although each read was in time."""


class _ResponseTooLarge(Exception):
    pass


@dataclass(frozen=True)
class TlsIdentity:
    """Our TLS client certificate and key, and the CA that must have issued the server's certificate."""

    cert: Path
    key: Path
    ca: Path
    key_password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RequestHeaders:
    """Our optional SOAP headers: the hub's message and correlation ids, and a signed request document."""

    message_id: str | None = None
    correlation_id: str | None = None
    signed_document: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class FetchedCertificate:
    """A permit taken from a response, as a document of its own: CITESEPermit (version 2) or CBFShip (1)."""

    document: bytes = field(repr=False)
    version: int
    final: bool
    signed: bool


@dataclass(frozen=True)
class ConfirmationReceipt:
    status: str
    message_id: str | None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceStateReport:
    state: str
    party: str | None
    checked_at: datetime | None


class EpixClient:
    """Calls one SOAP endpoint: EPIX Connect, which forwards by IsoCountryCode, or a Party's own service."""

    def __init__(self, url: str, identity: TlsIdentity, *, timeout_seconds: float = 10.0,
                 max_response_bytes: int = safexml.MAX_BYTES, system: str = "EPIX") -> None:
        if urlparse(url).scheme != "https":
            raise ConfigError(f"EPIX url '{url}' is not an https:// URL; the service requires TLS with client "
                              "certificates")
        self.url = url
        self.system = system
        self.timeout_seconds = timeout_seconds
        session = _tls_session(identity)
        self._transport = LocalSchemaTransport(session, timeout_seconds=timeout_seconds,
                                               max_response_bytes=max_response_bytes)
        settings = zeep.Settings(strict=True, raw_response=True, xml_huge_tree=False, forbid_dtd=True,
                                 forbid_entities=True, forbid_external=True)
        self._client = zeep.Client(str(schemas.path(WSDL_FILE)), transport=self._transport, settings=settings)
        self._service = self._client.create_service(BINDING, url)
        self._binding = self._client.wsdl.bindings[BINDING]

    def get_certificate(self, permit: PermitReference, *, final: bool = False,
                        headers: RequestHeaders | None = None) -> FetchedCertificate:
        """Fetch the permit as issued, or with ``final`` as endorsed at export (box 14)."""
        operation = Operation.GET_FINAL if final else Operation.GET_NON_FINAL
        where = f"{self.system} {operation.value} for {permit.key}"
        root, element = self._call(operation, where, headers, CertificateNumber=permit.number,
                                   TokenId=permit.token, IsoCountryCode=permit.party)

        if safexml.namespace(element) == V1_SERVICE_NAMESPACE:
            permit_element = _only_child(element, cbfship.ROOT_NAME, cbfship.NAMESPACE, where)
            version = 1
        else:
            self._check_structure(operation, root, element, where)
            permit_element = _only_child(element, citesepermit.ROOT_NAME, citesepermit.NAMESPACE, where)
            version = 2
        _check_number(permit_element, permit, where)

        signed = permit_element.find(DS_SIGNATURE) is not None
        return FetchedCertificate(document=standalone(permit_element), version=version, final=final, signed=signed)

    def confirm_quantities(self, confirmation: QuantitiesConfirmation, *,
                           headers: RequestHeaders | None = None) -> ConfirmationReceipt:
        """Report the quantities inspected on import to the Party that issued the permit."""
        permit = confirmation.permit
        where = f"{self.system} {Operation.CONFIRM_QUANTITIES.value} for {permit.key}"
        positions = [{"ID": p.id, "InspectedUnitQuantity": Decimal(format_quantity(p.quantity))}
                     for p in confirmation.positions]
        root, element = self._call(Operation.CONFIRM_QUANTITIES, where, headers, CertificateNumber=permit.number,
                                   TokenId=permit.token, IsoCountryCode=permit.party,
                                   ConfirmedQuantities={"CitesPosition": positions})
        result = self._check_structure(Operation.CONFIRM_QUANTITIES, root, element, where)
        return ConfirmationReceipt(status=result.Status, message_id=result.MessageId,
                                   warnings=tuple(result.Warning or ()))

    def service_state(self, party: str) -> ServiceStateReport:
        """Ask whether the Party's service is available now."""
        where = f"{self.system} {Operation.SERVICE_STATE.value} for {party}"
        root, element = self._call(Operation.SERVICE_STATE, where, None, IsoCountryCode=party)
        result = self._check_structure(Operation.SERVICE_STATE, root, element, where)
        return ServiceStateReport(state=result.State, party=result.IsoCountryCode, checked_at=result.CheckedAt)

    def close(self) -> None:
        self._transport.session.close()

    # -- one call ------------------------------------------------------------------------------

    def _call(self, operation: Operation, where: str, headers: RequestHeaders | None,
              **fields: Any) -> tuple[etree._Element, etree._Element]:
        """Send one request; return the parsed response and its body element, or raise a delivery error."""
        started = time.perf_counter()
        try:
            response = getattr(self._service, operation.value)(**fields, _soapheaders=_soap_headers(headers))
        except zeep.exceptions.ValidationError as error:
            raise InvalidMessage(f"{where}: request is invalid against the WSDL: {error}") from error
        except requests.exceptions.SSLError as error:
            raise PermanentDeliveryError(f"{where}: TLS handshake with {self.url} failed: {error}; check the "
                                         "cert, key and ca options") from error
        except requests.exceptions.Timeout as error:
            raise TransientDeliveryError(f"{where}: {self.url} timed out: no response within "
                                         f"{self.timeout_seconds:g} s") from error
        except requests.exceptions.RequestException as error:
            raise TransientDeliveryError(f"{where}: request to {self.url} failed: {error}") from error
        except _ResponseTooLarge as error:
            raise MalformedResponse(f"{where}: {error}") from error

        log.debug("%s: HTTP %d in %.3f s", where, response.status_code, time.perf_counter() - started)
        return _read_reply(response.status_code, response.content, where)

    def _check_structure(self, operation: Operation, root: etree._Element, element: etree._Element,
                         where: str) -> Any:
        """Validate the response against the WSDL's schema, then deserialize it with zeep; MalformedResponse otherwise.

        zeep alone lets through what the schema forbids: an empty permit, an element where
        ``xs:any`` names another namespace, a value outside an enumeration.
        """
        expected = qualified(operation.response_element)
        if element.tag != expected:
            raise MalformedResponse(f"{where}: response element {etree.QName(element).text} is not {expected}")

        errors = schema_errors(element)
        if errors:
            raise MalformedResponse(f"{where}: response is invalid against the WSDL: {'; '.join(errors[:3])}")

        # zeep reads element children only, so comments and processing instructions are left out of its copy.
        tree = copy.deepcopy(root)
        etree.strip_tags(tree, etree.Comment, etree.PI)
        try:
            return self._binding.get(operation.value).process_reply(tree)
        # zeep reports a mismatch as its own errors, and as ValueError or TypeError from its value classes.
        except (zeep.exceptions.Error, ValueError, TypeError) as error:
            raise MalformedResponse(f"{where}: response does not match the WSDL: {error}") from error


def _read_reply(status: int, content: bytes, where: str) -> tuple[etree._Element, etree._Element]:
    transient_status = status >= 500 or status in TRANSIENT_STATUSES
    if not content.strip():
        error_type = TransientDeliveryError if transient_status else MalformedResponse
        raise error_type(f"{where}: HTTP {status} with an empty body; expected a SOAP envelope")

    try:
        root = safexml.parse(content)
        element = body_element(root)
    except InvalidMessage as error:
        error_type = TransientDeliveryError if transient_status else MalformedResponse
        raise error_type(f"{where}: HTTP {status}, and the body is not a SOAP 1.1 envelope: {error}") from error

    if is_fault(element):
        raise fault_error(read_fault(element), where)
    if not 200 <= status < 300:
        error_type = TransientDeliveryError if transient_status else PermanentDeliveryError
        raise error_type(f"{where}: HTTP {status} without a SOAP fault")
    return root, element


def fault_error(fault: ReadFault, where: str) -> PartnerFault:
    """Return the delivery error for a fault: transient or permanent by its code, else by its side."""
    if fault.code in TRANSIENT_FAULT_CODES:
        transient = True
    elif fault.code in PERMANENT_FAULT_CODES:
        transient = False
    else:
        transient = fault.side == "Server"
    text = fault.faultstring or fault.faultcode
    described = text if text.startswith(fault.code) else f"{fault.code}: {text}"
    return PartnerFault(f"{where}: fault {described}", code=fault.code, transient=transient)


def _only_child(element: etree._Element, name: str, namespace: str, where: str) -> etree._Element:
    found = [child for child in element if isinstance(child.tag, str) and safexml.localname(child) == name
             and safexml.namespace(child) in (None, namespace)]
    if len(found) != 1:
        raise MalformedResponse(f"{where}: response has {len(found)} {name} elements; expected exactly one")
    return found[0]


def _check_number(permit_element: etree._Element, permit: PermitReference, where: str) -> None:
    header = [child for child in permit_element if isinstance(child.tag, str)
              and safexml.localname(child) == "HeaderExchangedDocument"]
    number = header[0].findtext(f"{{{citesepermit.RAM_NAMESPACE}}}ID") if header else None
    if (number or "").strip() != permit.number:
        raise PermanentDeliveryError(f"{where}: the response carries permit number '{(number or '').strip()[:80]}'; "
                                     f"expected '{permit.number}'")


def _soap_headers(headers: RequestHeaders | None) -> list[etree._Element]:
    if headers is None:
        return []
    elements = []
    for name, value in ((MESSAGE_ID_HEADER, headers.message_id), (CORRELATION_ID_HEADER, headers.correlation_id)):
        if value:
            element = etree.Element(qualified(name), nsmap={"v2": SERVICE_NAMESPACE})
            element.text = value
            elements.append(element)
    if headers.signed_document:
        container = etree.Element(qualified(SIGNED_DOCUMENT_HEADER), nsmap={"v2": SERVICE_NAMESPACE})
        container.append(safexml.parse(headers.signed_document))
        elements.append(container)
    return elements


# -- transport -------------------------------------------------------------------------------------


class _TlsAdapter(HTTPAdapter):
    """A requests adapter that uses our SSL context: client certificate, key password, our CA, TLS 1.2 or newer."""

    def __init__(self, context: Any) -> None:
        self._context = context
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)


def _tls_session(identity: TlsIdentity) -> requests.Session:
    context = client_ssl_context(Path(identity.ca), Path(identity.cert), Path(identity.key),
                                 key_password=identity.key_password)
    session = requests.Session()
    session.mount("https://", _TlsAdapter(context))
    # requests would add its own CA bundle to the context unless verify names ours.
    session.verify = str(identity.ca)
    session.trust_env = False
    return session


@dataclass(frozen=True)
class BoundedResponse:
    """A response read in full within the time and size limits; zeep hands it back as the raw response."""

    status_code: int
    content: bytes = field(repr=False)


class LocalSchemaTransport(Transport):
    """A zeep transport that loads schemas from the hub's schema folder only, and bounds every response.

    ``load`` rejects URLs and paths outside the folder. ``post`` reads the response within
    ``timeout_seconds`` in total, and no more than ``max_response_bytes``.
    """

    def __init__(self, session: requests.Session, *, timeout_seconds: float, max_response_bytes: int) -> None:
        super().__init__(session=session, timeout=timeout_seconds, operation_timeout=timeout_seconds)
        self.timeout_seconds = timeout_seconds
        self.max_response_bytes = max_response_bytes

    def load(self, url: str) -> bytes:
        parsed = urlparse(url)
        if parsed.scheme not in ("", "file"):
            raise ConfigError(f"schema '{url}' is not a local file; the EPIX client loads schemas from the hub's "
                              "schema folder only")
        path = Path(parsed.path if parsed.scheme == "file" else url).resolve()
        if not path.is_relative_to(schemas.SCHEMA_DIR) or not path.is_file():
            raise ConfigError(f"schema '{url}' is not a file of the hub's schema folder {schemas.SCHEMA_DIR}")
        return path.read_bytes()

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> "BoundedResponse":
        deadline = time.monotonic() + self.timeout_seconds
        response = self.session.post(address, data=message, headers=headers, timeout=self.timeout_seconds,
                                     stream=True)
        with response:
            content = self._read_bounded(response, deadline)
        return BoundedResponse(status_code=response.status_code, content=content)

    def _read_bounded(self, response: requests.Response, deadline: float) -> bytes:
        chunks, size = [], 0
        for chunk in response.iter_content(READ_CHUNK_BYTES):
            size += len(chunk)
            if size > self.max_response_bytes:
                raise _ResponseTooLarge(f"response exceeds {self.max_response_bytes} bytes")
            if time.monotonic() > deadline:
                raise _ResponseTimeout(f"response took longer than {self.timeout_seconds:g} s")
            chunks.append(chunk)
        return b"".join(chunks)
