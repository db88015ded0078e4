"""The CITES code lists, shipped as CSV files (``code,description``) in ``hub/codelists/``.

Lists: permit type (box 1), purpose (box 5a), source and appendix (box 10), term (box 9) and
unit (box 11). The term and unit lists are the CITES Trade Database codes of 2013; a term added
to the annual-report Guidelines since then is reported as unknown until its CSV row is added.

Code lists are checked on the model, not in the XSD, so that an unknown code becomes a finding
naming the field instead of a schema failure.
"""

from __future__ import annotations

import csv
import difflib
import io
from functools import cache
from importlib import resources

from hub.errors import Finding, Severity

LIST_NAMES: tuple[str, ...] = ("appendix", "permit_type", "purpose", "source", "term", "unit")

_LABELS = {
    "appendix": "appendix",
    "permit_type": "permit type",
    "purpose": "purpose",
    "source": "source",
    "term": "term",
    "unit": "unit",
}

# A finding quotes a list of up to this many codes whole, and a longer list by a few close codes.
_QUOTE_WHOLE_LIST_MAX = 12
_SUGGESTIONS_MAX = 5


def load(name: str) -> dict[str, str]:
    """Return the code list ``name`` as a new dict from code to description, in file order."""
    return dict(_codes(name))


def is_valid(name: str, code: str) -> bool:
    """Return whether ``code`` is in the code list ``name`` (codes are case-sensitive)."""
    return code in _codes(name)


def check(name: str, code: str | None, path: str, *, subject: str | None = None) -> Finding | None:
    """Return an error finding when ``code`` is not in the code list ``name``, else None.

    An absent code (None) passes, because whether a box is required is checked elsewhere.
    ``path`` is the field path of the finding. ``subject`` replaces the path at the start of the
    message when a friendlier name exists, e.g. "item B term".
    """
    codes = _codes(name)
    if code is None or code in codes:
        return None

    label = _LABELS[name]
    expected = _expected_codes(name, code)
    return Finding(
        severity=Severity.ERROR,
        path=path,
        message=f"{subject or path} '{code}' is not a CITES {label} code; expected {expected}",
        value=code,
        expected=expected,
    )


@cache
def _codes(name: str) -> dict[str, str]:
    if name not in LIST_NAMES:
        raise ValueError(f"code list '{name}' does not exist; expected one of: {', '.join(LIST_NAMES)}")

    text = resources.files("hub").joinpath("codelists", f"{name}.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(io.StringIO(text))
    return {row["code"]: row["description"] for row in rows}


def _expected_codes(name: str, code: str) -> str:
    codes = _codes(name)
    if len(codes) <= _QUOTE_WHOLE_LIST_MAX:
        return "one of " + ", ".join(codes)

    suggestions = difflib.get_close_matches(code.upper(), codes, n=_SUGGESTIONS_MAX, cutoff=0.5)
    if not suggestions:
        suggestions = list(codes)[:_SUGGESTIONS_MAX]
    return f"one of the {len(codes)} codes in the {_LABELS[name]} list (e.g. {', '.join(suggestions)})"
