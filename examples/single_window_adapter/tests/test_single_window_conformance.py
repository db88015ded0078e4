"""The Single Window adapter passes the cites-hub adapter conformance suite."""

import json
from pathlib import Path

from adapters.conformance import AdapterConformance, load_samples
from cites_hub_adapter_single_window import feed
from cites_hub_adapter_single_window.adapter import SingleWindowAdapter

SAMPLES = Path(__file__).resolve().parent / "samples"


class TestSingleWindowConformance(AdapterConformance):
    adapter_class = SingleWindowAdapter
    samples = load_samples(SAMPLES)

    def validate_output(self, outbound):
        assert outbound.content_type == feed.CONTENT_TYPE
        assert feed.validate(json.loads(outbound.body)) == []

    def map_in(self, outbound):
        return feed.from_document(feed.from_bytes(outbound.body))

    def comparable(self, permit):
        return feed.carried_fields(permit)
