"""Posting instructions: the document an account manager hands to a publisher's
developer for one vertical — endpoints, key prefixes, the vertical's fields, the codes,
and curl lines for ping, post and direct post that work as printed.

The curl lines carry a new fictional person each time they are made
(``lead_examples.fresh_person``): a person the exchange sold is refused as a duplicate
for ``DUPLICATE_WINDOW_DAYS``, so lines that named the same person every time would
sell once and then answer ``duplicate``. The demo's banner (``rundemo``) prints the same
lines.
"""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plumbing.fields import PII_FIELDS, FieldSpec, Stage, vertical_schema

from .api.codes import ERROR_CODES, REASON_CODES
from .lead_examples import example_lead, example_value, fresh_person
from .models import Publisher, Vertical

KEY_VARIABLE = "$SWITCHYARD_KEY"
_PING_ID = "__PING_ID__"
# Reads the ping_id out of the ping's JSON answer with sed, which every shell has.
_READ_PING_ID = r"""sed -E 's/.*"ping_id": ?"([^"]+)".*/\1/'"""


@dataclass(frozen=True)
class FieldRow:
    name: str
    type: str
    stage: str
    required_at_ping: bool
    required_at_post: bool
    choices: tuple[str, ...]
    personal: bool
    example: str


def field_rows(schema: Mapping[str, FieldSpec]) -> list[FieldRow]:
    """The vertical's fields: ping-stage first, then post-stage, required ones first."""
    specs = sorted(
        schema.values(),
        key=lambda s: (s.stage != Stage.PING, not (s.required_at_ping or s.required_at_post)),
    )
    return [
        FieldRow(
            name=s.name,
            type=s.type,
            stage=s.stage,
            required_at_ping=s.required_at_ping,
            required_at_post=s.required_at_post,
            choices=s.choices,
            personal=s.name in PII_FIELDS,
            example=json.dumps(example_value(s)),
        )
        for s in specs
    ]


def _curl(url: str, auth: str, body: dict[str, Any], extra_headers: tuple[str, ...] = ()) -> str:
    data = shlex.quote(json.dumps(body))
    # A ping_id read from the ping's answer by the shell, spliced into the quoted body.
    data = data.replace(_PING_ID, "'\"$PING_ID\"'")
    headers = " ".join(f"-H {shlex.quote(h)}" for h in extra_headers)
    return (
        f"curl -s {url} -H {auth} -H 'Content-Type: application/json' "
        + (f"{headers} " if headers else "")
        + f"-d {data}"
    )


def curl_lines(
    base_url: str, vertical_slug: str, schema: Mapping[str, FieldSpec], key: str | None = None
) -> dict[str, str]:
    """Shell lines for a ping, a ping then its post, and a direct post. ``key`` is a
    whole key to print in the lines (the demo's public one); without it the lines read
    the key from ``$SWITCHYARD_KEY``."""
    base = base_url.rstrip("/") + "/api/v1"
    auth = (
        shlex.quote(f"Authorization: Bearer {key}")
        if key
        else f'"Authorization: Bearer {KEY_VARIABLE}"'
    )
    ping_body = {"vertical": vertical_slug, "lead": example_lead(schema, Stage.PING)}
    ping = _curl(f"{base}/ping", auth, ping_body)
    post_body = {
        "ping_id": _PING_ID,
        "lead": example_lead(schema, Stage.POST, fresh_person()),
    }
    post = f"PING_ID=$({ping} | {_READ_PING_ID}) && {_curl(f'{base}/post', auth, post_body)}"
    direct_body = {
        "vertical": vertical_slug,
        "lead": example_lead(schema, Stage.POST, fresh_person()),
    }
    direct = _curl(f"{base}/leads", auth, direct_body, (f"Idempotency-Key: {uuid.uuid4()}",))
    return {"ping": ping, "post": post, "direct_post": direct}


def instructions_context(publisher: Publisher, vertical: Vertical, base_url: str) -> dict[str, Any]:
    """What the instructions page shows."""
    schema = vertical_schema(vertical.fields.all())
    keys = [k for k in publisher.keys.all() if k.is_active]
    base = base_url.rstrip("/")
    return {
        "publisher": publisher,
        "vertical": vertical,
        "endpoints": [
            ("Ping", "POST", f"{base}/api/v1/ping"),
            ("Post (after a ping)", "POST", f"{base}/api/v1/post"),
            ("Direct post", "POST", f"{base}/api/v1/leads"),
            ("A lead's status", "GET", f"{base}/api/v1/leads/{{lead_id}}"),
        ],
        "docs_url": f"{base}/api/docs/",
        "keys": keys,
        "fields": field_rows(schema),
        "curl": curl_lines(base, vertical.slug, schema),
        "reason_codes": sorted(REASON_CODES.items()),
        "error_codes": ERROR_CODES,
        "ping_ttl_seconds": vertical.ping_ttl_seconds,
    }
