"""The EPIX adapter: other Parties' permits fetched and their inspected quantities confirmed, over EPIX Connect.

Outbound message types:

- ``permit.requested``, payload a :class:`~adapters.epix.documents.CertificateRequest`: the adapter
  calls GetNonFinalCitesCertificate (or GetFinalCitesCertificate when the request sets ``final``)
  at the issuing Party, then hands the permit it received to the hub's ingress through
  ``AdapterContext.submit``: as ``permit.issued``, or ``permit.endorsed`` for a final certificate,
  sent by the partner that ``party_partners`` names for that Party (default: this partner). The
  ingress verifies the permit's signature when that partner's profile sets ``verify_inbound``,
  validates it and routes it, so a fetched permit is treated like any permit a partner sends.
  The receipt's reference is the id of the journaled permit message.
- ``permit.quantities_confirmed``, payload a :class:`~adapters.epix.documents.QuantitiesConfirmation`:
  the adapter calls ConfirmQuantities at the issuing Party.

When the hub signed the payload (``sign_outbound`` in this partner's profile), the signed
document travels in the ``SignedDocument`` SOAP header. The SOAP ``MessageId`` header is derived
from the delivery's idempotency key, so a retried confirmation is recorded once by a hub
that keeps message ids.

With the ``serve`` option the adapter also serves our national service
(``adapters.epix.service``) on its own TLS port; the hub starts it with :meth:`EpixAdapter.start_service`.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adapters.base import Adapter, AdapterContext, AdapterOptions, DeliveryJob, Direction, Outbound, Receipt
from adapters.epix import documents
from adapters.epix.access import AccessConfig, AccessList
from adapters.epix.client import EpixClient, RequestHeaders, TlsIdentity
from adapters.epix.tls import DEFAULT_SUBJECT_HEADER, SubjectHeader, TlsServer, serve_tls
from hub import safexml
from hub.envelope import MessageType
from hub.errors import ConfigError, InvalidMessage, PermanentDeliveryError
from signing.signer import DS_SIGNATURE

if TYPE_CHECKING:
    from hub.runtime import Hub

ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
FORMAT = "CitesDataExchange:2"
# Namespace of the SOAP MessageId values derived from idempotency keys.
MESSAGE_ID_NAMESPACE = uuid.UUID("6f1c3a52-8a55-4f8e-9c0e-2d6f3a9b7e41")


class ServeOptions(BaseModel):
    """The ``serve`` option: the address, certificates and access list of our national service."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8443, ge=0, le=65535, description="TCP port; 0 takes a free one")
    cert: Path = Field(description="our server certificate, PEM")
    key: Path = Field(description="its private key, PEM")
    key_password_env: str | None = Field(default=None, pattern=ENV_NAME_PATTERN,
                                         description="environment variable holding the key's password")
    ca: Path = Field(description="CA certificates that issue the callers' client certificates, PEM")
    subject_header: str | None = Field(default=None, description=f"e.g. {DEFAULT_SUBJECT_HEADER}: read the "
                                                                  "caller's subject from this header of a proxy")
    proxy_common_names: list[str] = Field(default_factory=list,
                                          description="CN of the proxy certificates allowed to set subject_header")
    access: AccessConfig = Field(default_factory=AccessConfig)


class EpixOptions(AdapterOptions):
    """Options of the EPIX adapter; ``url``, ``cert``, ``key`` and ``ca`` go together."""

    url: str | None = Field(default=None, description="https:// URL of EPIX Connect or of a Party's service")
    cert: Path | None = Field(default=None, description="our TLS client certificate, PEM")
    key: Path | None = Field(default=None, description="its private key, PEM")
    key_password_env: str | None = Field(default=None, pattern=ENV_NAME_PATTERN,
                                         description="environment variable holding the key's password")
    ca: Path | None = Field(default=None, description="CA certificates that issue the server's certificate, PEM")
    timeout_seconds: float = Field(default=10.0, gt=0, le=300, description="limit of one call, in seconds")
    party_partners: dict[str, str] = Field(default_factory=dict,
                                           description="ISO code of a Party → partner that sends its fetched permits")
    serve: ServeOptions | None = None

    @model_validator(mode="after")
    def _client_options_together(self) -> "EpixOptions":
        given = {name: getattr(self, name) is not None for name in ("url", "cert", "key", "ca")}
        if any(given.values()) and not all(given.values()):
            missing = ", ".join(name for name, present in given.items() if not present)
            raise ValueError(f"url, cert, key and ca go together; missing: {missing}")
        if self.url is not None and not self.url.startswith("https://"):
            raise ValueError(f"url '{self.url}' is not an https:// URL; EPIX requires TLS with client certificates")
        return self


class EpixAdapter(Adapter):
    name = "epix"
    description = ("Fetches other Parties' permits and confirms inspected quantities over EPIX (SOAP, TLS client "
                   "certificates); serves our national CITES service.")
    directions = frozenset({Direction.INBOUND, Direction.OUTBOUND})
    message_types = frozenset({MessageType.PERMIT_REQUESTED, MessageType.PERMIT_QUANTITIES_CONFIRMED})
    formats = (FORMAT,)
    signs = True
    options_model = EpixOptions

    def __init__(self, partner: str, options: dict[str, Any] | None = None, context: AdapterContext | None = None):
        super().__init__(partner, options, context)
        self._client: EpixClient | None = None
        self._server: TlsServer | None = None
        if self.options.url is not None:
            identity = TlsIdentity(cert=self.options.cert, key=self.options.key, ca=self.options.ca,
                                   key_password=_password(self.options.key_password_env, partner))
            self._client = EpixClient(self.options.url, identity, timeout_seconds=self.options.timeout_seconds,
                                      system=f"EPIX partner '{partner}'")

    def map_out(self, job: DeliveryJob) -> Outbound:
        """Check that the payload is the request document of its message type, then send it unchanged."""
        try:
            _read_document(job.envelope.message_type, job.payload)
        except InvalidMessage as error:
            raise PermanentDeliveryError(f"delivery {job.delivery_id}: {job.envelope.message_type.value} payload "
                                         f"is not a valid request document: {error}") from error
        return Outbound(body=job.payload, content_type="application/xml")

    def send(self, outbound: Outbound, job: DeliveryJob) -> Receipt:
        client = self._require_client(job)
        signed = safexml.parse(outbound.body).find(DS_SIGNATURE) is not None
        headers = RequestHeaders(message_id=str(uuid.uuid5(MESSAGE_ID_NAMESPACE, job.idempotency_key)),
                                 correlation_id=job.envelope.correlation_id,
                                 signed_document=outbound.body if signed else None)
        document = _read_document(job.envelope.message_type, outbound.body)
        if isinstance(document, documents.CertificateRequest):
            return self._fetch(client, document, headers, job)
        receipt = client.confirm_quantities(document, headers=headers)
        return Receipt(reference=receipt.message_id, warnings=receipt.warnings,
                       detail=f"ConfirmQuantities: {receipt.status}")

    def _fetch(self, client: EpixClient, request: documents.CertificateRequest, headers: RequestHeaders,
               job: DeliveryJob) -> Receipt:
        submit = self.context.submit
        if submit is None:
            raise PermanentDeliveryError(f"delivery {job.delivery_id}: the hub gives adapter {self.name} no submit "
                                         "callback, so a fetched permit cannot be handed to the ingress")
        fetched = client.get_certificate(request.permit, final=request.final, headers=headers)

        message_type = MessageType.PERMIT_ENDORSED if request.final else MessageType.PERMIT_ISSUED
        sender = self.options.party_partners.get(request.permit.party, self.partner)
        result = submit(fetched.document, message_type.value, sender, message_id=headers.message_id,
                        correlation_id=job.envelope.correlation_id)
        if not result.accepted:
            errors = "; ".join(f"{f['path']}: {f['message']}" for f in result.findings if f["severity"] == "error")
            raise PermanentDeliveryError(f"permit {request.permit.key} fetched from {request.permit.party} was "
                                         f"rejected by the hub (message {result.message_id}): {errors[:500]}")
        warnings = tuple(f["message"] for f in result.findings if f["severity"] == "warning")
        return Receipt(reference=result.message_id, warnings=warnings,
                       detail=f"fetched v{fetched.version}; journaled as {message_type.value} from {sender}")

    def _require_client(self, job: DeliveryJob) -> EpixClient:
        if self._client is None:
            raise PermanentDeliveryError(f"delivery {job.delivery_id}: partner '{self.partner}' has no url, so "
                                         "adapter epix cannot send; set url, cert, key and ca in its options")
        return self._client

    def start_service(self, hub: "Hub") -> TlsServer | None:
        """Serve our national service from ``hub``'s journal when the ``serve`` option is set; return the server."""
        serve = self.options.serve
        if serve is None or self._server is not None:
            return self._server
        from adapters.epix.service import create_service

        access = AccessList.from_config(serve.access, default_partner=self.partner)
        header = None
        if serve.subject_header:
            header = SubjectHeader(serve.subject_header, frozenset(serve.proxy_common_names))
        self._server = serve_tls(create_service(hub, access, subject_header=header), serve.host, serve.port,
                                 cert=serve.cert, key=serve.key, ca=serve.ca,
                                 key_password=_password(serve.key_password_env, self.partner),
                                 name=f"epix-service-{self.partner}")
        return self._server

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._server is not None:
            self._server.stop()
            self._server = None


def ingress_submit(hub: "Hub") -> Callable[..., Any]:
    """Return the ``AdapterContext.submit`` callback that hands payloads to ``hub``'s ingress."""

    def submit(payload: bytes, message_type: str, sender: str, *, message_id: str | None = None,
               correlation_id: str | None = None) -> Any:
        return hub.ingress.receive(payload, message_type=message_type, sender=sender, channel="adapter",
                                   message_id=message_id, correlation_id=correlation_id)

    return submit


def _read_document(message_type: MessageType, payload: bytes) -> documents.CertificateRequest | documents.QuantitiesConfirmation:
    if message_type is MessageType.PERMIT_REQUESTED:
        return documents.read_certificate_request(payload)
    if message_type is MessageType.PERMIT_QUANTITIES_CONFIRMED:
        return documents.read_quantities_confirmation(payload)
    raise InvalidMessage(f"message type '{message_type.value}' is not sent through adapter epix; expected "
                         "permit.requested or permit.quantities_confirmed")


def _password(variable: str | None, partner: str) -> str | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        raise ConfigError(f"partner '{partner}' (adapter epix): environment variable {variable} named by "
                          "key_password_env is not set or empty; expected the key's password in it")
    return value
