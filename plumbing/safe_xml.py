"""XML from outside (publishers' bodies, buyers' answers), refused when it declares a
document type or entities.

The check runs on what the parser decodes, not on the raw bytes: a body in UTF-16 (or
any encoding its declaration names) spells ``<!DOCTYPE`` with bytes that a search of
the raw text would never find. Expat never fetches external entities, and with no
DTD at all there is nothing to expand either.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.parsers import expat


class UnsafeXml(ValueError):
    """XML with a DOCTYPE or entity declarations."""


def _refuse(*args: object) -> None:
    raise UnsafeXml("XML with a DOCTYPE or entities is not accepted")


def parse_xml(body: bytes) -> ET.Element:
    """The root element of ``body``; ``UnsafeXml`` for a DTD or entities, ``ValueError``
    (with the parser's message) for what is not XML."""
    checker = expat.ParserCreate()
    for handler in (
        "StartDoctypeDeclHandler",
        "EntityDeclHandler",
        "UnparsedEntityDeclHandler",
        "ExternalEntityRefHandler",
    ):
        setattr(checker, handler, _refuse)
    try:
        checker.Parse(body, True)
    except expat.ExpatError as exc:
        raise ValueError(f"not valid XML: {exc}") from exc
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:  # pragma: no cover - expat accepted it above
        raise ValueError(f"not valid XML: {exc}") from exc
