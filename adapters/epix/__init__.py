"""The EPIX adapter: the hub as a national CITES data-exchange service and as its client, over EPIX Connect.

EPIX Connect links the national CITES systems of the Parties. Each Party runs a SOAP 1.1
service (``schemas/epix/CitesDataExchange_2.wsdl``: GetNonFinalCitesCertificate,
GetFinalCitesCertificate, ConfirmQuantities, ServiceState); EPIX authenticates the calling
Party by its TLS client certificate, checks its access list, and forwards the call to the
service of the Party named by ``IsoCountryCode``.

Parts:
    ``adapter``       :class:`EpixAdapter`: sends ``permit.requested`` (fetch a permit, then hand it to
                      the ingress) and ``permit.quantities_confirmed`` (ConfirmQuantities)
    ``client``        :class:`EpixClient`: zeep over mutual TLS, WSDL from the local file only
    ``service``       :func:`create_service`: our national service, serving permits from the journal
    ``access``        :class:`AccessList`: which calling Parties may call which operations
    ``tls``           :func:`serve_tls`: uvicorn requiring client certificates; the caller's country
    ``documents``     the request and confirmation documents that the hub's messages carry
    ``simulator``     :class:`EpixConduit` and :class:`PartnerService` on 127.0.0.1, for tests
    ``certificates``  :class:`CertificateAuthority`: a test CA and C=XX client certificates

Options of a partner with ``adapter: epix``:
    ``url``, ``cert``, ``key``, ``ca``  EPIX Connect's (or a Party's) https:// URL, our client certificate
                                        and key (PEM), and the CA of the server's certificate; all four or none
    ``key_password_env``                environment variable holding the key's password
    ``timeout_seconds``                 limit of one call, connection and whole response (default 10)
    ``party_partners``                  ISO code → partner that sends the permits fetched from that Party
                                        (default: this partner); its profile holds that Party's trust
    ``serve``                           serve our national service: ``host``, ``port``, ``cert``, ``key``,
                                        ``ca``, ``access`` (``callers: {XB: {operations: [...], partner: ...}}``,
                                        ``blanket: [...]``), and ``subject_header`` with
                                        ``proxy_common_names`` behind a TLS-terminating proxy
"""

from adapters.epix.access import AccessList, CallerRule
from adapters.epix.adapter import EpixAdapter, EpixOptions, ingress_submit
from adapters.epix.client import EpixClient, FetchedCertificate, MalformedResponse, PartnerFault, TlsIdentity
from adapters.epix.documents import CertificateRequest, PermitReference, Position, QuantitiesConfirmation
from adapters.epix.service import SERVICE_PATH, create_service
from adapters.epix.soap import FaultCode, Operation
from adapters.epix.tls import SubjectHeader, TlsServer, serve_tls

__all__ = sorted(
    [
        "AccessList",
        "CallerRule",
        "CertificateRequest",
        "EpixAdapter",
        "EpixClient",
        "EpixOptions",
        "FaultCode",
        "FetchedCertificate",
        "MalformedResponse",
        "Operation",
        "PartnerFault",
        "PermitReference",
        "Position",
        "QuantitiesConfirmation",
        "SERVICE_PATH",
        "SubjectHeader",
        "TlsIdentity",
        "TlsServer",
        "create_service",
        "ingress_submit",
        "serve_tls",
    ]
)
