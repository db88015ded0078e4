"""Mutual TLS of the EPIX service: who gets through the handshake, and which Party the caller is."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest
from fastapi import FastAPI, Request

from adapters.epix import SubjectHeader, serve_tls
from adapters.epix.certificates import CONDUIT_COMMON_NAME, loopback_certificates
from adapters.epix.tls import caller_country, client_ssl_context, parse_distinguished_name


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return loopback_certificates(tmp_path_factory.mktemp("tls"), parties=("XB", "XC"))


def whoami_app(subject_header: SubjectHeader | None = None) -> FastAPI:
    app = FastAPI()

    @app.get("/whoami")
    def whoami(request: Request) -> dict:
        return {"country": caller_country(request, subject_header)}

    return app


@pytest.fixture
def server(tls):
    running = serve_tls(whoami_app(), "127.0.0.1", 0, cert=tls.server.cert, key=tls.server.key, ca=tls.ca)
    yield running
    running.stop()


def whoami(tls, server, certificate=None, headers=None) -> httpx.Response:
    context = client_ssl_context(tls.ca, certificate.cert, certificate.key) if certificate else client_ssl_context(tls.ca)
    return httpx.get(server.url + "/whoami", verify=context, headers=headers, timeout=5)


def test_country_is_taken_from_the_certificate_subject(tls, server):
    response = whoami(tls, server, tls.parties["XB"])

    assert response.json() == {"country": "XB"}


def test_caller_without_certificate_fails_handshake(tls, server):
    context = client_ssl_context(tls.ca)
    context.maximum_version = ssl.TLSVersion.TLSv1_2

    with socket.create_connection((server.host, server.port), timeout=5) as raw:
        with pytest.raises(ssl.SSLError):
            context.wrap_socket(raw, server_hostname="127.0.0.1")


def test_caller_without_certificate_gets_no_response(tls, server):
    # Over TLS 1.3 the client completes its side of the handshake before the server rejects the
    # missing certificate, so the failure shows on the first read instead.
    with pytest.raises(httpx.HTTPError):
        whoami(tls, server)


def test_certificate_from_another_ca_is_rejected(tls, server, tmp_path):
    other = loopback_certificates(tmp_path / "other", parties=("XB",))

    with pytest.raises(httpx.HTTPError):
        whoami(tls, server, other.parties["XB"])


def test_certificate_without_country_names_no_party(tls, server):
    response = whoami(tls, server, tls.conduit)

    assert response.json() == {"country": None}


def test_subject_header_is_ignored_unless_enabled(tls, server):
    response = whoami(tls, server, tls.parties["XB"], headers={"X-SSL-CLIENT-S-DN": "/C=XC/CN=Someone"})

    assert response.json() == {"country": "XB"}


def test_subject_header_is_read_from_the_proxy_only(tls):
    header = SubjectHeader(proxy_common_names=frozenset({CONDUIT_COMMON_NAME}))
    running = serve_tls(whoami_app(header), "127.0.0.1", 0, cert=tls.server.cert, key=tls.server.key, ca=tls.ca)
    spoofed = {"X-SSL-CLIENT-S-DN": "/C=XC/CN=Someone"}

    from_proxy = whoami(tls, running, tls.conduit, headers=spoofed)
    from_party = whoami(tls, running, tls.parties["XB"], headers=spoofed)
    running.stop()

    assert from_proxy.json() == {"country": "XC"}
    assert from_party.json() == {"country": "XB"}


@pytest.mark.parametrize("text, expected", [
    ("/C=XB/O=Ministry/CN=Management Authority", {"C": "XB", "O": "Ministry", "CN": "Management Authority"}),
    ("CN=Management Authority,O=Ministry\\, Environment,C=XB", {"CN": "Management Authority",
                                                              "O": "Ministry, Environment", "C": "XB"}),
    ("", {}),
])
def test_distinguished_name_forms_are_parsed(text, expected):
    assert parse_distinguished_name(text) == expected


def test_stopped_server_frees_its_port(tls):
    running = serve_tls(whoami_app(), "127.0.0.1", 0, cert=tls.server.cert, key=tls.server.key, ca=tls.ca)
    whoami(tls, running, tls.parties["XB"])

    running.stop()

    with pytest.raises(OSError):
        socket.create_connection((running.host, running.port), timeout=1).close()
