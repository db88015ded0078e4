"""What the enforcement database adapters (nCEN, TWIX, ETIS) share: options, transports and simulator.

Each of these adapters receives ``seizure.reported`` messages, reads the SeizureReport payload
(``mappings/seizure_report.py``), maps the seizure to its database's fields and sends the result
by one of two transports, chosen by the options:

    ``url``         HTTP POST of the mapped record through the shared HTTP transport. The
                    request carries ``Idempotency-Key``, ``X-Correlation-Id`` and ``X-Seizure-Id``.
    ``export_dir``  file export: one file per seizure in that folder, named by the seizure id.
                    Each file is written to a temporary file in the same folder and renamed into
                    place, so a reader never sees half a file. A later report of the same seizure
                    replaces the file.

Options:
    ``url``              the endpoint, http:// or https://. In the hub's configuration, the value
                         ``simulator`` starts the adapter's built-in simulator instead
    ``export_dir``       an existing, writable folder; exactly one of ``url`` and ``export_dir``
    ``timeout_seconds``  limit for connect, write, read and pool wait, each (default 5; HTTP only)
    ``api_key_env``      name of the environment variable holding the API key, sent as a bearer
                         token (HTTP only)

None of the three formats is XML, so none of these adapters signs what it sends.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import Field, field_validator, model_validator

from adapters.base import Adapter, AdapterContext, AdapterOptions, DeliveryJob, Direction, Outbound, Receipt
from adapters.http_transport import ENV_NAME_PATTERN, HttpTransport, bearer_header
from adapters.simulation import SimulatedRequest, SimulatedResponse, Simulator
from hub.envelope import MessageType
from hub.errors import InvalidMessage, PermanentDeliveryError, TransientDeliveryError
from hub.seizure import Seizure
from mappings import seizure_report

logger = logging.getLogger(__name__)

SEIZURE_ID_HEADER = "X-Seizure-Id"


class SeizureExportOptions(AdapterOptions):
    """Options of an enforcement database adapter: HTTP endpoint or export folder (see the module docstring)."""

    url: str | None = Field(default=None, description="endpoint URL, http:// or https://")
    export_dir: Path | None = Field(default=None, description="folder that receives one file per seizure")
    timeout_seconds: float = Field(default=5.0, gt=0, le=300, description="limit for connect, write, read and pool wait, each")
    api_key_env: str | None = Field(
        default=None,
        pattern=ENV_NAME_PATTERN,
        description="name of the environment variable that contains the API key sent as 'Authorization: Bearer'",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value.startswith(("http://", "https://")):
            return value
        raise ValueError(f"url '{value}' is not an http:// or https:// URL; expected e.g. https://ncen.example/seizures")

    @field_validator("export_dir")
    @classmethod
    def _writable_folder(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        if not value.is_dir():
            raise ValueError(f"export_dir '{value}' is not an existing folder; expected the path of a folder that exists")
        if not os.access(value, os.W_OK | os.X_OK):
            raise ValueError(f"export_dir '{value}' is not writable by this process; expected a folder the hub may write to")
        return value

    @model_validator(mode="after")
    def _one_transport(self) -> "SeizureExportOptions":
        if (self.url is None) == (self.export_dir is None):
            raise ValueError("expected exactly one of url (HTTP POST) and export_dir (file export)")
        if self.export_dir is not None and self.api_key_env is not None:
            raise ValueError("api_key_env applies to url only; expected no api_key_env with export_dir")
        return self


def export_file_name(seizure_id: str, suffix: str) -> str:
    """Return the file name of a seizure: its id, percent-encoded where a file name could not carry it, and ``suffix``.

    ``FR/DGDDI 42`` becomes ``FR%2FDGDDI%2042.json``. A leading dot is encoded too, so that no
    export is a hidden file.
    """
    name = quote(seizure_id, safe="-_.~")
    if name.startswith("."):
        name = "%2E" + name[1:]
    return name + suffix


class FileExport:
    """Writes each delivery to its own file in one folder, atomically: a temporary file, then a rename."""

    def __init__(self, directory: Path, *, system: str) -> None:
        self.directory = directory
        self.system = system

    def write(self, name: str, body: bytes) -> Path:
        """Write ``body`` to ``name`` in the folder and return its path. Raises TransientDeliveryError on failure."""
        target = self.directory / name
        # The temporary file starts with a dot, so that programs watching the folder skip it.
        descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except OSError as error:
            Path(temporary).unlink(missing_ok=True)
            raise TransientDeliveryError(f"{self.system}: writing {target} failed: {error}") from error

        self._sync_directory()
        logger.debug("%s: wrote %s (%d bytes)", self.system, target, len(body))
        return target

    def _sync_directory(self) -> None:
        # Makes the rename itself durable. Not every platform can open a folder, and then the
        # rename is durable once the file system flushes.
        try:
            descriptor = os.open(self.directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(descriptor)
        except OSError:
            pass
        finally:
            os.close(descriptor)


class SeizureDatabaseAdapter(Adapter):
    """Base of the nCEN, TWIX and ETIS adapters. Subclasses set the class attributes and :meth:`build`."""

    directions = frozenset({Direction.OUTBOUND})
    message_types = frozenset({MessageType.SEIZURE_REPORTED})
    signs = False
    options_model: ClassVar[type[AdapterOptions]] = SeizureExportOptions
    content_type: ClassVar[str] = "application/json"
    file_suffix: ClassVar[str] = ".json"

    def __init__(self, partner: str, options: dict[str, Any] | None = None, context: AdapterContext | None = None):
        super().__init__(partner, options, context)
        system = f"{self.name} partner '{partner}'"
        self._files = FileExport(self.options.export_dir, system=system) if self.options.export_dir else None
        self._http = None
        if self.options.url is not None:
            self._http = HttpTransport(
                system=system,
                timeout_seconds=self.options.timeout_seconds,
                headers=bearer_header(self.options.api_key_env, partner=partner, adapter=self.name),
            )

    def build(self, seizure: Seizure) -> bytes:
        """Return the record of ``seizure`` in the database's format. Raises PermanentDeliveryError to reject it."""
        raise NotImplementedError(f"adapter {self.name} does not map seizures")

    def map_out(self, job: DeliveryJob) -> Outbound:
        seizure = read_seizure(job, self.name)
        body = self.build(seizure)
        logger.debug("%s: mapped seizure %s for partner %s: %d bytes", self.name, seizure.id, self.partner, len(body))
        return Outbound(body=body, content_type=self.content_type, headers={SEIZURE_ID_HEADER: seizure.id})

    def send(self, outbound: Outbound, job: DeliveryJob) -> Receipt:
        if self._files is not None:
            path = self._files.write(export_file_name(_seizure_id(outbound, job), self.file_suffix), outbound.body)
            return Receipt(reference=path.name, detail=f"written to {path}")

        assert self._http is not None and self.options.url is not None  # one of the two, by the options
        response = self._http.post(self.options.url, outbound, job)
        return Receipt(reference=_reference(response), detail=f"HTTP {response.status_code}")

    def close(self) -> None:
        if self._http is not None:
            self._http.close()


def read_seizure(job: DeliveryJob, adapter: str) -> Seizure:
    """Return the seizure in the payload of ``job``. Raises PermanentDeliveryError when there is none."""
    if job.envelope.message_type is not MessageType.SEIZURE_REPORTED:
        raise PermanentDeliveryError(
            f"delivery {job.delivery_id}: adapter {adapter} takes seizure.reported messages, "
            f"not {job.envelope.message_type.value}"
        )
    try:
        return seizure_report.from_bytes(job.payload)
    except InvalidMessage as error:
        raise PermanentDeliveryError(
            f"delivery {job.delivery_id}: message {job.envelope.message_id} is not a valid seizure report: {error}"
        ) from error


def _seizure_id(outbound: Outbound, job: DeliveryJob) -> str:
    seizure_id = outbound.headers.get(SEIZURE_ID_HEADER)
    if not seizure_id:
        raise PermanentDeliveryError(f"delivery {job.delivery_id}: outbound has no {SEIZURE_ID_HEADER} header; expected map_out to set it")
    return seizure_id


def _reference(response: httpx.Response) -> str | None:
    if "json" not in response.headers.get("Content-Type", ""):
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    return str(data["reference"]) if isinstance(data, dict) and data.get("reference") else None


def json_object(body: bytes) -> dict[str, Any]:
    """Return the JSON object in ``body``. Raises ValueError when the body is not a JSON object."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"body is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise ValueError(f"body is a JSON {type(data).__name__}; expected an object")
    return data


class SeizureDatabaseSimulator(Simulator):
    """Base of the simulated enforcement databases: keeps the last record received per seizure id.

    Routes:
        ``POST <records_path>``   a record; HTTP 201 ``accepted`` with a reference, or HTTP 422
                                  ``rejected`` with the reason
        ``GET <records_path>``    a JSON summary: counts and the seizure ids received

    Subclasses set ``records_path`` and ``reference_prefix`` and implement :meth:`read_record`.
    ``reject_reason`` makes it reject every record with that reason. ``Idempotency-Key``,
    ``delay_seconds`` and ``fail_next`` behave as in the :class:`~adapters.simulation.Simulator`
    base. No response or summary repeats a person's or company's details.
    """

    records_path: ClassVar[str] = "/seizures"
    reference_prefix: ClassVar[str] = "SZ"

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, delay_seconds: float = 0.0, reject_reason: str | None = None
    ) -> None:
        super().__init__(host=host, port=port, delay_seconds=delay_seconds)
        self.reject_reason = reject_reason
        self.accepted = 0
        self.rejected = 0
        self._records: dict[str, Any] = {}

    @property
    def records_url(self) -> str:
        return self.url + self.records_path

    def records(self) -> dict[str, Any]:
        """Return the last record accepted for each seizure id."""
        with self._lock:
            return dict(self._records)

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {"accepted": self.accepted, "rejected": self.rejected, "replayed": self.replayed,
                    "seizures": sorted(self._records)}

    def read_record(self, request: SimulatedRequest) -> tuple[str, Any]:
        """Return the seizure id and the parsed record. Raises ValueError, with the reason, to reject it."""
        raise NotImplementedError

    def handle(self, request: SimulatedRequest) -> SimulatedResponse:
        if request.path != self.records_path:
            return super().handle(request)
        if request.method == "GET":
            return SimulatedResponse.json(200, self.summary())
        if request.method == "POST":
            return self._receive(request)
        return SimulatedResponse.json(405, {"status": "rejected", "reason": f"method {request.method} is not allowed"})

    def _receive(self, request: SimulatedRequest) -> SimulatedResponse:
        try:
            seizure_id, record = self.read_record(request)
        except ValueError as error:
            return self._reject(str(error))
        if self.reject_reason:
            return self._reject(self.reject_reason)

        self.accepted += 1
        self._records[seizure_id] = record
        reference = f"{self.reference_prefix}-{self.accepted:06d}"
        return SimulatedResponse.json(201, {"status": "accepted", "reference": reference, "seizure_id": seizure_id})

    def _reject(self, reason: str) -> SimulatedResponse:
        self.rejected += 1
        logger.info("%s simulator rejected a record: %s", self.name, reason)
        return SimulatedResponse.json(422, {"status": "rejected", "reason": reason})
