"""Signatures on the message path: inbound verification and outbound signing, per partner profile."""

import pytest

from adapters.stub import StubAdapter
from hub.broker import wait_for
from hub.errors import ConfigError
from hub.journal import MessageStatus
from hub.runtime import Hub
from signing.keys import KeyStore, new_key_pair
from signing.signer import Signer
from signing.trust import TrustStore
from signing.verifier import Verifier
from tests.factories import hub_config, permit_xml


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    return {
        "FR": new_key_pair("FR", folder / "fr", algorithm="rsa"),
        "CH": new_key_pair("CH", folder / "ch", algorithm="ecdsa"),
        "XX": new_key_pair("XX", folder / "xx", algorithm="rsa"),
    }


def signed_by(keys, party, payload):
    store = KeyStore()
    store.add(party, *keys[party])
    return Signer(store).sign(payload, party)


def signing_config(tmp_path, keys, **options):
    """Our Party FR signs for the stub destination; the permit store (CH) must sign what it sends."""
    config = hub_config(tmp_path, **options)
    config.party = "FR"
    raw = config.model_dump()
    raw["keys"] = [{"party": "FR", "key": str(keys["FR"][0]), "cert": str(keys["FR"][1])}]
    raw["partners"]["permit-store"].update(verify_inbound=True, trust={"certificates": [str(keys["CH"][1])]})
    raw["partners"]["customs-stub"]["sign_outbound"] = True
    return type(config).model_validate(raw)


@pytest.fixture
def signing_hub(tmp_path, keys):
    StubAdapter.reset()
    started = []

    def make(**options):
        hub = Hub(signing_config(tmp_path, keys, **options))
        hub.start()
        started.append(hub)
        return hub

    yield make
    for hub in started:
        hub.stop()


def send(hub, payload):
    return hub.ingress.receive(payload, message_type="permit.issued", sender="permit-store", channel="test")


def verify(payload, partner, cert):
    trust = TrustStore()
    trust.pin_certificates(partner, cert)
    return Verifier(trust).verify(payload, partner)


def test_signed_permit_from_a_trusted_partner_is_accepted(signing_hub, keys):
    hub = signing_hub()

    result = send(hub, signed_by(keys, "CH", permit_xml()))

    assert result.status == MessageStatus.ACCEPTED
    stored = hub.journal.get_message(result.message_id)
    assert stored.envelope.signature_state == "verified"


def test_unsigned_permit_is_rejected_naming_the_reason(signing_hub):
    hub = signing_hub()

    result = send(hub, permit_xml())

    assert result.status == MessageStatus.REJECTED
    assert result.findings[0]["value"] == "missing"
    assert hub.journal.get_message(result.message_id).envelope.signature_state == "invalid"


def test_permit_signed_by_an_untrusted_key_is_rejected(signing_hub, keys):
    hub = signing_hub()

    result = send(hub, signed_by(keys, "XX", permit_xml()))

    assert result.findings[0]["value"] == "untrusted"


def test_pretty_printed_signed_permit_fails_its_digest(signing_hub, keys):
    from lxml import etree

    hub = signing_hub()
    signed = signed_by(keys, "CH", permit_xml())
    reformatted = etree.tostring(etree.fromstring(signed, etree.XMLParser(remove_blank_text=True)),
                                 pretty_print=True)

    result = send(hub, reformatted.replace(b"FR2026000123", b"FR2026000124"))

    assert result.status == MessageStatus.REJECTED
    assert result.findings[0]["value"] in {"digest_mismatch", "bad_signature"}


def test_delivery_is_signed_with_our_key_and_verifies(signing_hub, keys):
    hub = signing_hub()

    send(hub, signed_by(keys, "CH", permit_xml()))
    assert wait_for(lambda: hub.unsettled() == 0, timeout=10)

    sent = StubAdapter.sent("customs-stub")[0].body
    # The inbound document already carries CH's signature, so it is forwarded as received...
    assert verify(sent, "permit-store", keys["CH"][1]).signer_subject


def test_unsigned_canonical_payload_is_signed_on_the_way_out(signing_hub, keys, tmp_path):
    hub = signing_hub()
    hub.config.partners["permit-store"].verify_inbound = False

    send(hub, permit_xml())
    assert wait_for(lambda: hub.unsettled() == 0, timeout=10)

    sent = StubAdapter.sent("customs-stub")[0].body
    assert "C=FR" in verify(sent, "us", keys["FR"][1]).signer_subject
    events = hub.journal.timeline("FR", "FR2026000123")
    assert events[-1].detail.get("signed") is True


@pytest.mark.integration
def test_signed_permit_crosses_rabbitmq_and_the_journal_byte_for_byte(signing_hub, keys, rabbitmq_url,
                                                                       postgres_url):
    hub = signing_hub(broker_url=rabbitmq_url, journal_url=postgres_url)
    signed = signed_by(keys, "CH", permit_xml())

    result = send(hub, signed)
    assert wait_for(lambda: hub.unsettled() == 0, timeout=20)

    assert hub.journal.get_message(result.message_id).payload == signed
    delivered = StubAdapter.sent("customs-stub")[0].body
    assert delivered == signed
    assert verify(delivered, "permit-store", keys["CH"][1]).signer_subject


def test_sign_outbound_without_a_key_is_a_config_error(tmp_path):
    raw = hub_config(tmp_path).model_dump()
    raw["partners"]["customs-stub"]["sign_outbound"] = True

    with pytest.raises(ConfigError, match="sign_outbound needs our party"):
        type(hub_config(tmp_path)).model_validate(raw).check_references()


def test_verify_inbound_without_trust_is_a_config_error(tmp_path):
    raw = hub_config(tmp_path).model_dump()
    raw["partners"]["permit-store"]["verify_inbound"] = True

    with pytest.raises(ConfigError, match="verify_inbound needs a trust section"):
        type(hub_config(tmp_path)).model_validate(raw).check_references()
