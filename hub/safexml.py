"""The one hardened XML parser of the hub.

Every document the hub reads goes through :func:`parse`: no DTD, no entity expansion, no network
access, a size limit and a depth limit. The bytes are never changed; callers keep the original.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from lxml import etree

from hub.errors import UnsafeXML

MAX_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 64

_PARSER_OPTIONS = dict(
    resolve_entities=False,
    no_network=True,
    dtd_validation=False,
    load_dtd=False,
    huge_tree=False,
    remove_comments=False,
    recover=False,
)


def _new_parser() -> etree.XMLParser:
    return etree.XMLParser(**_PARSER_OPTIONS)


def parse(data: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> etree._Element:
    """Parse ``data`` safely and return the root element.

    Raises UnsafeXML (an InvalidMessage) for text that is not bytes, a document over
    ``max_bytes``, a DTD or entity declaration, nesting deeper than ``max_depth``, or any
    syntax error, with the parser's line and column.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise UnsafeXML(
            f"XML must be given as bytes, not {type(data).__name__}: a decoded string loses the "
            "encoding the sender declared"
        )
    data = bytes(data)
    if len(data) > max_bytes:
        raise UnsafeXML(f"document is {len(data)} bytes; the limit is {max_bytes} bytes")
    if not data.strip():
        raise UnsafeXML("document is empty; expected an XML document")

    try:
        root = etree.fromstring(data, parser=_new_parser())
    except etree.XMLSyntaxError as error:
        # lxml's message ends with its own ", line N, column M"; the finding states the position once.
        message = re.sub(r",? line \d+, column \d+$", "", error.msg)
        raise UnsafeXML(f"malformed XML at line {error.lineno}, column {error.offset}: {message}") from error

    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise UnsafeXML("document has a DTD (<!DOCTYPE>); DTDs and entities are not allowed")
    _check_entities_and_depth(root, max_depth)
    return root


def _check_entities_and_depth(root: etree._Element, max_depth: int) -> None:
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > max_depth:
            raise UnsafeXML(f"document nests deeper than {max_depth} levels at <{etree.QName(element).localname}>")
        for child in element:
            if isinstance(child, etree._Entity):
                raise UnsafeXML(f"document references entity &{child.name};; entities are not allowed")
            stack.append((child, depth + 1))


def localname(element: etree._Element) -> str:
    """Return the element's name without its namespace."""
    return etree.QName(element).localname


def namespace(element: etree._Element) -> str | None:
    """Return the element's namespace URI, or None when it has none."""
    return etree.QName(element).namespace


_compiled: dict[str, etree.XMLSchema] = {}
# libxml2 is not safe when several threads compile schemas at once (a crash was seen under load),
# so every compilation in the process takes this lock; validation afterwards needs no such lock.
COMPILE_LOCK = threading.Lock()


def compile_schema(location: Path) -> etree.XMLSchema:
    """Compile the XSD at ``location`` once per process, read with the hardened parser.

    ``xs:import`` and ``xs:include`` resolve against the files beside it; nothing is fetched.
    """
    key = str(location)
    with COMPILE_LOCK:
        schema = _compiled.get(key)
        if schema is None:
            document = parse(Path(location).read_bytes())
            document.getroottree().docinfo.URL = Path(location).resolve().as_uri()
            schema = _compiled[key] = etree.XMLSchema(document)
    return schema
