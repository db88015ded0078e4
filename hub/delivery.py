"""Delivery: one job per (message, destination): claim it in the journal, map, sign, send, record."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any, Callable

from sqlalchemy.exc import DatabaseError

from adapters.base import Adapter, DeliveryJob, Outbound
from hub.config import DeliveryConfig, RetryPolicy
from hub.envelope import Envelope, utcnow
from hub.errors import DeliveryError, InvalidMessage, Park, Reject, Retry, SignatureError
from hub.journal import DeliveryRecord, DeliveryState, Journal
from hub.pipeline import DELIVERY_HEADER, job_headers, permit_for, worker_name
from hub.risk import RiskAssessor
from hub.signatures import SignaturePolicy
from monitoring import metrics

log = logging.getLogger(__name__)

Reschedule = Callable[[str, bytes, dict[str, str], float], bool]

class Deliverer:
    """Runs delivery jobs for every destination: claim, map, send, record.

    A transient failure is retried after an exponential backoff with jitter: ``reschedule``
    publishes the job again after the delay (a RabbitMQ delay queue, or the embedded scheduler)
    and returns False when it cannot, in which case the sweep publishes it once it is due.
    """

    def __init__(self, journal: Journal, adapters: dict[str, Adapter], config: DeliveryConfig,
                 signatures: SignaturePolicy, policies: dict[str, RetryPolicy] | None = None,
                 reschedule: Reschedule | None = None) -> None:
        self.journal = journal
        self.adapters = adapters
        self.config = config
        self.signatures = signatures
        self.policies = policies or {}
        self.reschedule = reschedule or (lambda destination, body, headers, seconds: False)
        self.risk: RiskAssessor | None = None

    def policy(self, destination: str) -> RetryPolicy:
        return self.policies.get(destination) or self.config

    def on_message(self, body: bytes, message: Any) -> None:
        """kombu callback: run the job, then acknowledge; the journal decides what happens next."""
        headers = message.headers or {}
        delivery_id = headers.get(DELIVERY_HEADER)
        try:
            if delivery_id is None:
                log.error("job without %s header dropped; the journal is unaffected", DELIVERY_HEADER)
                return
            self.deliver(delivery_id, body, headers)
        except DatabaseError as error:
            # The journal is unreachable; the job's lease lapses and the sweep publishes it again.
            log.warning("journal unavailable during delivery_id=%s: %s; the sweep will retry", delivery_id,
                        error.orig or error)
        except Exception:  # noqa: BLE001 - the lease lapses and the sweep runs the job again
            log.exception("delivery job failed unexpectedly delivery_id=%s", delivery_id)
        finally:
            message.ack()

    def deliver(self, delivery_id: str, payload: bytes, headers: dict[str, Any]) -> str | None:
        """Run one delivery; return its new state, or None when another worker has it or it is settled."""
        worker = worker_name()
        record = self.journal.claim_delivery(delivery_id, worker=worker, lease_seconds=self.config.lease_seconds)
        if record is None:
            return None
        limit = self.policy(record.destination).max_attempts
        if record.attempts > limit:
            reason = (f"attempt {record.attempts} exceeds the limit of {limit}; earlier attempts ended without an "
                      "outcome (a worker stopped while holding it, or a poison message)")
            self.journal.settle_delivery(delivery_id, DeliveryState.PARKED, worker=worker, error=reason)
            return DeliveryState.PARKED
        adapter = self.adapters[record.destination]
        envelope = Envelope.from_headers(headers)
        permit = permit_for(envelope, payload)
        flags = tuple(self.risk.flags(permit)) if adapter.wants_risk_flags and permit and self.risk else ()
        job = DeliveryJob(delivery_id=delivery_id, destination=record.destination, envelope=envelope,
                          payload=payload, idempotency_key=record.idempotency_key, attempt=record.attempts,
                          permit=permit, risk_flags=flags)
        return self._attempt(adapter, job, record, worker)

    def _attempt(self, adapter: Adapter, job: DeliveryJob, record: DeliveryRecord, worker: str) -> str:
        started = time.perf_counter()
        try:
            outbound, signed = self._outbound(adapter, job)
            receipt = adapter.send(outbound, job)
        except Exception as error:  # noqa: BLE001 - every failure is classified and journaled below
            return self._settle_failure(adapter, job, record, worker, error)
        finally:
            metrics.DELIVERY_SECONDS.labels(adapter.name).observe(time.perf_counter() - started)

        state = receipt.state
        detail: dict[str, Any] = {"signed": True} if signed else {}
        if receipt.warnings:
            detail["warnings"] = list(receipt.warnings)
        self.journal.settle_delivery(job.delivery_id, state, worker=worker, reference=receipt.reference,
                                     detail=detail)
        metrics.DELIVERIES.labels(adapter.name, state).inc()
        metrics.ADAPTER_UP.labels(job.destination).set(1)
        metrics.END_TO_END_SECONDS.labels(adapter.name).observe(
            (utcnow() - job.envelope.created_at).total_seconds())
        log.info("delivered message_id=%s permit=%s adapter=%s destination=%s outcome=%s attempt=%d",
                 job.envelope.message_id, job.envelope.permit, adapter.name, job.destination, state, job.attempt)
        return state

    def _outbound(self, adapter: Adapter, job: DeliveryJob) -> tuple[Outbound, bool]:
        """Map the job to the destination's format, then sign it if the destination's profile says so."""
        outbound = adapter.map_out(job)
        body, signed = self.signatures.sign_outbound(job.destination, outbound.body)
        return (replace(outbound, body=body) if signed else outbound), signed

    def _settle_failure(self, adapter: Adapter, job: DeliveryJob, record: DeliveryRecord, worker: str,
                        error: Exception) -> str:
        reason = f"{type(error).__name__}: {error}"
        transient, retry_after = self._classify(adapter, error)
        policy = self.policy(job.destination)
        if transient and record.attempts < policy.max_attempts:
            delay = retry_after if retry_after is not None else self.backoff(record.attempts, policy)
            self._retry_later(job, worker, reason, delay)
            state = DeliveryState.FAILED
            metrics.ADAPTER_UP.labels(job.destination).set(0)
        else:
            if transient:
                reason = f"gave up after {record.attempts} attempts: {reason}"
                metrics.ADAPTER_UP.labels(job.destination).set(0)
            self.journal.settle_delivery(job.delivery_id, DeliveryState.PARKED, worker=worker, error=reason)
            state = DeliveryState.PARKED
        metrics.DELIVERIES.labels(adapter.name, state).inc()
        level = logging.WARNING if transient else logging.ERROR
        log.log(level, "delivery %s message_id=%s permit=%s adapter=%s destination=%s attempt=%d: %s",
                state, job.envelope.message_id, job.envelope.permit, adapter.name, job.destination, job.attempt,
                reason)
        return state

    @staticmethod
    def _classify(adapter: Adapter, error: Exception) -> tuple[bool, float | None]:
        """Return (transient, retry after seconds) from the error and the adapter's declaration."""
        if isinstance(error, Retry):
            return True, error.after
        if isinstance(error, (Reject, Park, InvalidMessage, SignatureError)):
            return False, None
        if isinstance(error, DeliveryError):
            return error.transient, None
        if adapter.transient_errors and isinstance(error, adapter.transient_errors):
            return True, None
        return False, None

    def _retry_later(self, job: DeliveryJob, worker: str, reason: str, delay: float) -> None:
        """Record the failure, then queue the next attempt; the sweep is the fallback if queueing fails."""
        retry_at = utcnow() + timedelta(seconds=delay)
        self.journal.settle_delivery(job.delivery_id, DeliveryState.FAILED, worker=worker, error=reason,
                                     retry_at=retry_at)
        headers = job_headers(job.envelope, job.delivery_id, job.destination, job.idempotency_key)
        if self.reschedule(job.destination, job.payload, headers, delay):
            # The queued job comes back on time; the sweep only steps in if it is lost.
            self.journal.postpone([job.delivery_id], delay + self.config.lease_seconds)

    @staticmethod
    def backoff(attempts: int, policy: RetryPolicy) -> float:
        """Exponential backoff with jitter: a random delay in the upper half of the capped step."""
        ceiling = min(policy.backoff_max_seconds, policy.backoff_initial_seconds * 2 ** (attempts - 1))
        return random.uniform(ceiling / 2, ceiling)
