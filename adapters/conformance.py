"""The adapter conformance suite: the tests that every adapter passes, built in or third party.

An adapter's test module subclasses :class:`AdapterConformance` and sets class attributes; pytest
then runs every ``test_*`` method of the suite against that adapter::

    from adapters.conformance import AdapterConformance, load_samples

    class TestAcmeConformance(AdapterConformance):
        adapter_class = AcmeAdapter
        samples = load_samples(Path(__file__).parent / "samples")
        schema_path = Path(__file__).parent / "Acme_1.xsd"

Class attributes (all but ``adapter_class`` have defaults):
    ``adapter_class``    the adapter under test
    ``options``          its options besides ``url``; the suite sets ``url`` to its running simulator
    ``samples``          canonical CITESEPermit payloads with their message types (:class:`Sample`)
    ``schema_path``      XSD that every ``map_out`` body must be valid against; or override
                         :meth:`AdapterConformance.validate_output` for other formats
    ``timeout_option``   the option that limits a request, in seconds (default ``timeout_seconds``)
    ``secret_option``    the option that names the environment variable of a secret (default ``api_key_env``)

Hooks a subclass may override: :meth:`~AdapterConformance.make_simulator` (or the ``simulator``
fixture), :meth:`~AdapterConformance.adapter_options`, :meth:`~AdapterConformance.validate_output`,
:meth:`~AdapterConformance.map_in` (the inverse mapping, for the round-trip test),
:meth:`~AdapterConformance.comparable`, :meth:`~AdapterConformance.reject_next` and
:meth:`~AdapterConformance.received_idempotency_keys`.

The network cases (failures, idempotency, timeout, secrets, simulator life cycle) need the
adapter's simulator; an adapter without one, such as ``stub``, skips them with the reason.
To mark a case the adapter is known to fail, override the method in the subclass with
``pytest.mark.xfail(strict=True, reason=...)`` and call ``super()``.

This module imports pytest, so it belongs to test code: install the hub's ``test`` extra.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from lxml import etree

from adapters import registry
from adapters.base import Adapter, AdapterOptions, DeliveryJob, Direction, Outbound, Receipt
from adapters.simulation import Simulator
from hub import safexml, validation
from hub.envelope import PERMIT_PAYLOAD_TYPES, Envelope, MessageType
from hub.errors import ConfigError, DeliveryError, InvalidMessage, Park, Reject, Retry, Severity
from hub.permit import Address, Permit, PermitItem, Quantity, Signatory, TradeParty
from mappings import citesepermit

SECRET_ENV = "CITES_HUB_CONFORMANCE_SECRET"
UNKNOWN_OPTION = "no_such_option"
NOT_XML = b"this payload is not XML {"


@dataclass(frozen=True)
class Sample:
    """A canonical message that the adapter must map and deliver: its type and CITESEPermit payload."""

    message_type: MessageType
    payload: bytes
    name: str = ""


def sample_permit(number: str = "FR2026000123") -> Permit:
    """Return an export permit from France to Switzerland with one item, valid for six months."""
    issued = datetime(2026, 11, 2, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    authority = TradeParty(name="Management Authority of France", address=Address(country="FR"))
    item = PermitItem(
        line_id="A", scientific_name="Crocodylus niloticus", common_name="Nile crocodile", term="SKI",
        appendix="II", source="C", quantity=Quantity(value=Decimal("12")),
    )
    return Permit(
        number=number, type="E", issued_at=issued, valid_from=issued, valid_until=issued + timedelta(days=180),
        purpose="T",
        exporter=TradeParty(name="Exporter SA", address=Address(city="Lyon", country="FR")),
        importer=TradeParty(name="Importer AG", address=Address(city="Basel", country="CH")),
        signatories=[Signatory(role="A", id="S0042", party=authority)],
        items=[item],
    )


def default_samples() -> list[Sample]:
    """Return the issue and then the cancellation of :func:`sample_permit`."""
    payload = citesepermit.to_xml(sample_permit())
    return [
        Sample(MessageType.PERMIT_ISSUED, payload, "permit.issued"),
        Sample(MessageType.PERMIT_CANCELLED, payload, "permit.cancelled"),
    ]


def load_samples(folder: Path) -> list[Sample]:
    """Read every ``*.xml`` file of ``folder``, in name order, as a sample.

    A file is named after its message type, optionally after an ordering prefix and a hyphen:
    ``1-permit.issued.xml``, ``2-permit.cancelled.xml``.
    """
    files = sorted(Path(folder).glob("*.xml"))
    if not files:
        raise FileNotFoundError(f"no sample *.xml file in {folder}; expected e.g. 1-permit.issued.xml")
    return [Sample(MessageType.parse(path.stem.split("-", 1)[-1]), path.read_bytes(), path.name) for path in files]


def make_job(
    payload: bytes,
    message_type: MessageType = MessageType.PERMIT_ISSUED,
    *,
    destination: str = "conformance",
    idempotency_key: str | None = None,
    parse_permit: bool = True,
) -> DeliveryJob:
    """Build the delivery job the hub would give an adapter for ``payload``.

    As on the hub's message path, a permit message carries its parsed permit unless
    ``parse_permit`` is false.
    """
    permit = None
    if parse_permit and message_type in PERMIT_PAYLOAD_TYPES:
        permit = citesepermit.from_bytes(payload)
    envelope = Envelope.for_payload(
        payload, message_type=message_type, sender="permit-store", permit=permit.key if permit else None
    )
    return DeliveryJob(
        delivery_id=str(uuid.uuid4()),
        destination=destination,
        envelope=envelope,
        payload=payload,
        idempotency_key=idempotency_key or f"{envelope.message_id}:{destination}",
        permit=permit,
    )


def deliver(adapter: Adapter, job: DeliveryJob) -> Receipt:
    """Run one delivery as the hub does: map, then send."""
    return adapter.send(adapter.map_out(job), job)


def classify(adapter: Adapter, error: BaseException) -> str:
    """Return how the hub classes ``error``: 'transient', 'permanent', or 'unexpected' for a crash.

    Delivery errors carry their class; ``Retry``, ``Reject``, ``Park`` and ``InvalidMessage``
    settle a delivery on purpose; errors listed in ``adapter.transient_errors`` are transient.
    Anything else is a bug in the adapter, even though the hub would park the delivery.
    """
    if isinstance(error, Retry):
        return "transient"
    if isinstance(error, (Reject, Park, InvalidMessage)):
        return "permanent"
    if isinstance(error, DeliveryError):
        return "transient" if error.transient else "permanent"
    if adapter.transient_errors and isinstance(error, adapter.transient_errors):
        return "transient"
    return "unexpected"


def outcome_of(adapter: Adapter, job: DeliveryJob) -> tuple[str, BaseException | None]:
    """Deliver ``job`` and return ('delivered', None) or the class of the error and the error."""
    try:
        deliver(adapter, job)
    except Exception as error:  # noqa: BLE001 - the suite classifies every error, crashes included
        return classify(adapter, error), error
    return "delivered", None


def compiled_schema(path: Path) -> etree.XMLSchema:
    """Compile the XSD at ``path`` once, reading it with the hardened parser."""
    return safexml.compile_schema(Path(path))


def assert_valid_xml(body: bytes, schema_path: Path) -> None:
    """Raise AssertionError, listing each schema error with its line, unless ``body`` is valid."""
    schema = compiled_schema(Path(schema_path))
    document = safexml.parse(body)
    if schema.validate(document):
        return
    errors = "; ".join(f"line {entry.line}: {entry.message}" for entry in schema.error_log)
    raise AssertionError(f"output is invalid against {Path(schema_path).name}: {errors}")


def _load_class(target: str) -> type[Any]:
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)  # type: ignore[no-any-return]


def _loads(target: str, adapter_class: type[Adapter]) -> bool:
    try:
        return _load_class(target) is adapter_class
    except (ImportError, AttributeError):
        # Another package's broken entry point is its own problem, not this adapter's.
        return False


def _port_refuses(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return False
    except OSError:
        return True


class AdapterConformance:
    """Base of an adapter's conformance tests; see the module docstring for how to subclass it."""

    adapter_class: ClassVar[type[Adapter]]
    options: ClassVar[dict[str, Any]] = {}
    samples: ClassVar[Sequence[Sample]] = default_samples()
    schema_path: ClassVar[Path | None] = None
    timeout_option: ClassVar[str] = "timeout_seconds"
    timeout_seconds: ClassVar[float] = 0.3
    timeout_margin_seconds: ClassVar[float] = 1.0
    secret_option: ClassVar[str] = "api_key_env"

    # -- hooks ----------------------------------------------------------------------------------

    @property
    def partner(self) -> str:
        return f"conformance-{self.adapter_class.name}"

    def make_simulator(self) -> Simulator | None:
        """Return a new, stopped simulator of the adapter's system, or None when it has none."""
        if not self.adapter_class.simulator:
            return None
        simulator_class = _load_class(self.adapter_class.simulator)
        return simulator_class()  # type: ignore[no-any-return]

    def adapter_options(self, simulator: Simulator | None) -> dict[str, Any]:
        """Return the adapter's options; with a simulator, ``url`` points at it as the hub's config does."""
        options = dict(self.options)
        if simulator is not None:
            options["url"] = simulator.url.rstrip("/") + self.adapter_class.simulator_path
        return options

    def validate_output(self, outbound: Outbound) -> None:
        """Raise AssertionError unless ``outbound`` is valid in the adapter's format. Default: ``schema_path``."""
        if self.schema_path is None:
            pytest.skip(f"{type(self).__name__} sets no schema_path and does not override validate_output")
        assert_valid_xml(outbound.body, self.schema_path)

    def map_in(self, outbound: Outbound) -> Permit | None:
        """Map an adapter's output back to the canonical model, or return None when the format has no inverse."""
        return None

    def comparable(self, permit: Permit) -> Any:
        """Return what a round trip must keep of ``permit``. Default: all of it; narrow it for lossy formats."""
        return permit.model_dump(mode="json")

    def reject_next(self, simulator: Simulator) -> None:
        """Make the simulator reject the next request for good. Default: HTTP 422."""
        simulator.fail_next(1, 422)

    def received_idempotency_keys(self, simulator: Simulator) -> list[str | None]:
        """Return the idempotency key of each request the simulator kept, oldest first."""
        return [request.idempotency_key for request in simulator.received()]

    # -- fixtures -------------------------------------------------------------------------------

    @pytest.fixture
    def simulator(self) -> Iterator[Simulator | None]:
        """The adapter's simulator, running on a free 127.0.0.1 port, or None."""
        simulator = self.make_simulator()
        if simulator is None:
            yield None
            return
        simulator.start()
        try:
            yield simulator
        finally:
            simulator.stop()

    @pytest.fixture
    def adapter(self, simulator: Simulator | None) -> Iterator[Adapter]:
        """The adapter under test, started, delivering to ``simulator``."""
        adapter = self.adapter_class(self.partner, self.adapter_options(simulator))
        adapter.start()
        try:
            yield adapter
        finally:
            adapter.close()

    def build_adapter(self, simulator: Simulator | None, **changes: Any) -> Adapter:
        return self.adapter_class(self.partner, {**self.adapter_options(simulator), **changes})

    def require_simulator(self, simulator: Simulator | None) -> Simulator:
        if simulator is None:
            pytest.skip(
                f"adapter {self.adapter_class.name} has no simulator (Adapter.simulator is None), "
                "so the network cases do not apply"
            )
        return simulator

    def require_option(self, option: str, attribute: str) -> None:
        if option not in self.adapter_class.options_model.model_fields:
            pytest.skip(f"adapter {self.adapter_class.name} has no option '{option}'; set {attribute} to the one it uses")

    def job(self, sample: Sample | None = None, **changes: Any) -> DeliveryJob:
        sample = sample or self.samples[0]
        return make_job(sample.payload, sample.message_type, destination=self.partner, **changes)

    # -- capabilities and options ---------------------------------------------------------------

    def test_capabilities_are_declared_as_data(self) -> None:
        adapter_class = self.adapter_class

        assert isinstance(adapter_class.name, str)
        assert adapter_class.name.isidentifier(), f"name '{adapter_class.name}' is not a Python identifier"
        assert adapter_class.description, "description is empty; say in one line which system this connects"
        assert adapter_class.directions, "directions is empty; expected Direction.OUTBOUND and/or INBOUND"
        assert all(isinstance(d, Direction) for d in adapter_class.directions)
        assert all(isinstance(t, MessageType) for t in adapter_class.message_types)
        assert adapter_class.formats, "formats is empty; expected e.g. ('customs-permit-feed:1',)"
        assert all(isinstance(f, str) and f for f in adapter_class.formats)
        assert isinstance(adapter_class.signs, bool)
        assert issubclass(adapter_class.options_model, AdapterOptions)
        assert all(issubclass(e, BaseException) for e in adapter_class.transient_errors)

    def test_outbound_adapter_declares_message_types(self) -> None:
        if Direction.OUTBOUND not in self.adapter_class.directions:
            pytest.skip(f"adapter {self.adapter_class.name} is inbound only")

        assert self.adapter_class.message_types, "an outbound adapter must declare the message types it accepts"

    def test_capabilities_are_plain_data(self) -> None:
        capabilities = self.adapter_class.capabilities()

        assert json.loads(json.dumps(capabilities)) == capabilities
        assert capabilities["name"] == self.adapter_class.name

    def test_registered_under_its_name(self) -> None:
        class_path = f"{self.adapter_class.__module__}:{self.adapter_class.__qualname__}"
        names = [entry.name for entry in registry.discover().values() if _loads(entry.target, self.adapter_class)]
        if not names:
            pytest.skip(f"{class_path} is not registered; install its package to check its entry point")

        assert names == [self.adapter_class.name], f"{class_path} is registered as {names}"

    def test_declared_simulator_is_a_simulator(self) -> None:
        if not self.adapter_class.simulator:
            pytest.skip(f"adapter {self.adapter_class.name} declares no simulator")

        simulator_class = _load_class(self.adapter_class.simulator)

        assert issubclass(simulator_class, Simulator)

    def test_samples_are_message_types_it_accepts(self) -> None:
        adapter = self.adapter_class(self.partner, {**self.adapter_options(None), **self._placeholder_url()})

        refused = [sample.message_type.value for sample in self.samples if not adapter.accepts(sample.message_type)]
        adapter.close()

        assert self.samples, "set samples to at least one canonical message"
        assert refused == [], f"samples of types the adapter does not accept: {refused}"

    def test_samples_are_valid_canonical_messages(self) -> None:
        for sample in self.samples:
            result = validation.validate(sample.payload, sample.message_type)

            errors = [str(f) for f in result.findings if f.severity is Severity.ERROR]
            assert errors == [], f"sample {sample.name or sample.message_type.value} is invalid"

    def test_unknown_option_is_rejected_naming_it(self) -> None:
        options = {**self.adapter_options(None), **self._placeholder_url(), UNKNOWN_OPTION: 1}

        with pytest.raises(ConfigError, match=UNKNOWN_OPTION):
            self.adapter_class(self.partner, options)

    def _placeholder_url(self) -> dict[str, str]:
        # An options model with a url field needs one to validate; nothing is sent to it.
        if "url" in self.adapter_class.options_model.model_fields:
            return {"url": "http://127.0.0.1:9" + self.adapter_class.simulator_path}
        return {}

    # -- mapping --------------------------------------------------------------------------------

    def test_map_out_output_is_valid_for_its_format(self, adapter: Adapter) -> None:
        for sample in self.samples:
            outbound = adapter.map_out(self.job(sample))

            assert isinstance(outbound, Outbound)
            assert isinstance(outbound.body, bytes)
            assert outbound.body, f"sample {sample.name}: empty body"
            self.validate_output(outbound)

    def test_signing_adapter_sends_xml(self, adapter: Adapter) -> None:
        if not self.adapter_class.signs:
            pytest.skip(f"adapter {self.adapter_class.name} declares signs = False")

        for sample in self.samples:
            body = adapter.map_out(self.job(sample)).body

            # The hub signs the output with an enveloped XML signature, so it must be XML.
            assert safexml.parse(body) is not None, f"sample {sample.name}: output is not XML"

    def test_map_out_is_deterministic(self, adapter: Adapter) -> None:
        job = self.job()

        first, second = adapter.map_out(job), adapter.map_out(job)

        # A retry must carry the body its idempotency key was first sent with.
        assert first.body == second.body

    def test_map_in_restores_the_permit(self, adapter: Adapter) -> None:
        for sample in self.samples:
            job = self.job(sample)
            restored = self.map_in(adapter.map_out(job))
            if restored is None:
                pytest.skip(f"{type(self).__name__}.map_in returns None: the format declares no inverse mapping")

            assert job.permit is not None
            assert self.comparable(restored) == self.comparable(job.permit)

    def test_malformed_job_is_a_permanent_error(self, adapter: Adapter) -> None:
        job = make_job(NOT_XML, self.samples[0].message_type, destination=self.partner, parse_permit=False)

        outcome, error = outcome_of(adapter, job)

        assert outcome == "permanent", f"a job with no permit and a payload that is not XML gave {outcome}: {error!r}"

    # -- delivery -------------------------------------------------------------------------------

    def test_every_sample_is_delivered(self, adapter: Adapter) -> None:
        for sample in self.samples:
            receipt = deliver(adapter, self.job(sample))

            assert isinstance(receipt, Receipt)
            assert receipt.state in ("delivered", "delivered_with_warnings")

    def test_unavailable_destination_is_transient(self, adapter: Adapter, simulator: Simulator | None) -> None:
        self.require_simulator(simulator).fail_next(1, 503)

        outcome, error = outcome_of(adapter, self.job())

        assert outcome == "transient", f"HTTP 503 gave {outcome}: {error!r}"

    def test_rejection_is_permanent(self, adapter: Adapter, simulator: Simulator | None) -> None:
        self.reject_next(self.require_simulator(simulator))

        outcome, error = outcome_of(adapter, self.job())

        assert outcome == "permanent", f"a rejection gave {outcome}: {error!r}"

    def test_stopped_destination_is_transient(self, adapter: Adapter, simulator: Simulator | None) -> None:
        self.require_simulator(simulator).stop()

        outcome, error = outcome_of(adapter, self.job())

        assert outcome == "transient", f"a refused connection gave {outcome}: {error!r}"

    def test_idempotency_key_reaches_destination(self, adapter: Adapter, simulator: Simulator | None) -> None:
        running = self.require_simulator(simulator)
        job = self.job()

        deliver(adapter, job)

        assert self.received_idempotency_keys(running) == [job.idempotency_key]

    def test_repeated_delivery_is_applied_once(self, adapter: Adapter, simulator: Simulator | None) -> None:
        running = self.require_simulator(simulator)
        job = self.job()

        first = deliver(adapter, job)
        repeat = deliver(adapter, job)

        assert self.received_idempotency_keys(running) == [job.idempotency_key]
        assert repeat.reference == first.reference

    def test_timeout_is_transient_and_prompt(self, simulator: Simulator | None) -> None:
        running = self.require_simulator(simulator)
        self.require_option(self.timeout_option, "timeout_option")
        running.delay_seconds = self.timeout_seconds + 2 * self.timeout_margin_seconds
        adapter = self.build_adapter(running, **{self.timeout_option: self.timeout_seconds})

        started = time.monotonic()
        outcome, error = outcome_of(adapter, self.job())
        elapsed = time.monotonic() - started
        adapter.close()

        assert outcome == "transient", f"a timeout gave {outcome}: {error!r}"
        assert elapsed < self.timeout_seconds + self.timeout_margin_seconds, f"took {elapsed:.2f} s"

    def test_secret_never_appears_in_logs(
        self, simulator: Simulator | None, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        running = self.require_simulator(simulator)
        self.require_option(self.secret_option, "secret_option")
        secret = f"conformance-secret-{uuid.uuid4().hex}"
        monkeypatch.setenv(SECRET_ENV, secret)
        caplog.set_level(logging.DEBUG)

        adapter = self.build_adapter(running, **{self.secret_option: SECRET_ENV})
        errors = self._deliver_with_failures(adapter, running)
        adapter.close()

        sent = [repr(request.headers) + request.body.decode("utf-8", "replace") for request in running.received()]
        assert any(secret in request for request in sent), "the secret never reached the destination"
        assert secret not in caplog.text
        assert not any(secret in record.getMessage() for record in caplog.records)
        assert not any(secret in str(error) for error in errors)
        assert secret not in repr(adapter.options)

    def _deliver_with_failures(self, adapter: Adapter, simulator: Simulator) -> list[BaseException]:
        errors = []
        for sample in self.samples:
            deliver(adapter, self.job(sample))
        simulator.fail_next(1, 503)
        errors.append(outcome_of(adapter, self.job())[1])
        self.reject_next(simulator)
        errors.append(outcome_of(adapter, self.job())[1])
        return [error for error in errors if error is not None]

    # -- simulator ------------------------------------------------------------------------------

    def test_simulator_serves_on_free_loopback_port_and_stops(self) -> None:
        first, second = self.make_simulator(), self.make_simulator()
        if first is None or second is None:
            self.require_simulator(None)
        threads_before = set(threading.enumerate())

        first_url, second_url = first.start(), second.start()
        response = httpx.get(first_url + self.adapter_class.simulator_path, timeout=5)
        host, port = first_url.removeprefix("http://").split(":")
        first.stop()
        second.stop()

        assert host == "127.0.0.1"
        assert first_url != second_url
        assert response.status_code < 600
        assert not first.running and not second.running
        assert _port_refuses(host, int(port))
        assert _threads_end(threads_before), "simulator threads still alive after stop()"


def _threads_end(before: set[threading.Thread], wait_seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if not [thread for thread in threading.enumerate() if thread not in before and thread.is_alive()]:
            return True
        time.sleep(0.02)
    return False
