"""Loopback stand-ins for EPIX: the conduit between Parties, and a partner Party's national service.

:class:`EpixConduit` behaves as EPIX Connect does. It takes the calling Party from the ``C=``
of the caller's TLS client certificate. It checks that the caller is a registered Management
Authority, that the Party named by ``IsoCountryCode`` has a service, and that the caller may
call it. Then it forwards the request to that service with its own client certificate and the
caller's subject in ``X-SSL-CLIENT-S-DN``, and passes the response back unchanged. Its own faults
are written as EPIX Connect writes them: faultcode ``soap:Server`` and the bare code
(``CertificateMissing``, ``CallerNotFound``, ``CalleeNotFound``, ``AdapterNotAvailable``) as the
faultstring.

:class:`PartnerService` is a minimal national service of another Party: the service of
``adapters.epix.service`` serving permits kept in memory, with faults to inject (a delay,
an HTTP error, a raw response).

Both serve over mutual TLS on 127.0.0.1 with certificates of the tests' own CA
(``adapters.epix.certificates``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response
from lxml import etree

from adapters.epix.access import AccessList
from adapters.epix.service import (
    SERVICE_PATH,
    ConfirmationResult,
    StoredCertificate,
    create_app,
    is_signed,
    read_permit_document,
    unqualified_permit,
)
from adapters.epix.soap import (
    CONTENT_TYPE,
    SOAP_NAMESPACE,
    EpixFault,
    FaultCode,
    Operation,
    body_element,
    child_text,
    new_envelope,
    qualified,
    serialize,
)
from adapters.epix.tls import DEFAULT_SUBJECT_HEADER, SubjectHeader, TlsServer, caller_subject, client_ssl_context, serve_tls
from hub import safexml
from hub.errors import InvalidMessage
from hub.permit import Permit

log = logging.getLogger(__name__)

CONDUIT_PATH = "/api/v1/soap_api"
MAX_REQUEST_BYTES = 1024 * 1024
# Order of the attributes in the one-line distinguished name the conduit forwards.
_DN_ORDER = ("C", "ST", "L", "O", "OU", "CN")


@dataclass(frozen=True)
class ConduitCall:
    """One request the conduit handled: the caller, the callee, the operation and the response status."""

    caller: str | None
    callee: str | None
    operation: str | None
    status: int
    fault: str | None = None


@dataclass
class _Member:
    url: str | None
    callers: frozenset[str] | None


class EpixConduit:
    """EPIX Connect on 127.0.0.1; see the module docstring.

    ``cert`` and ``key`` are the conduit's server certificate, ``ca`` the CA of every certificate
    it accepts or checks, and ``client_cert`` and ``client_key`` the certificate it presents to
    the national services.
    """

    def __init__(self, *, cert: Path, key: Path, ca: Path, client_cert: Path, client_key: Path,
                 timeout_seconds: float = 5.0) -> None:
        self._tls = (cert, key, ca)
        self._client_context = client_ssl_context(ca, client_cert, client_key)
        self.timeout_seconds = timeout_seconds
        self._members: dict[str, _Member] = {}
        self._calls: list[ConduitCall] = []
        self._lock = threading.Lock()
        self._server: TlsServer | None = None

    def register(self, party: str, url: str | None = None, *, callers: Iterable[str] | None = None) -> None:
        """Register ``party``'s Management Authority; ``url`` is its national service, ``callers`` who may call it.

        A Party without ``url`` may call but has no service to be called. ``callers`` None grants
        every registered Party access (EPIX Connect's blanket permission).
        """
        with self._lock:
            self._members[party] = _Member(url, None if callers is None else frozenset(callers))

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("EPIX conduit is not running; call start() first")
        return self._server.url + CONDUIT_PATH

    def start(self) -> str:
        cert, key, ca = self._tls
        self._server = serve_tls(self._app(), "127.0.0.1", 0, cert=cert, key=key, ca=ca, name="epix-conduit")
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> "EpixConduit":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def calls(self) -> list[ConduitCall]:
        with self._lock:
            return list(self._calls)

    def _app(self) -> FastAPI:
        app = FastAPI(title="EPIX conduit simulator", docs_url=None, redoc_url=None, openapi_url=None)

        @app.post(CONDUIT_PATH)
        async def soap_api(request: Request) -> Response:
            body = await request.body()
            if len(body) > MAX_REQUEST_BYTES:
                return _epix_fault(FaultCode.INVALID_REQUEST)
            return await self._forward(request, body)

        return app

    async def _forward(self, request: Request, body: bytes) -> Response:
        subject = caller_subject(request) or {}
        caller = subject.get("C")
        try:
            operation, callee = _operation_and_callee(body)
            member = self._check(caller, callee)
        except EpixFault as fault:
            log.info("EPIX conduit: call from %s: fault %s: %s", caller or "-", fault.code.value, fault.reason)
            self._record(ConduitCall(caller, None, None, 500, fault.code.value))
            return _epix_fault(fault.code)

        try:
            response = await self._post(member.url or "", request, body, subject)
        except httpx.HTTPError as error:
            log.info("EPIX conduit: call from %s: the national service of %s failed: %s", caller, callee, error)
            self._record(ConduitCall(caller, callee, operation, 500, FaultCode.ADAPTER_NOT_AVAILABLE.value))
            return _epix_fault(FaultCode.ADAPTER_NOT_AVAILABLE)
        self._record(ConduitCall(caller, callee, operation, response.status_code))
        return Response(content=response.content, status_code=response.status_code,
                        media_type=response.headers.get("content-type", CONTENT_TYPE))

    def _check(self, caller: str | None, callee: str | None) -> _Member:
        with self._lock:
            members = dict(self._members)
        if not caller:
            raise EpixFault(FaultCode.CERTIFICATE_MISSING, "no C= in the client certificate")
        if caller not in members:
            raise EpixFault(FaultCode.CALLER_NOT_FOUND, f"{caller} is not a registered Management Authority")
        member = members.get(callee or "")
        if member is None or member.url is None:
            raise EpixFault(FaultCode.CALLEE_NOT_FOUND, f"{callee} has no available service")
        if member.callers is not None and caller not in member.callers and caller != callee:
            raise EpixFault(FaultCode.ADAPTER_NOT_AVAILABLE, f"{caller} has no access to the service of {callee}")
        return member

    async def _post(self, url: str, request: Request, body: bytes, subject: dict[str, str]) -> httpx.Response:
        headers = {"Content-Type": CONTENT_TYPE, DEFAULT_SUBJECT_HEADER: one_line_dn(subject)}
        action = request.headers.get("SOAPAction")
        if action:
            headers["SOAPAction"] = action
        async with httpx.AsyncClient(verify=self._client_context, timeout=self.timeout_seconds) as client:
            return await client.post(url, content=body, headers=headers)

    def _record(self, call: ConduitCall) -> None:
        with self._lock:
            self._calls.append(call)


def _operation_and_callee(body: bytes) -> tuple[str, str | None]:
    try:
        element = body_element(safexml.parse(body))
    except InvalidMessage as error:
        raise EpixFault(FaultCode.INVALID_REQUEST, str(error)) from error
    operation = Operation.from_element(safexml.localname(element))
    return operation.value, child_text(element, "IsoCountryCode")


def _epix_fault(code: FaultCode) -> Response:
    """Return a fault as EPIX Connect writes it: soap:Server, and the bare code as the faultstring."""
    envelope, body = new_envelope()
    fault = etree.SubElement(body, qualified("Fault", SOAP_NAMESPACE))
    etree.SubElement(fault, "faultcode").text = "soapenv:Server"
    etree.SubElement(fault, "faultstring").text = code.value
    return Response(content=serialize(envelope), status_code=500, media_type=CONTENT_TYPE)


def one_line_dn(subject: dict[str, str]) -> str:
    """Write a subject as OpenSSL's one-line form, e.g. ``/C=XB/O=MA/CN=Management Authority``."""
    return "".join(f"/{name}={subject[name]}" for name in _DN_ORDER if name in subject)


# -- a partner Party's national service ---------------------------------------------------------------


@dataclass
class MemoryPermitStore:
    """Permits of one Party kept in memory, for :class:`PartnerService`; confirmations are kept in a list."""

    party: str
    sign: Callable[[bytes], bytes] | None = None
    """Signs an outgoing permit document; None serves permits unsigned."""
    up: bool = True
    confirmations: list[tuple[str, bytes]] = field(default_factory=list)
    _issued: dict[str, tuple[bytes, Permit]] = field(default_factory=dict)
    _final: dict[str, tuple[bytes, Permit]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, document: bytes, *, final: bool = False) -> Permit:
        """Keep a permit document (CITESEPermit or CBFShip) as issued, or as its final certificate."""
        permit = read_permit_document(document)
        with self._lock:
            (self._final if final else self._issued)[permit.number] = (document, permit)
        return permit

    def certificate(self, number: str, *, final: bool) -> StoredCertificate:
        with self._lock:
            found = (self._final if final else self._issued).get(number)
            known = number in self._issued or number in self._final
        if found is None and final and known:
            raise EpixFault(FaultCode.CERTIFICATE_MISSING, f"permit {self.party}/{number} has no final certificate yet")
        if found is None:
            raise EpixFault(FaultCode.CERTIFICATE_NOT_FOUND, f"permit {self.party}/{number} is not known here")
        return StoredCertificate(found[0], found[1])

    def outgoing(self, stored: StoredCertificate, partner: str) -> bytes:
        if is_signed(stored.document):
            return stored.document
        document = unqualified_permit(stored.document, stored.permit)
        return self.sign(document) if self.sign else document

    def requires_signature(self, partner: str) -> bool:
        return False

    def check_signature(self, partner: str, document: bytes) -> None:
        """This simulator requires no signature and checks none."""

    def confirm(self, document: bytes, partner: str, *, message_id: str | None,
                correlation_id: str | None) -> ConfirmationResult:
        with self._lock:
            self.confirmations.append((partner, document))
        return ConfirmationResult(status="accepted", message_id=message_id or str(uuid.uuid4()))

    def available(self) -> bool:
        return self.up


@dataclass(frozen=True)
class _Injected:
    status: int
    body: bytes
    content_type: str


class PartnerService:
    """A partner Party's national service on 127.0.0.1 over mutual TLS, serving the permits of :attr:`store`.

    ``access`` defaults to every operation for every caller. ``subject_header`` enables the
    caller's subject from a proxy, such as :class:`EpixConduit`, whose certificate CN it lists.
    """

    def __init__(self, party: str, *, cert: Path, key: Path, ca: Path, access: AccessList | None = None,
                 subject_header: SubjectHeader | None = None) -> None:
        self.store = MemoryPermitStore(party)
        self.access = access or AccessList([], blanket=list(Operation), default_partner=f"party-{party.lower()}")
        self.subject_header = subject_header
        self.delay_seconds = 0.0
        self._tls = (cert, key, ca)
        self._injected: list[_Injected] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: TlsServer | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"partner service {self.store.party} is not running; call start() first")
        return self._server.url + SERVICE_PATH

    def start(self) -> str:
        cert, key, ca = self._tls
        self._stopping.clear()
        app = _FaultInjection(create_app(self.store, self.access, subject_header=self.subject_header), self)
        self._server = serve_tls(app, "127.0.0.1", 0, cert=cert, key=key, ca=ca,
                                 name=f"partner-service-{self.store.party}")
        return self.url

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> "PartnerService":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def fail_next(self, count: int = 1, status: int = 503, body: bytes = b"") -> None:
        """Respond to the next ``count`` requests with ``status`` and ``body`` instead of handling them."""
        self.respond_next(body, status=status, count=count, content_type="text/plain")

    def respond_next(self, body: bytes, *, status: int = 200, count: int = 1, content_type: str = CONTENT_TYPE) -> None:
        """Respond to the next ``count`` requests with these raw bytes, e.g. a recorded response or a broken one."""
        with self._lock:
            self._injected.extend([_Injected(status, body, content_type)] * count)

    def _next_injected(self) -> _Injected | None:
        with self._lock:
            return self._injected.pop(0) if self._injected else None

    async def _wait_delay(self) -> None:
        waited = 0.0
        while waited < self.delay_seconds and not self._stopping.is_set():
            await asyncio.sleep(0.02)
            waited += 0.02


class _FaultInjection:
    """ASGI middleware applying :class:`PartnerService`'s delay and injected responses."""

    def __init__(self, app: Any, service: PartnerService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.service._wait_delay()
        injected = self.service._next_injected()
        if injected is None:
            await self.app(scope, receive, send)
            return
        response = Response(content=injected.body, status_code=injected.status, media_type=injected.content_type)
        await response(scope, receive, send)
