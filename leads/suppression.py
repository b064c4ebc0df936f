"""The suppression list (DNC, opt-outs): adding people by API, CSV or command, and the
check at post. Only keyed hashes of phone numbers and emails are stored."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

from django.db import transaction
from django.db.models import Q

from exchange.validation import EMAIL_SPEC, FieldError, clean_field
from plumbing.pii import email_hash, normalize_phone, phone_hash

from .models_compliance import Suppression, SuppressionSource

CSV_COLUMNS = ("phone", "email", "reason")
EXPORT_COLUMNS = ("phone_hash", "email_hash", "reason", "source", "added_by", "created_at")
MAX_REASON = 200
MAX_CSV_ERRORS = 50


class SuppressionError(ValueError):
    """Input that cannot be suppressed: ``fields`` maps each field to its problems."""

    def __init__(self, fields: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in fields.items()))
        self.fields = fields


@dataclass(frozen=True, slots=True)
class Person:
    """A person's lookup hashes (either may be empty, never both)."""

    phone_hash: str
    email_hash: str

    def match(self) -> Q:
        q = Q(pk__in=[])
        if self.phone_hash:
            q |= Q(phone_hash=self.phone_hash)
        if self.email_hash:
            q |= Q(email_hash=self.email_hash)
        return q


def person_from(phone: Any, email: Any) -> Person:
    """The hashes of a phone number and/or email as given; raises ``SuppressionError``."""
    errors: dict[str, list[str]] = {}
    phone_text = "" if phone is None else phone
    email_text = "" if email is None else email
    if not isinstance(phone_text, str):
        errors["phone"] = ["must be text"]
    if not isinstance(email_text, str):
        errors["email"] = ["must be text"]
    if errors:
        raise SuppressionError(errors)
    e164 = ""
    if phone_text.strip():
        e164 = normalize_phone(phone_text.strip()) or ""
        if not e164:
            errors["phone"] = ["must be a valid phone number"]
    if email_text.strip():
        try:
            clean_field(EMAIL_SPEC, email_text)
        except FieldError as exc:
            errors["email"] = [str(exc)]
    if not errors and not e164 and not email_text.strip():
        errors["phone"] = ["give a phone number, an email address or both"]
    if errors:
        raise SuppressionError(errors)
    return Person(phone_hash(e164), email_hash(email_text.strip()))


def _reason(reason: Any) -> str:
    if reason is None:
        return ""
    if not isinstance(reason, str) or len(reason) > MAX_REASON or "\x00" in reason:
        raise SuppressionError({"reason": [f"must be text up to {MAX_REASON} characters"]})
    return reason.strip()


def suppress(
    *,
    phone: Any = None,
    email: Any = None,
    reason: Any = "",
    source: str,
    added_by: str = "",
    user: Any = None,
) -> Suppression:
    """Add a person to the suppression list; raises ``SuppressionError`` on bad input."""
    person = person_from(phone, email)
    return suppress_person(
        person, reason=_reason(reason), source=source, added_by=added_by, user=user
    )


def suppress_person(
    person: Person, *, reason: str, source: str, added_by: str = "", user: Any = None
) -> Suppression:
    with transaction.atomic():
        return Suppression.objects.create(
            phone_hash=person.phone_hash,
            email_hash=person.email_hash,
            reason=reason[:MAX_REASON],
            source=source,
            added_by=added_by[:200],
            created_by=user if getattr(user, "pk", None) else None,
        )


def is_suppressed(phone_hash_: str, email_hash_: str) -> bool:
    person = Person(phone_hash_, email_hash_)
    if not (phone_hash_ or email_hash_):
        return False
    return Suppression.objects.filter(person.match()).exists()


# --- CSV --------------------------------------------------------------------------------------


@dataclass(slots=True)
class CsvImport:
    """What an import did (``added``) or why it did nothing (``errors``, by line)."""

    added: int = 0
    errors: list[str] = field(default_factory=list)


def _rows(text: TextIO) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(text)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("phone", "email") if c not in header]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if len(missing) == 2 or unknown:
        want = ",".join(CSV_COLUMNS)
        raise SuppressionError(
            {"file": [f"line 1: the header must be {want} (got {','.join(header)})"]}
        )
    reader.fieldnames = header
    for row in reader:
        yield reader.line_num, {k: (v or "") for k, v in row.items() if k is not None}


def import_csv(
    text: TextIO | Iterable[str], *, source: str, added_by: str = "", user: Any = None
) -> CsvImport:
    """Import ``phone,email,reason`` rows: all of them, or none when any line is bad
    (every bad line is reported by its number, up to ``MAX_CSV_ERRORS``)."""
    stream = text if hasattr(text, "read") else io.StringIO("".join(text))
    result = CsvImport()
    people: list[tuple[Person, str]] = []
    try:
        for line, row in _rows(stream):  # type: ignore[arg-type]
            if not any(value.strip() for value in row.values()):
                continue
            try:
                people.append(
                    (person_from(row.get("phone"), row.get("email")), _reason(row.get("reason")))
                )
            except SuppressionError as exc:
                problems = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.fields.items())
                result.errors.append(f"line {line}: {problems}")
                if len(result.errors) >= MAX_CSV_ERRORS:
                    result.errors.append("… stopped after this many errors")
                    break
    except SuppressionError as exc:
        result.errors.extend(exc.fields["file"])
    except (csv.Error, UnicodeDecodeError) as exc:
        result.errors.append(f"the file is not readable CSV: {exc}")
    if not people and not result.errors:
        result.errors.append("the file has no rows")
    if result.errors:
        return result
    with transaction.atomic():
        Suppression.objects.bulk_create(
            [
                Suppression(
                    phone_hash=p.phone_hash,
                    email_hash=p.email_hash,
                    reason=reason,
                    source=source,
                    added_by=added_by[:200],
                    created_by=user if getattr(user, "pk", None) else None,
                )
                for p, reason in people
            ],
            batch_size=1000,
        )
    result.added = len(people)
    return result


def export_csv(out: SupportsWrite[str]) -> int:
    """Write the whole list as CSV (hashes only: the values were never stored)."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for row in (
        Suppression.objects.order_by("created_at", "id").values_list(*EXPORT_COLUMNS).iterator()
    ):
        writer.writerow([v.isoformat() if hasattr(v, "isoformat") else v for v in row])
        count += 1
    return count


__all__ = ["SuppressionSource", "import_csv", "export_csv", "suppress", "is_suppressed"]
