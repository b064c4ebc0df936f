"""Request bodies: JSON, form-encoded or flat XML. Values keep their text exactly."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from plumbing.safe_xml import UnsafeXml, parse_xml

LEAD_ENVELOPE_KEYS = ("vertical", "sub_id", "ping_id", "mode", "lead_id", "reason", "note")


# A ``\uD800``-``\uDFFF`` escape: JSON text may spell a lone surrogate this way, which
# decodes to a string that is not Unicode and that no database, log or answer can encode.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_lone_surrogate(data: Any) -> bool:
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


class JsonParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        raw = stream.read()
        try:
            # Decimals, not floats: a price or a ZIP must never be rounded on the way in.
            data = json.loads(raw, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ParseError(f"The body is not valid JSON: {exc}") from exc
        # Only \u escapes can make a surrogate (as raw bytes it is not UTF-8): look for one
        # only when the body has such an escape, so ordinary bodies pay nothing.
        if _SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(data):
            raise ParseError(
                "The body is not valid JSON: it holds an unpaired \\uD800-\\uDFFF escape."
            )
        return data


def _nest(flat: dict[str, str]) -> dict[str, Any]:
    """Envelope keys stay at the top; ``lead[x]``/``lead.x`` and other keys are lead fields."""
    body: dict[str, Any] = {}
    lead: dict[str, str] = {}
    for key, value in flat.items():
        if key in LEAD_ENVELOPE_KEYS:
            body[key] = value
        elif key.startswith("lead[") and key.endswith("]"):
            lead[key[5:-1]] = value
        elif key.startswith("lead."):
            lead[key[5:]] = value
        else:
            lead[key] = value
    body["lead"] = lead
    return body


class FormParser(BaseParser):
    media_type = "application/x-www-form-urlencoded"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            text = stream.read().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError("The form body is not UTF-8.") from exc
        return _nest(dict(parse_qsl(text, keep_blank_values=True)))


class XmlParser(BaseParser):
    """``<lead><vertical>solar</vertical><zip>01234</zip>...</lead>`` (flat elements),
    or envelope elements beside a nested ``<lead>``."""

    media_type = "application/xml"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        raw = stream.read()
        try:
            root = parse_xml(raw)  # checked as decoded: UTF-16 cannot hide a DOCTYPE
        except UnsafeXml as exc:
            raise ParseError("XML with a DOCTYPE or entities is not accepted.") from exc
        except ValueError as exc:
            raise ParseError(f"The body is {exc}") from exc
        flat: dict[str, str] = {}
        for child in root:
            if child.tag == "lead" and len(child):
                for field in child:
                    flat[f"lead.{field.tag}"] = field.text or ""
            elif len(child):
                raise ParseError(f"<{child.tag}> must hold text, not elements.")
            else:
                flat[child.tag] = child.text or ""
        return _nest(flat)


class TextXmlParser(XmlParser):
    media_type = "text/xml"
