"""Masking personal data in stored bodies, logs and buyers' reason texts.

Buyers' bodies use their own field names and formats (JSON, XML, form, text), so masking
goes by value rather than by key: every form a lead's own personal values may take in
a mapped and encoded body, then anything shaped like an email or a phone number.

A value is masked whatever its length ("Ed", "Jo" included), in whatever case, also
when a mapping glued it to another ("EdLee"); a word that merely contains it (the
"ann" of "cannot") stays readable. See ``scrub_text``.
"""

from __future__ import annotations

import html
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

MASK = "***"
# Starting only where a run of local-part characters starts keeps a long run without an
# "@" (a 150 KB buyer answer of letters) one linear scan instead of one per position.
_EMAIL_RE = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
# Runs of 10+ digits, with up to two separators between them ("(214) 555-0143"), look
# like phone numbers in free text.
_PHONE_RE = re.compile(r"(?<!\d)(?:\+?\d[\s().\-]{0,2}){9,14}\d(?!\d)")
_SHORT = 3
_TOKEN_RE = re.compile(r"[^\W_]+")  # a run of letters and digits
_DATE_FORMATS = ("%m/%d/%Y", "%m-%d-%Y", "%Y%m%d", "%m%d%Y", "%d/%m/%Y", "%Y/%m/%d", "%m/%d/%y")


def _encodings(text: str) -> set[str]:
    """``text`` as it may appear inside a JSON string, an XML text, a form or a URL."""
    forms = {
        text,
        json.dumps(text)[1:-1],
        json.dumps(text, ensure_ascii=False)[1:-1],
        html.escape(text, quote=True),
        html.escape(text, quote=False),
        text.replace("'", "&apos;"),
        urllib.parse.quote_plus(text),
        urllib.parse.quote(text, safe=""),
    }
    return {f for f in forms if f}


def _phone_forms(text: str) -> set[str]:
    digits = re.sub(r"\D", "", text)
    forms = {digits}
    local = digits[-10:]
    if len(local) == 10:
        a, b, c = local[:3], local[3:6], local[6:]
        forms |= {
            local,
            f"({a}) {b}-{c}",
            f"({a}){b}-{c}",
            f"{a}-{b}-{c}",
            f"{a}.{b}.{c}",
            f"{a} {b} {c}",
            f"1{local}",
            f"+1{local}",
        }
    return {f for f in forms if f}


def _date_forms(text: str) -> set[str]:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return set()
    forms = {day.strftime(fmt) for fmt in _DATE_FORMATS}
    forms.add(f"{day.month}/{day.day}/{day.year}")
    return forms


def pii_values(pii: Mapping[str, Any]) -> list[str]:
    """Every form a lead's personal values may take in a mapped, encoded body."""
    values: set[str] = set()
    for key, value in pii.items():
        if value in (None, ""):
            continue
        text = str(value)
        forms = {text, text.strip()}
        if key == "phone":
            forms |= _phone_forms(text)
        elif key == "dob":
            forms |= _date_forms(text.strip())
        elif key == "email" and "@" in text:
            forms.add(text.split("@", 1)[0])
        # Each word of a multi-word value too ("Mary Ann" split by a mapping).
        forms |= {word for word in re.split(r"\s+", text.strip()) if word}
        # Case changes a mapping may make that matching without case does not see
        # (an upper-cased "ǰ" is two characters, "J̌").
        forms |= {f.upper() for f in forms} | {f.lower() for f in forms}
        for form in list(forms):
            values |= _encodings(form)
    return sorted(v for v in values if v.strip())


def _words(values: Iterable[str]) -> frozenset[str]:
    """The letter/digit runs of the values, case-folded: the pieces a mapping may
    re-assemble ("{first_name}{last_name}" makes "EdLee")."""
    return frozenset(w.casefold() for v in values for w in _TOKEN_RE.findall(v))


def _made_of(token: str, words: frozenset[str], longest: int) -> bool:
    """Whether ``token`` (case-folded) is one or more of ``words`` end to end."""
    ends = [True] + [False] * len(token)
    for end in range(1, len(token) + 1):
        for start in range(max(0, end - longest), end):
            if ends[start] and token[start:end] in words:
                ends[end] = True
                break
    return ends[-1]


def scrub_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known personal value, email and phone-like number masked.

    Two passes. A value with anything besides letters and digits in it (an email, a
    phone, a date, "Mary Ann", "O'Brien", an encoded form) is masked wherever it occurs.
    Then every word of the text (a run of letters and digits) made only of the values'
    words is masked, whatever its length or case: "Ed", "ED", "EdLee", but not the
    "ann" inside "cannot" nor the "ed" of "accepted".
    """
    values = sorted({str(s) for s in secrets if s not in (None, "")}, key=len, reverse=True)
    phrases = [v for v in values if len(v) >= _SHORT and not _TOKEN_RE.fullmatch(v)]
    if phrases:
        pattern = "|".join(re.escape(v) for v in phrases)
        text = re.sub(pattern, MASK, text, flags=re.IGNORECASE)
    words = _words(values)
    if words:
        longest = max(map(len, words))

        def mask_word(match: re.Match[str]) -> str:
            token = match.group(0).casefold()
            return MASK if _made_of(token, words, longest) else match.group(0)

        text = _TOKEN_RE.sub(mask_word, text)
    text = _EMAIL_RE.sub(MASK, text)
    return _PHONE_RE.sub(MASK, text)
