"""The HTTP transport shared by the adapters that POST deliveries to their system.

Each adapter instance owns one :class:`HttpTransport`, which owns one pooled ``httpx.Client``.
:meth:`HttpTransport.post` is the whole interface: it sends one delivery and returns the response,
or raises one of the hub's delivery errors.

Headers sent with every delivery:
    ``Idempotency-Key``     the delivery's idempotency key, so that the destination drops repeats
    ``X-Correlation-Id``    the envelope's correlation id
    ``Authorization``       ``Bearer <key>`` when the options name an environment variable holding a key

Errors, translated at this boundary and chained with ``from``:
    timeouts, refused or broken connections, HTTP 408, 429 and 5xx  →  ``TransientDeliveryError``
    any other status outside 2xx                                     →  ``PermanentDeliveryError``
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping

import httpx
from pydantic import Field, field_validator

from adapters.base import AdapterOptions, DeliveryJob, Outbound
from hub.errors import ConfigError, PermanentDeliveryError, TransientDeliveryError

logger = logging.getLogger(__name__)

# Statuses below 500 that a retry can cure: the server timed out reading the request, or requested a slower rate.
TRANSIENT_STATUSES = frozenset({408, 429})
MAX_REASON_CHARS = 300
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class HttpOptions(AdapterOptions):
    """Options of an adapter that POSTs to one HTTP endpoint."""

    url: str = Field(description="endpoint URL, http:// or https://")
    timeout_seconds: float = Field(default=5.0, gt=0, le=300, description="limit for connect, write, read and pool wait, each")
    api_key_env: str | None = Field(
        default=None,
        pattern=ENV_NAME_PATTERN,
        description="name of the environment variable that contains the API key sent as 'Authorization: Bearer'",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value.startswith(("http://", "https://")):
            return value
        raise ValueError(f"url '{value}' is not an http:// or https:// URL; expected e.g. https://customs.example/permit-feed")


def bearer_header(api_key_env: str | None, *, partner: str, adapter: str) -> dict[str, str]:
    """Read the API key from the environment variable ``api_key_env`` and return the Authorization header.

    Returns no header when ``api_key_env`` is None. Raises ConfigError, naming the variable but never
    its value, when the variable is unset or empty.
    """
    if api_key_env is None:
        return {}

    key = os.environ.get(api_key_env, "").strip()
    if not key:
        raise ConfigError(
            f"partner '{partner}' (adapter {adapter}): environment variable {api_key_env} named by option "
            "api_key_env is not set or empty; expected the API key in it"
        )
    return {"Authorization": f"Bearer {key}"}


def short_body(response: httpx.Response) -> str:
    """Return the start of the response body on one line, as the reason of a rejection."""
    text = " ".join(response.text.split())
    return text[:MAX_REASON_CHARS] or "(empty body)"


class HttpTransport:
    """One pooled HTTP client that POSTs deliveries and translates failures into delivery errors.

    ``system`` names the destination in error messages, e.g. "customs partner 'customs-ke'".
    ``read_reason`` extracts the destination's reason from a rejection; it must not raise.
    """

    def __init__(
        self,
        *,
        system: str,
        timeout_seconds: float,
        headers: Mapping[str, str] | None = None,
        read_reason: Callable[[httpx.Response], str] = short_body,
    ) -> None:
        self.system = system
        self.timeout_seconds = timeout_seconds
        self.read_reason = read_reason
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_seconds), headers=dict(headers or {}))

    def post(self, url: str, outbound: Outbound, job: DeliveryJob) -> httpx.Response:
        """Send ``outbound`` to ``url`` and return the 2xx response, or raise a delivery error."""
        headers = {
            **outbound.headers,
            "Content-Type": outbound.content_type,
            "Idempotency-Key": job.idempotency_key,
            "X-Correlation-Id": job.envelope.correlation_id,
        }
        logger.debug("POST %s delivery=%s attempt=%d bytes=%d", url, job.delivery_id, job.attempt, len(outbound.body))

        started = time.perf_counter()
        try:
            response = self._client.post(url, content=outbound.body, headers=headers)
        except httpx.TimeoutException as error:
            raise TransientDeliveryError(f"{self.system}: POST {url} timed out after {self.timeout_seconds:g} s ({type(error).__name__})") from error
        except httpx.TransportError as error:
            raise TransientDeliveryError(f"{self.system}: POST {url} failed: {error or type(error).__name__}") from error

        logger.debug("POST %s returned HTTP %d in %.3f s", url, response.status_code, time.perf_counter() - started)
        self._raise_for_status(url, response)
        return response

    def _raise_for_status(self, url: str, response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return

        message = f"{self.system}: POST {url} returned HTTP {status}: {self.read_reason(response)}"
        if status >= 500 or status in TRANSIENT_STATUSES:
            retry_after = response.headers.get("Retry-After")
            raise TransientDeliveryError(message + (f" (Retry-After: {retry_after})" if retry_after else ""))
        raise PermanentDeliveryError(message)

    def close(self) -> None:
        self._client.close()
