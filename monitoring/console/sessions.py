"""Console sessions kept in a cookie signed with HMAC-SHA256.

The cookie contains the operator's name, the CSRF token of the session and when it was issued,
but no role. The role and the disabled flag are read from the journal on every request, so a change to
an account applies at once. The signing key is ``$CITES_HUB_CONSOLE_SECRET`` (every API process
of a production hub needs the same one), or else a random key kept in ``<data_dir>/console-secret``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SECRET_ENV = "CITES_HUB_CONSOLE_SECRET"
SECRET_FILE = "console-secret"
SESSION_COOKIE = "cites_console"
NOTICE_COOKIE = "cites_console_notice"
LIFETIME_SECONDS = 8 * 3600
NOTICE_SECONDS = 60


@dataclass(frozen=True)
class Session:
    """One browser's session: ``operator`` is None until the browser signs in."""

    csrf: str
    issued_at: float
    operator: str | None = None

    @classmethod
    def new(cls, operator: str | None = None) -> "Session":
        return cls(csrf=secrets.token_urlsafe(24), issued_at=time.time(), operator=operator)


class Signer:
    """Signs and checks cookie values: ``base64(JSON).base64(HMAC)``."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError(f"console secret is {len(secret)} bytes; expected at least 16")
        self._secret = secret

    def dumps(self, data: dict[str, Any]) -> str:
        payload = _encode(json.dumps(data, separators=(",", ":")).encode("utf-8"))
        return f"{payload}.{self._signature(payload)}"

    def loads(self, value: str | None, *, max_age: float) -> dict[str, Any] | None:
        """Return the signed data, or None when ``value`` is missing, forged, malformed or older than ``max_age``."""
        if not value or value.count(".") != 1:
            return None
        payload, signature = value.split(".")
        if not hmac.compare_digest(signature, self._signature(payload)):
            return None
        try:
            data = json.loads(_decode(payload))
        except ValueError:
            return None
        if not isinstance(data, dict) or time.time() - float(data.get("t", 0)) > max_age:
            return None
        return data

    def _signature(self, payload: str) -> str:
        return _encode(hmac.new(self._secret, payload.encode("ascii"), hashlib.sha256).digest())


def dump_session(signer: Signer, session: Session) -> str:
    return signer.dumps({"c": session.csrf, "t": session.issued_at, "o": session.operator})


def load_session(signer: Signer, value: str | None) -> Session | None:
    data = signer.loads(value, max_age=LIFETIME_SECONDS)
    if data is None or not isinstance(data.get("c"), str):
        return None
    operator = data.get("o")
    return Session(csrf=data["c"], issued_at=float(data["t"]), operator=operator if isinstance(operator, str) else None)


def dump_notice(signer: Signer, text: str) -> str:
    return signer.dumps({"n": text, "t": time.time()})


def load_notice(signer: Signer, value: str | None) -> str | None:
    data = signer.loads(value, max_age=NOTICE_SECONDS)
    return str(data["n"]) if data and "n" in data else None


def load_secret(data_dir: Path) -> bytes:
    """Read the signing key from the environment, else from the data folder (created 0600 when absent)."""
    from_environment = os.environ.get(SECRET_ENV)
    if from_environment:
        return from_environment.encode("utf-8")
    path = Path(data_dir) / SECRET_FILE
    if path.is_file():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32).encode("ascii")
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it since the check above
        return path.read_bytes().strip()
    with os.fdopen(descriptor, "wb") as file:
        file.write(secret + b"\n")
    log.info("created the console's session signing key in %s", path)
    return secret


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
