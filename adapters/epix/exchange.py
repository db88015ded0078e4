"""Two hubs exchanging one permit through an EPIX conduit on loopback: ``cites-hub epix demo``.

Hub A is the exporting Party XA: its permit store issues a permit, its Customs endorses it, and
A serves its national CITES service over mutual TLS. Hub B is the importing Party XB: its permit
store requests the final certificate through the conduit, then confirms the quantities it
inspected. Both Parties sign what they send and verify the other's signature. Each hub keeps its
own journal, so ``cites-hub trace`` shows the permit's timeline on both sides afterwards.

The same configuration builders serve the round-trip test, so the walkthrough and the test
exercise one setup. The certificates come from a test CA made on the spot: never use them for
real exchanges.
"""

from __future__ import annotations

import argparse
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from adapters.epix.certificates import CONDUIT_COMMON_NAME, LoopbackCertificates, loopback_certificates
from adapters.epix.documents import CertificateRequest, PermitReference, Position, QuantitiesConfirmation
from adapters.epix.simulator import EpixConduit
from hub.broker import wait_for
from hub.config import HubConfig, from_dict
from hub.errors import HubError
from hub.permit import Address, Endorsement, Permit, PermitItem, Quantity, Signatory, TradeParty
from hub.runtime import Hub
from mappings import citesepermit
from signing.keys import new_key_pair

log = logging.getLogger(__name__)

NUMBER = "XA2026000001"
TOKEN = "S0042"
PERMIT_TYPES = ["permit.issued", "permit.amended", "permit.cancelled", "permit.replaced"]


@dataclass(frozen=True)
class Material:
    """TLS certificates of the test CA and each Party's XML signing key pair."""

    tls: LoopbackCertificates
    signing: dict[str, tuple[Path, Path]]


def make_material(folder: Path) -> Material:
    return Material(tls=loopback_certificates(folder / "tls", parties=("XA", "XB")),
                    signing={party: new_key_pair(party, folder / f"sign-{party.lower()}") for party in ("XA", "XB")})


def export_permit(**changes: Any) -> Permit:
    """An export permit of XA to XB with one item of 12 crocodile skins, valid six months from now."""
    issued = datetime.now(timezone.utc).replace(microsecond=0)
    authority = TradeParty(name="Management Authority of XA", address=Address(country="XA"))
    values: dict[str, Any] = dict(
        number=NUMBER, type="E", issued_at=issued, valid_until=issued + timedelta(days=180), purpose="T",
        exporter=TradeParty(name="Exporter XA", address=Address(city="Capital", country="XA")),
        importer=TradeParty(name="Importer XB", address=Address(city="Port", country="XB")),
        signatories=[Signatory(role="A", id=TOKEN, party=authority)],
        items=[PermitItem(line_id="A", scientific_name="Crocodylus niloticus", term="SKI", appendix="II",
                          source="C", quantity=Quantity(value=Decimal("12")))],
    )
    values.update(changes)
    return Permit(**values)


def endorsed_permit() -> Permit:
    permit = export_permit()
    item = permit.items[0].model_copy(update={"exported_quantity": Quantity(value=Decimal("12"))})
    endorsement = Endorsement(endorsed_at=permit.issued_at, port="XAPRT", port_name="Port of XA")
    return permit.model_copy(update={"items": [item], "endorsement": endorsement})


def _config(folder: Path, party: str, material: Material, partners: dict, routes: list, *,
            namespace: str | None = None) -> HubConfig:
    key, cert = material.signing[party]
    return from_dict({
        "party": party,
        "data_dir": str(folder),
        "broker": {"url": "memory://", "namespace": namespace or f"{party.lower()}{uuid.uuid4().hex[:8]}"},
        "journal": {"url": f"sqlite:///{folder / 'journal.sqlite3'}"},
        "delivery": {"backoff_initial_seconds": 0.05, "backoff_max_seconds": 0.2, "sweep_interval_seconds": 0.2,
                     "lease_seconds": 5},
        "keys": [{"party": party, "key": str(key), "cert": str(cert)}],
        "partners": partners,
        "routes": routes,
    })


def _client_options(material: Material, party: str, conduit_url: str) -> dict[str, Any]:
    tls = material.tls
    return {"url": conduit_url, "cert": str(tls.parties[party].cert), "key": str(tls.parties[party].key),
            "ca": str(tls.ca), "timeout_seconds": 5}


def exporting_config(folder: Path, material: Material, conduit_url: str) -> HubConfig:
    """Hub A (XA): serves its national service to XB through the conduit; XB's confirmations go to its inbox."""
    tls = material.tls
    serve = {"port": 0, "cert": str(tls.server.cert), "key": str(tls.server.key), "ca": str(tls.ca),
             "subject_header": "X-SSL-CLIENT-S-DN", "proxy_common_names": [CONDUIT_COMMON_NAME],
             "access": {"callers": {"XB": {"partner": "party-xb"}}}}
    partners = {
        "permit-store": {"adapter": "stub", "may_send": PERMIT_TYPES},
        "customs": {"adapter": "stub", "may_send": ["permit.endorsed"]},
        "epix": {"adapter": "epix", "options": {**_client_options(material, "XA", conduit_url), "serve": serve}},
        "party-xb": {"adapter": "epix", "party": "XB", "may_send": ["permit.quantities_confirmed"],
                     "sign_outbound": True, "verify_inbound": True,
                     "trust": {"certificates": [str(material.signing["XB"][1])]}},
        "inbox-xa": {"adapter": "stub"},
    }
    routes = [{"name": "confirmations", "match": {"message_type": ["permit.quantities_confirmed"]},
               "to": ["inbox-xa"]}]
    return _config(folder, "XA", material, partners, routes)


def importing_config(folder: Path, material: Material, conduit_url: str) -> HubConfig:
    """Hub B (XB): requests and confirmations go out through EPIX; permits fetched from XA go to its inbox."""
    partners = {
        "permit-store": {"adapter": "stub", "may_send": ["permit.requested", "permit.quantities_confirmed"]},
        "epix": {"adapter": "epix", "sign_outbound": True,
                 "options": {**_client_options(material, "XB", conduit_url), "party_partners": {"XA": "party-xa"}}},
        "party-xa": {"adapter": "epix", "party": "XA", "may_send": ["permit.issued", "permit.endorsed"],
                     "verify_inbound": True, "trust": {"certificates": [str(material.signing["XA"][1])]}},
        "inbox-xb": {"adapter": "stub"},
    }
    routes = [
        {"name": "to-epix", "match": {"message_type": ["permit.requested", "permit.quantities_confirmed"],
                                      "sender": ["permit-store"]}, "to": ["epix"]},
        {"name": "imported", "match": {"message_type": ["permit.issued", "permit.endorsed"], "sender": ["party-xa"]},
         "to": ["inbox-xb"]},
    ]
    return _config(folder, "XB", material, partners, routes)


class Exchange:
    """The conduit and both hubs, started together and stopped together."""

    def __init__(self, folder: Path, material: Material) -> None:
        tls = material.tls
        self.conduit = EpixConduit(cert=tls.server.cert, key=tls.server.key, ca=tls.ca,
                                   client_cert=tls.conduit.cert, client_key=tls.conduit.key)
        conduit_url = self.conduit.start()
        self.hub_a = Hub(exporting_config(folder / "hub-a", material, conduit_url))
        self.hub_b = Hub(importing_config(folder / "hub-b", material, conduit_url))

    def start(self) -> "Exchange":
        self.hub_a.start()
        self.hub_b.start()
        service = self.hub_a.adapters["epix"].start_service(self.hub_a)
        self.conduit.register("XA", service.url + "/cites-data-exchange/v2", callers=["XB"])
        self.conduit.register("XB")
        return self

    def stop(self) -> None:
        self.hub_b.stop()
        self.hub_a.stop()
        self.conduit.stop()


def send(hub: Hub, document: bytes, message_type: str, sender: str) -> Any:
    result = hub.ingress.receive(document, message_type=message_type, sender=sender, channel="demo")
    if not result.accepted:
        raise HubError(f"{sender} -> {message_type} was rejected: {result.findings}")
    return result


def run_exchange(exchange: Exchange, timeout: float = 20.0) -> None:
    """Issue and endorse at A, fetch the final certificate at B, confirm the quantities back to A."""
    permit = PermitReference("XA", NUMBER, TOKEN)
    send(exchange.hub_a, citesepermit.to_xml(export_permit()), "permit.issued", "permit-store")
    send(exchange.hub_a, citesepermit.to_xml(endorsed_permit()), "permit.endorsed", "customs")
    send(exchange.hub_b, CertificateRequest(permit, final=True).to_xml(), "permit.requested", "permit-store")
    if not wait_for(lambda: exchange.hub_b.journal.permit_state("XA", NUMBER) == "endorsed", timeout=timeout):
        raise HubError("hub B did not receive the final certificate from XA; see the log")
    confirmation = QuantitiesConfirmation(permit, (Position("A", Decimal("12")),))
    send(exchange.hub_b, confirmation.to_xml(), "permit.quantities_confirmed", "permit-store")
    if not wait_for(lambda: exchange.hub_a.journal.permit_state("XA", NUMBER) == "quantities_confirmed",
                    timeout=timeout):
        raise HubError("hub A did not record XB's confirmation; see the log")
    wait_for(lambda: exchange.hub_a.unsettled() == 0 and exchange.hub_b.unsettled() == 0, timeout=timeout)


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``cites-hub epix demo``."""
    epix = commands.add_parser("epix", help="exchange permits with other Parties through EPIX")
    actions = epix.add_subparsers(dest="epix_command", required=True, metavar="COMMAND")
    demo = actions.add_parser("demo", help="run two hubs (Parties XA and XB) and exchange one permit over EPIX")
    demo.add_argument("--data-dir", type=Path, default=Path("cites-hub-data") / "epix",
                      help="where both hubs keep their journals and test certificates (emptied first)")
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    import shutil

    if args.data_dir.exists():
        shutil.rmtree(args.data_dir)
    exchange = Exchange(args.data_dir, make_material(args.data_dir / "certificates")).start()
    try:
        run_exchange(exchange)
        calls = [(c.caller, c.callee, c.operation) for c in exchange.conduit.calls()]
    finally:
        exchange.stop()
    for caller, callee, operation in calls:
        print(f"conduit: {caller} -> {callee} {operation}")
    print(f"permit XA/{NUMBER}: issued and endorsed at XA, fetched as final by XB, quantities confirmed to XA")
    for side in ("hub-a", "hub-b"):
        print(f"see its timeline at {side}: cites-hub trace XA/{NUMBER} --data-dir {args.data_dir / side}")
    return 0
