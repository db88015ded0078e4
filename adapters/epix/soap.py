"""SOAP 1.1 pieces of the CITES data-exchange service that the service, the client and the simulator share.

The operations, their request and response elements and SOAP actions follow
``schemas/epix/CitesDataExchange_2.wsdl``. Faults carry an EPIX code three ways, so that every
kind of caller finds it: the faultcode refines ``Client`` or ``Server`` with it
(``soapenv:Client.CallerNotFound``), the faultstring starts with it, and the detail contains a
``CitesFault`` element with ``Code`` and ``Reason``. EPIX Connect itself sends the bare code as
the faultstring, which :func:`read_fault` also understands.
"""

from __future__ import annotations

import copy
import functools
import threading
from dataclasses import dataclass
from enum import Enum

from lxml import etree

import schemas
from hub import safexml
from hub.errors import InvalidMessage

SOAP_NAMESPACE = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICE_NAMESPACE = "urn:CitesDataExchange/v2/"
V1_SERVICE_NAMESPACE = "urn:CitesDataExchange/v1/"
WSDL_FILE = "epix/CitesDataExchange_2.wsdl"
CONTENT_TYPE = "text/xml; charset=utf-8"

# SOAP headers of our own design, all optional, in the service namespace: the hub's message and
# correlation ids, and the caller's request document with its enveloped XML signature.
MESSAGE_ID_HEADER = "MessageId"
CORRELATION_ID_HEADER = "CorrelationId"
SIGNED_DOCUMENT_HEADER = "SignedDocument"

MAX_FAULT_TEXT = 300
_WSDL_NAMESPACES = {"wsdl": "http://schemas.xmlsoap.org/wsdl/", "xs": "http://www.w3.org/2001/XMLSchema"}
# lxml keeps the error log on the schema object, so one validation runs at a time.
_SCHEMA_LOCK = threading.Lock()


class Operation(str, Enum):
    """The four operations of the national CITES data-exchange service."""

    GET_NON_FINAL = "GetNonFinalCitesCertificate"
    GET_FINAL = "GetFinalCitesCertificate"
    CONFIRM_QUANTITIES = "ConfirmQuantities"
    SERVICE_STATE = "ServiceState"

    @property
    def soap_action(self) -> str:
        return f"urn:{self.value}"

    @property
    def request_element(self) -> str:
        return f"{self.value}Request"

    @property
    def response_element(self) -> str:
        return f"{self.value}Response"

    @classmethod
    def from_element(cls, local_name: str) -> "Operation":
        """Return the operation of a body element, named with or without the ``Request`` suffix."""
        name = local_name.removesuffix("Request")
        for operation in cls:
            if operation.value == name:
                return operation
        expected = ", ".join(operation.request_element for operation in cls)
        raise EpixFault(FaultCode.INVALID_REQUEST,
                        f"body element <{local_name}> is not an operation of this service; expected one of {expected}")


class FaultCode(str, Enum):
    """The fault codes: EPIX Connect's own, then those this service adds."""

    CERTIFICATE_MISSING = "CertificateMissing"
    CALLER_NOT_FOUND = "CallerNotFound"
    CALLEE_NOT_FOUND = "CalleeNotFound"
    ADAPTER_NOT_AVAILABLE = "AdapterNotAvailable"
    INVALID_REQUEST = "InvalidRequest"
    OPERATION_NOT_ALLOWED = "OperationNotAllowed"
    CERTIFICATE_NOT_FOUND = "CertificateNotFound"
    CERTIFICATE_NOT_VALID = "CertificateNotValid"
    INVALID_TOKEN = "InvalidTokenId"
    UNKNOWN_POSITION = "UnknownPosition"
    SIGNATURE_REJECTED = "SignatureRejected"
    CONFIRMATION_REJECTED = "ConfirmationRejected"

    @property
    def side(self) -> str:
        """``Server`` when trying again later can help, else ``Client``: the caller must change something."""
        return "Server" if self is FaultCode.ADAPTER_NOT_AVAILABLE else "Client"


class EpixFault(Exception):
    """A fault this service responds with: its code and a reason for the caller's operators."""

    def __init__(self, code: FaultCode, reason: str) -> None:
        super().__init__(f"{code.value}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class ReadFault:
    """A SOAP fault read from a response: the EPIX code found in it, and its parts as sent."""

    code: str
    side: str
    """``Server``, ``Client`` or another faultcode, without prefix and refinement."""
    faultcode: str
    faultstring: str


def qualified(name: str, namespace: str = SERVICE_NAMESPACE) -> str:
    return f"{{{namespace}}}{name}"


def new_envelope() -> tuple[etree._Element, etree._Element]:
    """Return a new SOAP 1.1 envelope and its Body."""
    envelope = etree.Element(qualified("Envelope", SOAP_NAMESPACE),
                             nsmap={"soapenv": SOAP_NAMESPACE, "v2": SERVICE_NAMESPACE})
    etree.SubElement(envelope, qualified("Header", SOAP_NAMESPACE))
    body = etree.SubElement(envelope, qualified("Body", SOAP_NAMESPACE))
    return envelope, body


def serialize(envelope: etree._Element) -> bytes:
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def add_leaf(parent: etree._Element, name: str, text: str) -> etree._Element:
    """Append an unqualified child element, as the service's schema has them."""
    leaf = etree.SubElement(parent, name)
    leaf.text = text
    return leaf


def fault_envelope(fault: EpixFault) -> bytes:
    """Return the SOAP 1.1 fault envelope of ``fault``."""
    envelope, body = new_envelope()
    element = etree.SubElement(body, qualified("Fault", SOAP_NAMESPACE))
    add_leaf(element, "faultcode", f"soapenv:{fault.code.side}.{fault.code.value}")
    add_leaf(element, "faultstring", f"{fault.code.value}: {fault.reason}")
    detail = etree.SubElement(element, "detail")
    cites_fault = etree.SubElement(detail, qualified("CitesFault"))
    add_leaf(cites_fault, "Code", fault.code.value)
    add_leaf(cites_fault, "Reason", fault.reason)
    return serialize(envelope)


def body_element(root: etree._Element) -> etree._Element:
    """Return the first element of the SOAP 1.1 Body of ``root``; InvalidMessage when there is none."""
    if root.tag != qualified("Envelope", SOAP_NAMESPACE):
        raise InvalidMessage(f"root element {etree.QName(root).text} is not a SOAP 1.1 Envelope; expected "
                             f"{{{SOAP_NAMESPACE}}}Envelope")
    body = root.find(qualified("Body", SOAP_NAMESPACE))
    children = [] if body is None else [child for child in body if isinstance(child.tag, str)]
    if not children:
        raise InvalidMessage("SOAP envelope has no Body or an empty Body; expected one operation element in it")
    return children[0]


def header_element(root: etree._Element, name: str) -> etree._Element | None:
    """Return our SOAP header ``name`` (in the service namespace), or None."""
    header = root.find(qualified("Header", SOAP_NAMESPACE))
    return None if header is None else header.find(qualified(name))


def child_text(parent: etree._Element, name: str) -> str | None:
    """Return the stripped text of ``parent``'s child ``name``, unqualified or in the service namespace."""
    for child in parent:
        if isinstance(child.tag, str) and safexml.localname(child) == name \
                and safexml.namespace(child) in (None, SERVICE_NAMESPACE):
            return (child.text or "").strip()
    return None


def is_fault(element: etree._Element) -> bool:
    return element.tag == qualified("Fault", SOAP_NAMESPACE)


def read_fault(fault: etree._Element) -> ReadFault:
    """Return the EPIX code of a SOAP 1.1 Fault element and its parts, shortened to one line each."""
    faultcode = _one_line(fault.findtext("faultcode") or "")
    faultstring = _one_line(fault.findtext("faultstring") or "")
    detail_code = fault.findtext(f"detail/{qualified('CitesFault')}/Code")

    local = faultcode.rpartition(":")[2]
    side, _, refinement = local.partition(".")
    leading_word = faultstring.partition(":")[0].strip()
    if detail_code:
        code = detail_code.strip()
    elif refinement:
        code = refinement
    elif leading_word.isalpha():
        code = leading_word
    else:
        code = side or "Server"
    return ReadFault(code=code, side=side or "Server", faultcode=faultcode, faultstring=faultstring)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:MAX_FAULT_TEXT]


def standalone(element: etree._Element) -> bytes:
    """Return ``element`` as a document of its own, without the namespace declarations it does not use.

    Exclusive canonicalisation, which the hub's signatures use, drops unused declarations too,
    so a signed document still verifies.
    """
    document = copy.deepcopy(element)
    document.tail = None
    etree.cleanup_namespaces(document)
    return etree.tostring(document, xml_declaration=True, encoding="UTF-8")


@functools.cache
def wsdl_schema() -> etree.XMLSchema:
    """Compile the XML schema embedded in the service's WSDL, once per process, with its local imports."""
    location = schemas.path(WSDL_FILE)
    wsdl = safexml.parse(location.read_bytes())
    schema = copy.deepcopy(wsdl.find("wsdl:types/xs:schema", _WSDL_NAMESPACES))
    # The URL lets libxml2 resolve the import of the CITESEPermit schema against the folder beside it.
    schema.getroottree().docinfo.URL = location.as_uri()
    with safexml.COMPILE_LOCK:
        return etree.XMLSchema(schema)


def schema_errors(element: etree._Element) -> list[str]:
    """Return the errors of ``element`` against the WSDL's schema, each with its line; empty when it is valid."""
    document = etree.ElementTree(copy.deepcopy(element))
    schema = wsdl_schema()
    with _SCHEMA_LOCK:
        if schema.validate(document):
            return []
        return [f"line {entry.line}: {entry.message}" for entry in schema.error_log]
