"""Every built-in adapter passes the conformance suite that third-party adapters run."""

import pytest

from adapters.conformance import AdapterConformance, default_samples
from adapters.customs import CustomsAdapter
from adapters.permit_store import PermitStoreAdapter
from adapters.stub import StubAdapter
from hub.envelope import MessageType
from schemas import path as schema_path


class TestStubConformance(AdapterConformance):
    adapter_class = StubAdapter
    schema_path = schema_path("citesepermit/CITESEPermit_2.xsd")

    def map_in(self, outbound):
        from mappings import citesepermit

        return citesepermit.from_bytes(outbound.body)

    @pytest.mark.xfail(strict=True, reason="StubAdapter keeps any job, whatever its payload: it never reads it")
    def test_malformed_job_is_a_permanent_error(self, adapter):
        super().test_malformed_job_is_a_permanent_error(adapter)


class TestCustomsConformance(AdapterConformance):
    adapter_class = CustomsAdapter
    schema_path = schema_path("customs/PermitFeed_1.xsd")


class TestPermitStoreConformance(AdapterConformance):
    adapter_class = PermitStoreAdapter
    # The permit store receives permits issued by other Parties, never cancellations.
    samples = [sample for sample in default_samples() if sample.message_type is MessageType.PERMIT_ISSUED]
    schema_path = schema_path("citesepermit/CITESEPermit_2.xsd")

    def map_in(self, outbound):
        from mappings import citesepermit

        return citesepermit.from_bytes(outbound.body)

    @pytest.mark.xfail(strict=True, reason="PermitStoreAdapter.map_out posts job.payload unchanged without "
                                           "reading it, and its simulator accepts a body that is not XML (HTTP 202)")
    def test_malformed_job_is_a_permanent_error(self, adapter):
        super().test_malformed_job_is_a_permanent_error(adapter)
