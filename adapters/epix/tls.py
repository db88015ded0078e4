"""Mutual TLS for the EPIX service: a uvicorn server that requires client certificates, and the caller's identity.

:func:`serve_tls` serves an ASGI application over TLS 1.2 or newer and completes no handshake
without a client certificate issued by the configured CA. The verified certificate's subject is
put in each request's ``state`` (uvicorn copies its server state into every request scope), and
:func:`caller_country` reads the calling Party from its ``C=`` attribute.

Behind a TLS-terminating proxy, such as EPIX Connect's web server, the proxy passes the caller's
subject in a header (``X-SSL-CLIENT-S-DN``). That header is read only when a
:class:`SubjectHeader` is configured, and, when the connection itself carries a client
certificate, only if that certificate's common name is one of the proxy's. Otherwise anybody
could name any country in a header.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.requests import Request
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

CLIENT_SUBJECT_STATE = "cites_hub_tls_client_subject"
DEFAULT_SUBJECT_HEADER = "X-SSL-CLIENT-S-DN"
START_TIMEOUT_SECONDS = 10.0

# Short names of the subject attributes, as they appear in distinguished names.
_ATTRIBUTE_NAMES = {
    "countryName": "C",
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "emailAddress": "emailAddress",
}
_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class SubjectHeader:
    """Read the caller's subject from a header that a trusted TLS-terminating proxy sets.

    ``proxy_common_names`` lists the CN of the proxy's own client certificate. A connection that
    presents another certificate is identified by that certificate, and the header is ignored.
    With no client certificate on the connection (plain HTTP behind the proxy), the header is
    always read, so such a service must be reachable only through the proxy.
    """

    name: str = DEFAULT_SUBJECT_HEADER
    proxy_common_names: frozenset[str] = field(default_factory=frozenset)


def server_ssl_context(cert: Path, key: Path, ca: Path, *, key_password: str | None = None) -> ssl.SSLContext:
    """Return a server context: TLS 1.2 or newer, client certificate required and verified against ``ca``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key), password=key_password)
    context.load_verify_locations(cafile=str(ca))
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_ssl_context(ca: Path, cert: Path | None = None, key: Path | None = None, *,
                       key_password: str | None = None) -> ssl.SSLContext:
    """Return a client context that verifies the server against ``ca`` and presents ``cert`` when given."""
    context = ssl.create_default_context(cafile=str(ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key else None, password=key_password)
    return context


class ClientCertificateProtocol(H11Protocol):
    """uvicorn's h11 protocol that also puts the verified client certificate's subject in the request state."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        certificate = ssl_object.getpeercert() if ssl_object is not None else None
        # A new dict for this connection: the server's state dict is shared by all connections.
        self.app_state = {**self.app_state, CLIENT_SUBJECT_STATE: subject_of(certificate)}

    def shutdown(self) -> None:
        # An idle TLS connection would wait for the client's close_notify, which an idle client
        # never sends, and hold up the server's stop until the graceful timeout.
        idle = self.cycle is None or self.cycle.response_complete
        super().shutdown()
        if idle:
            self.transport.abort()


def subject_of(certificate: dict[str, Any] | None) -> dict[str, str] | None:
    """Return the subject of a certificate as ``ssl.SSLSocket.getpeercert`` gives it, by short name."""
    if not certificate:
        return None
    subject: dict[str, str] = {}
    for relative_name in certificate.get("subject", ()):
        for attribute, value in relative_name:
            subject[_ATTRIBUTE_NAMES.get(attribute, attribute)] = value
    return subject


def parse_distinguished_name(text: str) -> dict[str, str]:
    """Parse ``/C=XB/O=MA/CN=...`` (OpenSSL one-line form) or ``CN=...,O=MA,C=XB`` (RFC 4514) by short name."""
    text = text.strip()
    parts = text.strip("/").split("/") if text.startswith("/") else re.split(r"(?<!\\),", text)
    subject = {}
    for part in parts:
        name, separator, value = part.partition("=")
        if separator:
            subject[name.strip()] = value.strip().replace("\\,", ",")
    return subject


def client_subject(request: Request) -> dict[str, str] | None:
    """Return the subject of the verified TLS client certificate of ``request``'s connection, or None."""
    return request.scope.get("state", {}).get(CLIENT_SUBJECT_STATE)


def caller_subject(request: Request, subject_header: SubjectHeader | None = None) -> dict[str, str] | None:
    """Return the caller's subject: from the connection's certificate, or from a trusted proxy's header."""
    certificate = client_subject(request)
    if subject_header is None:
        return certificate

    from_proxy = certificate is None or certificate.get("CN") in subject_header.proxy_common_names
    header = request.headers.get(subject_header.name)
    if from_proxy and header:
        return parse_distinguished_name(header)
    return certificate


def caller_country(request: Request, subject_header: SubjectHeader | None = None) -> str | None:
    """Return the calling Party: the ``C=`` of the caller's subject when it is an ISO alpha-2 code, else None."""
    subject = caller_subject(request, subject_header)
    country = (subject or {}).get("C", "")
    return country if _COUNTRY.match(country) else None


class TlsServer:
    """uvicorn serving one application over mutual TLS from a daemon thread; see :func:`serve_tls`."""

    def __init__(self, app: Any, sock: socket.socket, context: ssl.SSLContext, name: str) -> None:
        self.host, self.port = sock.getsockname()[:2]
        self.name = name
        self._socket = sock
        config = uvicorn.Config(app, http=ClientCertificateProtocol, ssl_context_factory=lambda *_: context,
                                log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> "TlsServer":
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self._socket.close()
                raise RuntimeError(f"{self.name} did not start on {self.url} within {timeout:g} s")
            time.sleep(0.01)
        log.info("%s listening on %s", self.name, self.url)
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket; safe to call twice."""
        if not self._thread.is_alive():
            self._socket.close()
            return
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()
        log.info("%s stopped", self.name)

    def __enter__(self) -> "TlsServer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_tls(app: Any, host: str, port: int, *, cert: Path, key: Path, ca: Path,
              key_password: str | None = None, name: str = "epix-service") -> TlsServer:
    """Serve ``app`` on ``host:port`` (0: a free port) over TLS with client certificates; return the running server.

    Clients must present a certificate issued by ``ca``; the server presents ``cert``. Raises
    OSError when the address is in use and ``ssl.SSLError`` when the key does not match.
    """
    context = server_ssl_context(Path(cert), Path(key), Path(ca), key_password=key_password)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return TlsServer(app, sock, context, name).start()
