"""Bodies in the formats buyers speak (SPEC §4): JSON, XML and form encoding.

``encode_body`` turns a mapped lead into request bytes; ``decode_body`` turns a buyer's
answer into a document that response rules can walk. Both run per call on the hot path,
so everything that can be prepared (patterns, tag checks) is prepared once.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

import orjson

from plumbing.safe_xml import UnsafeXml, parse_xml

from .transforms import text_of

JSON_TYPE = "application/json"
XML_TYPE = "application/xml"
FORM_TYPE = "application/x-www-form-urlencoded"

_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
# Element names: a letter or underscore, then letters, digits, _ . - and : (prefixes).
_XML_NAME = re.compile(r"[^\W\d][\w.\-:]*")
# Characters XML 1.0 cannot carry at all, even escaped.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_BOM = b"\xef\xbb\xbf"


TEXT_TYPE = "text/plain; charset=utf-8"


def encode_body(payload: Mapping[str, Any], fmt: str, *, root: str = "lead") -> tuple[bytes, str]:
    """Encode a mapped lead as ``fmt`` (json, xml, form or email): (body, content type).

    XML uses the payload's single top-level object as the root element when there is
    one (``{"lead": {...}}`` gives ``<lead>``), otherwise wraps the payload in ``root``.
    Raises ``ValueError`` for an unknown format or a key that cannot be an XML name.
    """
    if fmt == "json":
        return orjson.dumps(payload, default=_json_default), JSON_TYPE
    if fmt == "xml":
        return _encode_xml(payload, root), XML_TYPE
    if fmt == "form":
        return urllib.parse.urlencode(form_pairs(payload)).encode("ascii"), FORM_TYPE
    if fmt == "email":  # buyers.mail: a message a person reads, one field a line
        text = "".join(f"{name}: {value}\n" for name, value in form_pairs(payload))
        return text.encode("utf-8"), TEXT_TYPE
    raise ValueError(f"unknown body format {fmt!r} (json, xml, form or email)")


def form_pairs(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Flatten a nested payload to form fields: ``{"a": {"b": 1}}`` gives ``[("a.b", "1")]``.

    A list repeats its key; booleans are ``true``/``false``; None is an empty value.
    """
    pairs: list[tuple[str, str]] = []
    _flatten(payload, "", pairs)
    return pairs


def decode_body(body: bytes, content_type: str) -> tuple[str, Any]:
    """Parse a buyer's answer: ("json", value), ("xml", root Element) or ("text", str).

    The content type decides; when it names neither JSON nor XML the first character
    does (``{``/``[`` or ``<``), falling back to text if that guess does not parse.
    Raises ``ValueError`` when the content type claims JSON or XML and the body is not.
    XML namespaces are dropped from tag and attribute names so paths stay plain.
    """
    media = content_type.partition(";")[0].strip().lower()
    if "json" in media:
        return "json", _parse_json(body)
    if "xml" in media:
        return "xml", _parse_xml(body)
    first = body.removeprefix(_BOM).lstrip()[:1]
    try:
        if first in (b"{", b"["):
            return "json", _parse_json(body)
        if first == b"<":
            return "xml", _parse_xml(body)
    except ValueError:
        pass  # an HTML error page, say: plain text is all it is
    return "text", body_text(body, content_type)


def body_text(body: bytes, content_type: str) -> str:
    """The body as text, in the charset the content type names (UTF-8 by default)."""
    charset = "utf-8"
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip("\"'")
    try:
        return body.decode(charset, "replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", "replace")


# --- encoding -----------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")  # "12.50", never a float
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _encode_xml(payload: Mapping[str, Any], root: str) -> bytes:
    top, content = root, payload
    if len(payload) == 1:
        ((key, value),) = payload.items()
        if isinstance(value, Mapping):
            top, content = key, value
    parts = [_XML_DECLARATION]
    _element(top, content, parts)
    return "".join(parts).encode("utf-8")


def _element(name: str, value: Any, parts: list[str]) -> None:
    tag = _tag(name)
    if isinstance(value, Mapping):
        if not value:
            parts.append(f"<{tag}/>")
            return
        parts.append(f"<{tag}>")
        for key, child in value.items():
            for item in child if isinstance(child, list | tuple) else (child,):
                _element(key, item, parts)
        parts.append(f"</{tag}>")
    elif value is None:
        parts.append(f"<{tag}/>")
    else:
        text = escape(_XML_FORBIDDEN.sub("", text_of(value)))
        parts.append(f"<{tag}>{text}</{tag}>")


@functools.lru_cache(maxsize=4096)
def _tag(name: Any) -> str:
    # Targets come from a handful of mappings, so each name is checked once per process.
    if not isinstance(name, str) or not _XML_NAME.fullmatch(name):
        raise ValueError(f"{name!r} cannot be an XML element name")
    return name


def _flatten(payload: Mapping[str, Any], prefix: str, pairs: list[tuple[str, str]]) -> None:
    for key, value in payload.items():
        name = f"{prefix}{key}"
        for item in value if isinstance(value, list | tuple) else (value,):
            if isinstance(item, Mapping):
                _flatten(item, f"{name}.", pairs)
            else:
                pairs.append((name, "" if item is None else text_of(item)))


# --- decoding -----------------------------------------------------------------------------


def _parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body.removeprefix(_BOM))
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"body is not valid JSON: {exc}") from exc


def _parse_xml(body: bytes) -> ET.Element:
    # Checked as decoded (plumbing.safe_xml): a UTF-16 answer hides a DOCTYPE from a
    # byte search. A buyer's answer has no use for a DTD.
    try:
        root = parse_xml(body)
    except UnsafeXml as exc:
        raise ValueError("XML answers with a DOCTYPE or entities are refused") from exc
    except ValueError as exc:
        raise ValueError(f"body is {exc}") from exc
    for element in root.iter():
        if element.tag[:1] == "{":
            element.tag = element.tag.partition("}")[2]
        if any(name[:1] == "{" for name in element.attrib):
            element.attrib = {k.rpartition("}")[2]: v for k, v in element.attrib.items()}
    return root
