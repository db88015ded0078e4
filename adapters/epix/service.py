"""Our Party's national CITES data-exchange service, the one EPIX Connect calls: SOAP 1.1 over mutual TLS.

:func:`create_service` returns a FastAPI application that serves the four operations of
``schemas/epix/CitesDataExchange_2.wsdl`` at :data:`SERVICE_PATH` from the hub's journal:

- GetNonFinalCitesCertificate: the latest accepted ``permit.issued`` or ``permit.amended`` of the permit;
- GetFinalCitesCertificate: the latest accepted ``permit.endorsed`` (the permit with box 14 filled),
  or the fault ``CertificateMissing`` while no endorsement is journaled;
- ConfirmQuantities: a ``permit.quantities_confirmed`` message handed to the hub's ingress, under
  the partner that the access list names for the caller;
- ServiceState: ``available`` while the journal is reachable.

Requests are parsed with the hub's hardened parser only. The caller's Party comes from its TLS
client certificate (see ``adapters.epix.tls``) and must be admitted by the
:class:`~adapters.epix.access.AccessList`. A permit protected by a security stamp (box 5b) is
served only to a caller that gives it as ``TokenId``. Permits that are cancelled or replaced are
not served. Unsigned permits are served with an unqualified root, as in exchanged responses.
They are signed with our Party's key when the caller's partner profile sets ``sign_outbound``.
A permit that was journaled signed is served as the exact bytes received.

A caller whose partner profile sets ``verify_inbound`` must send its request document, signed,
in the ``SignedDocument`` SOAP header; for ConfirmQuantities that document is what the journal keeps.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Protocol

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.requests import ClientDisconnect
from lxml import etree
from sqlalchemy.exc import SQLAlchemyError

from adapters.epix import documents
from adapters.epix.access import AccessList, CallerRule
from adapters.epix.soap import (
    CONTENT_TYPE,
    CORRELATION_ID_HEADER,
    MESSAGE_ID_HEADER,
    SERVICE_NAMESPACE,
    SIGNED_DOCUMENT_HEADER,
    EpixFault,
    FaultCode,
    Operation,
    add_leaf,
    body_element,
    child_text,
    fault_envelope,
    header_element,
    new_envelope,
    qualified,
    serialize,
    standalone,
)
from adapters.epix.tls import SubjectHeader, caller_country
from hub import safexml
from hub.envelope import MessageType
from hub.errors import AuthenticationError, ConfigError, InvalidMessage
from hub.journal import JournalError, MessageStatus
from hub.lifecycle import PermitState
from hub.permit import Permit
from mappings import cbfship, citesepermit
from signing.signer import DS_SIGNATURE

if TYPE_CHECKING:
    from hub.runtime import Hub

log = logging.getLogger(__name__)

SERVICE_PATH = "/cites-data-exchange/v2"
MAX_REQUEST_BYTES = 1024 * 1024
ISSUED_TYPES = frozenset({MessageType.PERMIT_ISSUED, MessageType.PERMIT_AMENDED})


@dataclass(frozen=True)
class StoredCertificate:
    """A permit document as the service's store keeps it, with the permit read from it."""

    document: bytes
    permit: Permit
    state: str | None = None


@dataclass(frozen=True)
class ConfirmationResult:
    """The store's outcome of a quantities confirmation: status, its message id and warnings."""

    status: str
    message_id: str | None = None
    warnings: tuple[str, ...] = ()


class PermitStore(Protocol):
    """The source of the service's permits and the record of confirmations: the hub's journal, or a simulator's memory."""

    party: str

    def certificate(self, number: str, *, final: bool) -> StoredCertificate:
        """Return the permit as issued, or its final form; EpixFault when there is none to serve."""

    def outgoing(self, stored: StoredCertificate, partner: str) -> bytes:
        """Return the document to put in the response for a caller that ``partner`` represents."""

    def requires_signature(self, partner: str) -> bool:
        """Tell whether callers that ``partner`` represents must sign their request documents."""

    def check_signature(self, partner: str, document: bytes) -> None:
        """Raise EpixFault unless ``document`` carries a signature that ``partner``'s trust accepts."""

    def confirm(self, document: bytes, partner: str, *, message_id: str | None,
                correlation_id: str | None) -> ConfirmationResult:
        """Record a quantities confirmation from ``partner``; EpixFault when it is rejected."""

    def available(self) -> bool:
        """Tell whether the store is available now."""


@dataclass(frozen=True)
class Call:
    """One request: the operation, the admitted caller, and the request's fields."""

    operation: Operation
    caller: CallerRule
    root: etree._Element
    element: etree._Element
    number: str | None
    token: str | None
    party: str | None

    @property
    def permit_key(self) -> str:
        return f"{self.party}/{self.number}"


def create_service(hub: "Hub", access: AccessList, *, subject_header: SubjectHeader | None = None) -> FastAPI:
    """Return the service that reads ``hub``'s journal, for the callers that ``access`` admits."""
    return create_app(JournalPermitStore(hub), access, subject_header=subject_header)


def create_app(store: PermitStore, access: AccessList, *, subject_header: SubjectHeader | None = None) -> FastAPI:
    """Return the service that reads ``store``; ``subject_header`` enables a proxy's subject header."""
    app = FastAPI(title="CITES data exchange", docs_url=None, redoc_url=None, openapi_url=None)
    service = NationalService(store, access)

    @app.post(SERVICE_PATH)
    async def soap_call(request: Request) -> Response:
        try:
            body = await _read_limited(request)
        except ClientDisconnect:
            log.debug("EPIX service: the caller disconnected before sending its whole request")
            return Response(status_code=400)
        country = caller_country(request, subject_header)
        action = request.headers.get("SOAPAction")
        status, content = await run_in_threadpool(service.respond, body, country, action)
        return Response(content=content, status_code=status, media_type=CONTENT_TYPE)

    return app


async def _read_limited(request: Request) -> bytes | None:
    """Return the body, or None when it exceeds :data:`MAX_REQUEST_BYTES`."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class NationalService:
    """The operations of the service over a :class:`PermitStore`.

    :meth:`respond` turns every EPIX fault and journal failure into a SOAP fault response.
    """

    def __init__(self, store: PermitStore, access: AccessList) -> None:
        self.store = store
        self.access = access

    def respond(self, body: bytes | None, country: str | None, soap_action: str | None) -> tuple[int, bytes]:
        """Return the HTTP status and the SOAP envelope of the response to one request."""
        call = None
        try:
            call = self._read_call(body, country, soap_action)
            response = self._dispatch(call)
        except EpixFault as fault:
            _log_call(call, country, f"fault {fault.code.value}", fault.reason)
            return 500, fault_envelope(fault)
        except (SQLAlchemyError, JournalError) as error:
            log.error("EPIX service: the journal failed: %s", error)
            fault = EpixFault(FaultCode.ADAPTER_NOT_AVAILABLE, "the permit journal of this service is unavailable; "
                                                              "try again later")
            return 500, fault_envelope(fault)
        _log_call(call, country, "served", None)
        return 200, response

    # -- reading the request ---------------------------------------------------------------------

    def _read_call(self, body: bytes | None, country: str | None, soap_action: str | None) -> Call:
        if country is None:
            raise EpixFault(FaultCode.CERTIFICATE_MISSING, "the caller presented no TLS client certificate naming "
                                                           "a Party (C=XX); expected the certificate of a Management Authority")
        if body is None:
            raise EpixFault(FaultCode.INVALID_REQUEST, f"request body exceeds {MAX_REQUEST_BYTES} bytes")
        root, element = _parse_request(body)
        operation = Operation.from_element(safexml.localname(element))
        _check_soap_action(soap_action, operation)

        caller = self.access.check(country, operation)
        return Call(operation=operation, caller=caller, root=root, element=element,
                    number=child_text(element, "CertificateNumber"), token=child_text(element, "TokenId") or None,
                    party=child_text(element, "IsoCountryCode"))

    def _dispatch(self, call: Call) -> bytes:
        if call.operation is Operation.SERVICE_STATE:
            return self._service_state(call)

        self._check_callee(call)
        if call.operation is Operation.CONFIRM_QUANTITIES:
            return self._confirm_quantities(call)
        return self._certificate(call, final=call.operation is Operation.GET_FINAL)

    def _check_callee(self, call: Call) -> None:
        if not call.number:
            raise EpixFault(FaultCode.INVALID_REQUEST, f"{call.operation.request_element} has no CertificateNumber; "
                                                       "expected the permit number")
        if call.party != self.store.party:
            raise EpixFault(FaultCode.CALLEE_NOT_FOUND, f"IsoCountryCode '{call.party}' is not the Party of this "
                                                        f"service; this service serves {self.store.party} only")

    # -- operations ------------------------------------------------------------------------------

    def _certificate(self, call: Call, *, final: bool) -> bytes:
        self._check_signed_request(call)
        stored = self.store.certificate(call.number or "", final=final)
        _check_token(call, stored.permit)

        document = self.store.outgoing(stored, call.caller.partner)
        envelope, body = new_envelope()
        response = etree.SubElement(body, qualified(call.operation.response_element))
        response.append(safexml.parse(document))
        add_leaf(response, "Composite", "false")
        return serialize(envelope)

    def _confirm_quantities(self, call: Call) -> bytes:
        confirmation = _read_positions(call)
        signed = self._check_signed_request(call)
        stored = self.store.certificate(call.number or "", final=False)
        _check_token(call, stored.permit)
        _check_positions(confirmation, stored.permit)

        document = signed if signed is not None else confirmation.to_xml()
        result = self.store.confirm(document, call.caller.partner,
                                    message_id=_header_text(call.root, MESSAGE_ID_HEADER),
                                    correlation_id=_header_text(call.root, CORRELATION_ID_HEADER))
        envelope, body = new_envelope()
        response = etree.SubElement(body, qualified(call.operation.response_element))
        add_leaf(response, "Status", result.status)
        if result.message_id:
            add_leaf(response, "MessageId", result.message_id)
        for warning in result.warnings:
            add_leaf(response, "Warning", warning)
        return serialize(envelope)

    def _service_state(self, call: Call) -> bytes:
        if call.party and call.party != self.store.party:
            raise EpixFault(FaultCode.CALLEE_NOT_FOUND, f"IsoCountryCode '{call.party}' is not the Party of this "
                                                        f"service; this service serves {self.store.party} only")
        envelope, body = new_envelope()
        response = etree.SubElement(body, qualified(call.operation.response_element))
        add_leaf(response, "State", "available" if self.store.available() else "unavailable")
        add_leaf(response, "IsoCountryCode", self.store.party)
        add_leaf(response, "CheckedAt", datetime.now(timezone.utc).isoformat(timespec="seconds"))
        return serialize(envelope)

    # -- signed request documents ----------------------------------------------------------------

    def _check_signed_request(self, call: Call) -> bytes | None:
        """Return the signed request document of the SignedDocument header, checked, or None when there is none.

        The document must name the same permit (and, for ConfirmQuantities, the same positions)
        as the SOAP body, so that what was signed is what is acted on.
        """
        document = _signed_document(call.root)
        if document is None:
            if self.store.requires_signature(call.caller.partner):
                raise EpixFault(FaultCode.SIGNATURE_REJECTED, f"caller Party {call.caller.country} must sign its "
                                                              f"requests: the {SIGNED_DOCUMENT_HEADER} SOAP header is missing")
            return None

        if self.store.requires_signature(call.caller.partner):
            self.store.check_signature(call.caller.partner, document)
        _check_same_request(call, document)
        return document


def _parse_request(body: bytes) -> tuple[etree._Element, etree._Element]:
    try:
        root = safexml.parse(body)
        element = body_element(root)
    except InvalidMessage as error:
        raise EpixFault(FaultCode.INVALID_REQUEST, f"request is not a SOAP 1.1 envelope: {error}") from error
    if safexml.namespace(element) != SERVICE_NAMESPACE:
        raise EpixFault(FaultCode.INVALID_REQUEST, f"body element {etree.QName(element).text} is not in the "
                                                   f"namespace of this service; expected {{{SERVICE_NAMESPACE}}}")
    return root, element


def _check_soap_action(soap_action: str | None, operation: Operation) -> None:
    action = (soap_action or "").strip().strip('"')
    if action and action != operation.soap_action:
        raise EpixFault(FaultCode.INVALID_REQUEST, f"SOAPAction '{action[:80]}' does not match the body element "
                                                   f"{operation.request_element}; expected {operation.soap_action}")


def _check_token(call: Call, permit: Permit) -> None:
    """Raise InvalidTokenId unless the caller gives the permit's security stamp (box 5b), when it has one, as TokenId."""
    expected = permit.security_stamp
    if not expected:
        return
    if call.token is None:
        raise EpixFault(FaultCode.INVALID_TOKEN, f"permit {call.permit_key} is protected by a security token; "
                                                 "TokenId is missing")
    if not secrets.compare_digest(call.token.encode("utf-8"), expected.encode("utf-8")):
        raise EpixFault(FaultCode.INVALID_TOKEN, f"TokenId does not match the security token of permit "
                                                 f"{call.permit_key}; expected the security stamp number of box 5b")


def _read_positions(call: Call) -> documents.QuantitiesConfirmation:
    positions = []
    for element in call.element.iter("CitesPosition", qualified("CitesPosition")):
        position_id = child_text(element, "ID") or ""
        try:
            quantity = documents.parse_quantity(child_text(element, "InspectedUnitQuantity") or "", position_id)
            positions.append(documents.Position(id=position_id, quantity=quantity))
        except InvalidMessage as error:
            raise EpixFault(FaultCode.INVALID_REQUEST, str(error)) from error
    try:
        reference = documents.check_reference(call.party or "", call.number or "", call.token)
        checked = documents.check_positions(positions)
    except InvalidMessage as error:
        raise EpixFault(FaultCode.INVALID_REQUEST, str(error)) from error
    return documents.QuantitiesConfirmation(permit=reference, positions=checked,
                                            inspecting_party=call.caller.country)


def _check_positions(confirmation: documents.QuantitiesConfirmation, permit: Permit) -> None:
    lines = [item.line_id for item in permit.items]
    for position in confirmation.positions:
        if position.id not in lines:
            raise EpixFault(FaultCode.UNKNOWN_POSITION, f"CitesPosition ID '{position.id}' is not a position of "
                                                        f"permit {confirmation.permit.key}; expected one of "
                                                        f"{', '.join(lines)}")


def _signed_document(root: etree._Element) -> bytes | None:
    header = header_element(root, SIGNED_DOCUMENT_HEADER)
    children = [] if header is None else [child for child in header if isinstance(child.tag, str)]
    if not children:
        return None
    return standalone(children[0])


def _check_same_request(call: Call, document: bytes) -> None:
    try:
        if call.operation is Operation.CONFIRM_QUANTITIES:
            confirmation = documents.read_quantities_confirmation(document)
            signed_key = confirmation.permit.key
            same = confirmation.positions == _read_positions(call).positions
        else:
            request = documents.read_certificate_request(document)
            signed_key = request.permit.key
            same = request.final == (call.operation is Operation.GET_FINAL)
    except InvalidMessage as error:
        raise EpixFault(FaultCode.SIGNATURE_REJECTED, f"the {SIGNED_DOCUMENT_HEADER} header is not a request "
                                                      f"document: {error}") from error
    if not same or signed_key != call.permit_key:
        raise EpixFault(FaultCode.SIGNATURE_REJECTED, f"the signed document in the {SIGNED_DOCUMENT_HEADER} header "
                                                      f"asks for {signed_key} or other positions than the SOAP body, "
                                                      f"which names {call.permit_key}")


def _header_text(root: etree._Element, name: str) -> str | None:
    element = header_element(root, name)
    return (element.text or "").strip() or None if element is not None else None


def _log_call(call: Call | None, country: str | None, outcome: str, reason: str | None) -> None:
    operation = call.operation.value if call else "unknown"
    permit = call.permit_key if call and call.number else "-"
    log.info("EPIX call operation=%s caller=%s permit=%s outcome=%s", operation, country or "-", permit, outcome)
    if reason:
        log.debug("EPIX call operation=%s caller=%s: %s", operation, country or "-", reason)


# -- the hub's journal as the permit store -----------------------------------------------------------


class JournalPermitStore:
    """The hub's journal as the service's permit store; confirmations go through the hub's ingress."""

    def __init__(self, hub: "Hub") -> None:
        if not hub.config.party:
            raise ConfigError("the EPIX service needs our Party: set 'party' in the configuration")
        self.hub = hub
        self.party = hub.config.party

    def certificate(self, number: str, *, final: bool) -> StoredCertificate:
        key = f"{self.party}/{number}"
        records = [r for r in self.hub.journal.messages_for_permit(self.party, number)
                   if r.status != MessageStatus.REJECTED]
        if not records:
            raise EpixFault(FaultCode.CERTIFICATE_NOT_FOUND, f"permit {key} is not in the journal of this service")
        state = self.hub.journal.permit_state(self.party, number)
        if state in PermitState.TERMINAL:
            raise EpixFault(FaultCode.CERTIFICATE_NOT_VALID, f"permit {key} was {state}; it may not be used")

        # A permit.endorsed message may also be a Customs usage report; only permit documents are served.
        wanted = {MessageType.PERMIT_ENDORSED} if final else ISSUED_TYPES
        versions = [r for r in records if r.envelope.message_type in wanted and _is_permit_document(r.payload)]
        if not versions and final:
            raise EpixFault(FaultCode.CERTIFICATE_MISSING, f"permit {key} has no final certificate yet: no export "
                                                           "endorsement (box 14) is journaled; request "
                                                           "GetNonFinalCitesCertificate, or ask again after export")
        if not versions:
            raise EpixFault(FaultCode.CERTIFICATE_NOT_FOUND, f"permit {key} has no issued version in the journal "
                                                             "of this service")
        return StoredCertificate(versions[-1].payload, _read_journaled(key, versions[-1].payload), state)

    def outgoing(self, stored: StoredCertificate, partner: str) -> bytes:
        if is_signed(stored.document) and _is_citesepermit(stored.document):
            return stored.document
        document = unqualified_permit(stored.document, stored.permit)
        signed, _ = self.hub.signatures.sign_outbound(partner, document)
        return signed

    def requires_signature(self, partner: str) -> bool:
        profile = self.hub.config.partners.get(partner)
        return bool(profile and profile.verify_inbound)

    def check_signature(self, partner: str, document: bytes) -> None:
        check = self.hub.signatures.check_inbound(partner, document)
        if check.finding is not None:
            raise EpixFault(FaultCode.SIGNATURE_REJECTED, f"{check.finding.message} (reason {check.finding.value})")

    def confirm(self, document: bytes, partner: str, *, message_id: str | None,
                correlation_id: str | None) -> ConfirmationResult:
        try:
            result = self.hub.ingress.receive(document, message_type=MessageType.PERMIT_QUANTITIES_CONFIRMED.value,
                                              sender=partner, channel="epix", message_id=message_id,
                                              correlation_id=correlation_id)
        except AuthenticationError as error:
            log.error("EPIX service: our configuration does not let partner %s send confirmations: %s", partner, error)
            raise EpixFault(FaultCode.ADAPTER_NOT_AVAILABLE, "this service cannot record confirmations from your "
                                                             "Party yet; its operators were told") from error
        except InvalidMessage as error:
            raise EpixFault(FaultCode.INVALID_REQUEST, str(error)) from error

        findings = [f"{f['path']}: {f['message']}" for f in result.findings if f["severity"] == "error"]
        if not result.accepted:
            raise EpixFault(FaultCode.CONFIRMATION_REJECTED, "; ".join(findings[:5]) or "rejected")
        warnings = tuple(f["message"] for f in result.findings if f["severity"] == "warning")
        # The ingress statuses accepted and accepted_with_warnings are the WSDL's ConfirmationStatusType values.
        return ConfirmationResult(status=result.status, message_id=result.message_id, warnings=warnings)

    def available(self) -> bool:
        return self.hub.journal.ping()


def read_permit_document(payload: bytes) -> Permit:
    """Map a CITESEPermit or CBFShip document, its root qualified or not, to a Permit; InvalidMessage otherwise."""
    root = safexml.parse(payload)
    if safexml.localname(root) == cbfship.ROOT_NAME:
        return cbfship.from_xml(citesepermit.qualify_root(root, cbfship.NAMESPACE))
    return citesepermit.from_xml(root)


def _read_journaled(key: str, payload: bytes) -> Permit:
    try:
        return read_permit_document(payload)
    except InvalidMessage as error:
        log.error("EPIX service: journaled permit %s cannot be read: %s", key, error)
        raise EpixFault(FaultCode.ADAPTER_NOT_AVAILABLE, f"permit {key} is journaled but cannot be read; "
                                                         "its operators were told") from error


def _is_permit_document(payload: bytes) -> bool:
    try:
        return safexml.localname(safexml.parse(payload)) in (citesepermit.ROOT_NAME, cbfship.ROOT_NAME)
    except InvalidMessage:
        return False


def is_signed(document: bytes) -> bool:
    """Tell whether ``document`` carries an XML signature anywhere."""
    return safexml.parse(document).find(f".//{DS_SIGNATURE}") is not None


def _is_citesepermit(document: bytes) -> bool:
    return safexml.localname(safexml.parse(document)) == citesepermit.ROOT_NAME


def unqualified_permit(document: bytes, permit: Permit) -> bytes:
    """Return a CITESEPermit v2 document with an unqualified root, as exchanged responses carry it.

    A CITESEPermit is kept as it is apart from its root tag; a CBFShip v1 document is written
    anew from ``permit``. An enveloped signature, which would no longer match, is left out.
    """
    root = safexml.parse(document)
    if safexml.localname(root) != citesepermit.ROOT_NAME:
        root = safexml.parse(citesepermit.to_xml(permit))
    for signature in root.findall(DS_SIGNATURE):
        root.remove(signature)

    prefixed = {prefix: uri for prefix, uri in root.nsmap.items() if prefix is not None}
    renamed = etree.Element(safexml.localname(root), attrib=dict(root.attrib), nsmap=prefixed)
    renamed.text = root.text
    for child in list(root):
        renamed.append(child)
    return etree.tostring(renamed, xml_declaration=True, encoding="UTF-8")
