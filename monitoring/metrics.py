"""The hub's Prometheus metrics. Label values come from small closed sets, never permit numbers."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

MESSAGES_RECEIVED = Counter(
    "cites_hub_messages_received_total",
    "Messages received at ingress, by message type, channel and outcome (accepted, rejected, duplicate).",
    ["message_type", "channel", "outcome"],
)
INGRESS_SECONDS = Histogram(
    "cites_hub_ingress_seconds",
    "Time from receiving a message to answering its sender (validate, route, journal).",
    ["channel"],
    buckets=LATENCY_BUCKETS,
)
VALIDATION_SECONDS = Histogram(
    "cites_hub_validation_seconds", "Time to validate one message.", buckets=LATENCY_BUCKETS
)
ROUTING_SECONDS = Histogram("cites_hub_routing_seconds", "Time to route one message.", buckets=LATENCY_BUCKETS)
DELIVERIES = Counter(
    "cites_hub_deliveries_total",
    "Delivery attempts by adapter and outcome (delivered, delivered_with_warnings, failed, parked).",
    ["adapter", "outcome"],
)
DELIVERY_SECONDS = Histogram(
    "cites_hub_delivery_seconds",
    "Time of one delivery attempt: map, sign and send.",
    ["adapter"],
    buckets=LATENCY_BUCKETS,
)
END_TO_END_SECONDS = Histogram(
    "cites_hub_end_to_end_seconds",
    "Time from receipt at ingress to delivery at the destination.",
    ["adapter"],
    buckets=LATENCY_BUCKETS,
)
PUBLISHED = Counter("cites_hub_published_total", "Delivery jobs published to the broker.", ["reason"])
PUBLISH_FAILURES = Counter("cites_hub_publish_failures_total", "Publishes the broker refused or did not confirm.")
REPUBLISHED_BY_SWEEP = Counter(
    "cites_hub_sweep_republished_total", "Due deliveries republished by the start-up or periodic sweep."
)
UNROUTABLE = Counter(
    "cites_hub_unroutable_total", "Publishes no queue was bound for, caught by the alternate exchange."
)
QUEUE_DEPTH = Gauge("cites_hub_queue_depth", "Messages ready in each broker queue, read when scraped.", ["queue"])
DELIVERIES_PARKED = Gauge(
    "cites_hub_deliveries_parked", "Deliveries parked and waiting for an operator, per destination partner.",
    ["partner"],
)
ADAPTER_UP = Gauge("cites_hub_adapter_up", "1 when the adapter's last attempt reached its system.", ["partner"])
