"""Canonical permit ⇄ the Single Window's JSON permit feed, version 1.

One feed document informs the Single Window that a permit was issued, amended, cancelled or
replaced. Its shape (keys marked * may be absent or null)::

    {
      "feedVersion": "1",
      "messageId": "<the hub's message id>",
      "correlationId": "<the hub's correlation id>",
      "submittedBy": "<agency code of the sender, e.g. CITES-MA>",
      "event": "PERMIT_ISSUED" | "PERMIT_AMENDED" | "PERMIT_CANCELLED" | "PERMIT_REPLACED",
      "permit": {
        "number": "<permit number, 1 to 70 characters>",
        "documentType": "EXPORT" | "RE_EXPORT" | "IMPORT" | "OTHER",
        "issuingCountry"*: "<ISO 3166-1 alpha-2>",
        "validFrom"*: "YYYY-MM-DD",
        "validUntil"*: "YYYY-MM-DD",
        "purpose"*: "<CITES purpose code>",
        "exporter"*: {"name"*: "...", "country"*: "<alpha-2>"},
        "importer"*: {"name"*: "...", "country"*: "<alpha-2>"},
        "goods": [
          {"line": "A", "species": "<scientific name>", "term": "<CITES term code>",
           "appendix": "I" | "II" | "III", "source": "<CITES source code>",
           "quantity": "<decimal as a string, above 0>", "unit"*: "<CITES unit code; null for specimens>"}
        ]
      }
    }

Quantities travel as strings so that no decimal is rounded. The Single Window keeps validity as
calendar dates, in the permit's own time zone. The feed carries only part of a permit;
:func:`carried_fields` names that part. Output is deterministic (sorted keys), so a retried
delivery repeats the body its idempotency key was first sent with.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from adapters import MessageType, Permit

FORMAT = "single-window-permit-feed:1"
FEED_VERSION = "1"
CONTENT_TYPE = "application/json"

EVENTS: dict[MessageType, str] = {
    MessageType.PERMIT_ISSUED: "PERMIT_ISSUED",
    MessageType.PERMIT_AMENDED: "PERMIT_AMENDED",
    MessageType.PERMIT_CANCELLED: "PERMIT_CANCELLED",
    MessageType.PERMIT_REPLACED: "PERMIT_REPLACED",
}
DOCUMENT_TYPES = {"E": "EXPORT", "R": "RE_EXPORT", "I": "IMPORT", "O": "OTHER"}
APPENDICES = ("I", "II", "III")
COUNTRY = re.compile(r"^[A-Z]{2}$")
MAX_NUMBER_CHARS = 70


def to_document(permit: Permit, message_type: MessageType, *, message_id: str, correlation_id: str,
                submitted_by: str) -> dict[str, Any]:
    """Build the feed document of one permit event."""
    return {
        "feedVersion": FEED_VERSION,
        "messageId": message_id,
        "correlationId": correlation_id,
        "submittedBy": submitted_by,
        "event": EVENTS[message_type],
        "permit": {
            "number": permit.number,
            "documentType": DOCUMENT_TYPES[permit.type],
            "issuingCountry": permit.issuing_party,
            "validFrom": permit.valid_from.date().isoformat() if permit.valid_from else None,
            "validUntil": permit.valid_until.date().isoformat() if permit.valid_until else None,
            "purpose": permit.purpose,
            "exporter": _party(permit.exporter),
            "importer": _party(permit.importer),
            "goods": [_goods_line(item) for item in permit.items],
        },
    }


def _party(party: Any) -> dict[str, str | None] | None:
    if party is None:
        return None
    return {"name": party.name, "country": party.address.country if party.address else None}


def _goods_line(item: Any) -> dict[str, str | None]:
    return {
        "line": item.line_id,
        "species": item.scientific_name,
        "term": item.term,
        "appendix": item.appendix,
        "source": item.source,
        "quantity": format(item.quantity.value, "f"),
        "unit": item.quantity.unit,
    }


def to_bytes(document: dict[str, Any]) -> bytes:
    """Serialise a feed document: UTF-8 JSON with sorted keys, so the same document gives the same bytes."""
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def from_bytes(body: bytes) -> dict[str, Any]:
    """Parse and validate a feed document. Raises ValueError listing every problem with its field path."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"feed document is not JSON: {error}") from error
    problems = validate(document)
    if problems:
        raise ValueError("; ".join(problems))
    return document  # type: ignore[no-any-return]


# -- validation -------------------------------------------------------------------------------------


def validate(document: Any) -> list[str]:
    """Return every problem of a feed document, each as 'path: what is wrong; expected what'. Empty when valid."""
    if not isinstance(document, dict):
        return [f"(document): {type(document).__name__} is not an object; expected a JSON object"]
    problems = _check_enum(document, "feedVersion", (FEED_VERSION,), "")
    for key in ("messageId", "correlationId", "submittedBy"):
        problems += _check_text(document, key, "", max_chars=200)
    problems += _check_enum(document, "event", tuple(EVENTS.values()), "")

    permit = document.get("permit")
    if not isinstance(permit, dict):
        return problems + ["permit: missing or not an object; expected the permit's fields"]
    return problems + _permit_problems(permit)


def _permit_problems(permit: dict[str, Any]) -> list[str]:
    problems = _check_text(permit, "number", "permit.", max_chars=MAX_NUMBER_CHARS)
    problems += _check_enum(permit, "documentType", tuple(DOCUMENT_TYPES.values()), "permit.")
    problems += _check_country(permit, "issuingCountry", "permit.")
    for key in ("validFrom", "validUntil"):
        problems += _check_date(permit, key, "permit.")
    for key in ("exporter", "importer"):
        problems += _party_problems(permit.get(key), f"permit.{key}")

    goods = permit.get("goods")
    if not isinstance(goods, list) or not goods:
        return problems + ["permit.goods: missing or empty; expected at least one goods line"]
    for index, line in enumerate(goods):
        problems += _goods_problems(line, f"permit.goods[{index}].")
    return problems


def _party_problems(party: Any, path: str) -> list[str]:
    if party is None:
        return []
    if not isinstance(party, dict):
        return [f"{path}: not an object; expected {{\"name\": ..., \"country\": ...}}"]
    return _check_country(party, "country", f"{path}.")


def _goods_problems(line: Any, path: str) -> list[str]:
    if not isinstance(line, dict):
        return [f"{path.rstrip('.')}: not an object; expected a goods line"]
    problems = []
    for key in ("line", "species", "term", "source"):
        problems += _check_text(line, key, path, max_chars=200)
    problems += _check_enum(line, "appendix", APPENDICES, path)
    problems += _check_quantity(line, path)
    return problems


def _check_text(data: dict[str, Any], key: str, path: str, *, max_chars: int) -> list[str]:
    value = data.get(key)
    if isinstance(value, str) and 0 < len(value.strip()) <= max_chars:
        return []
    return [f"{path}{key}: {_shown(value)} is missing or not a text of 1 to {max_chars} characters"]


def _check_enum(data: dict[str, Any], key: str, allowed: tuple[str, ...], path: str) -> list[str]:
    value = data.get(key)
    if value in allowed:
        return []
    return [f"{path}{key}: {_shown(value)} is not allowed; expected one of {', '.join(allowed)}"]


def _check_country(data: dict[str, Any], key: str, path: str) -> list[str]:
    value = data.get(key)
    if value is None or (isinstance(value, str) and COUNTRY.match(value)):
        return []
    return [f"{path}{key}: {_shown(value)} is not a country code; expected two upper-case letters such as FR"]


def _check_date(data: dict[str, Any], key: str, path: str) -> list[str]:
    value = data.get(key)
    if value is None:
        return []
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError):
        return [f"{path}{key}: {_shown(value)} is not a date; expected YYYY-MM-DD"]
    return []


def _check_quantity(line: dict[str, Any], path: str) -> list[str]:
    value = line.get("quantity")
    try:
        quantity = Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        quantity = None
    if quantity is not None and quantity.is_finite() and quantity > 0:
        return []
    return [f"{path}quantity: {_shown(value)} is not a quantity; expected a decimal above 0 as a string, e.g. \"12.5\""]


def _shown(value: Any) -> str:
    return "missing" if value is None else repr(value)[:80]


# -- back to the canonical model -------------------------------------------------------------------


def from_document(document: dict[str, Any]) -> Permit:
    """Read the permit of a valid feed document, with only the fields the feed carries."""
    permit = document["permit"]
    types = {name: code for code, name in DOCUMENT_TYPES.items()}
    data = {
        "number": permit["number"],
        "type": types[permit["documentType"]],
        "issuing_party_code": permit.get("issuingCountry"),
        "valid_from": _midnight(permit.get("validFrom")),
        "valid_until": _midnight(permit.get("validUntil")),
        "purpose": permit.get("purpose"),
        "exporter": _read_party(permit.get("exporter")),
        "importer": _read_party(permit.get("importer")),
        "items": [_read_goods_line(line) for line in permit["goods"]],
    }
    return Permit.model_validate(data)


def _midnight(value: str | None) -> datetime | None:
    # The feed keeps dates only, so the time of day and the offset are not restored.
    return datetime.combine(date.fromisoformat(value), time(), tzinfo=timezone.utc) if value else None


def _read_party(party: dict[str, Any] | None) -> dict[str, Any] | None:
    if party is None:
        return None
    return {"name": party.get("name"), "address": {"country": party.get("country")}}


def _read_goods_line(line: dict[str, Any]) -> dict[str, Any]:
    return {
        "line_id": line["line"],
        "scientific_name": line["species"],
        "term": line["term"],
        "appendix": line["appendix"],
        "source": line["source"],
        "quantity": {"value": Decimal(line["quantity"]), "unit": line.get("unit")},
    }


def carried_fields(permit: Permit) -> dict[str, Any]:
    """Return the part of ``permit`` that the feed carries, to compare a permit with its round trip."""
    parties = {
        role: (party.name, party.address.country if party.address else None) if party else None
        for role, party in (("exporter", permit.exporter), ("importer", permit.importer))
    }
    goods = [
        (item.line_id, item.scientific_name, item.term, item.appendix, item.source, item.quantity.value,
         item.quantity.unit)
        for item in permit.items
    ]
    return {
        "number": permit.number,
        "type": permit.type,
        "issuing_party": permit.issuing_party,
        "valid_from": permit.valid_from.date() if permit.valid_from else None,
        "valid_until": permit.valid_until.date() if permit.valid_until else None,
        "purpose": permit.purpose,
        **parties,
        "goods": goods,
    }
