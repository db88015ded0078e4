from hub.config import RouteConfig, RouteMatch
from hub.envelope import Envelope, MessageType
from hub.routing import Router, matches
from tests.factories import make_item, make_permit


def envelope(message_type=MessageType.PERMIT_ISSUED, sender="permit-store"):
    return Envelope.for_payload(b"<x/>", message_type=message_type, sender=sender)


def test_empty_match_routes_everything():
    assert matches(RouteMatch(), envelope(), None)


def test_message_type_condition_filters():
    rule = RouteMatch(message_type=[MessageType.PERMIT_CANCELLED])

    assert not matches(rule, envelope(), make_permit())
    assert matches(rule, envelope(MessageType.PERMIT_CANCELLED), make_permit())


def test_permit_conditions_need_a_permit():
    assert not matches(RouteMatch(permit_type=["E"]), envelope(), None)


def test_taxon_matches_species_or_genus():
    permit = make_permit(items=[make_item(scientific_name="Manis javanica")])

    assert matches(RouteMatch(taxon=["Manis"]), envelope(), permit)
    assert matches(RouteMatch(taxon=["Manis javanica"]), envelope(), permit)
    assert not matches(RouteMatch(taxon=["Manis culionensis"]), envelope(), permit)


def test_countries_term_and_appendix_conditions():
    permit = make_permit(items=[make_item(term="LIV", appendix="I")])

    assert matches(RouteMatch(exporter_country=["FR"], importer_country=["CH"], term=["LIV"], appendix=["I"]),
                   envelope(), permit)
    assert not matches(RouteMatch(importer_country=["DE"]), envelope(), permit)
    assert matches(RouteMatch(issuing_party=["FR"], permit_type=["E", "R"]), envelope(), permit)


def test_router_lists_each_destination_once_and_never_the_sender():
    router = Router([
        RouteConfig(name="all", to=["customs", "permit-store"]),
        RouteConfig(name="again", match=RouteMatch(permit_type=["E"]), to=["customs", "twix"]),
    ])

    recipients = router.route(envelope(sender="permit-store"), make_permit())

    assert [(r.destination, r.route) for r in recipients] == [("customs", "all"), ("twix", "again")]


def test_configuration_expands_environment_variables(monkeypatch):
    from hub.config import from_dict

    monkeypatch.setenv("BROKER_PASSWORD", "s3cret")

    config = from_dict({"broker": {"url": "amqp://hub:${BROKER_PASSWORD}@rabbitmq:5672/cites"}})

    assert config.broker.url == "amqp://hub:s3cret@rabbitmq:5672/cites"


def test_unset_environment_variable_names_the_key(monkeypatch):
    import pytest

    from hub.config import from_dict
    from hub.errors import ConfigError

    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)

    with pytest.raises(ConfigError, match=r"broker.url: environment variable NOT_SET_ANYWHERE is not set"):
        from_dict({"broker": {"url": "amqp://hub:${NOT_SET_ANYWHERE}@rabbitmq/"}})
