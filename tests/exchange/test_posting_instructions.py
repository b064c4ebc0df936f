"""Posting instructions (the document a publisher's developer is handed) and the demo's
curl lines: they list the vertical's fields and work as printed, on the first
``make run`` and every later one."""

from __future__ import annotations

import asyncio
import html
import json
import re
import subprocess
import threading
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from django.contrib.auth import get_user_model
from django.core.management import call_command

from buyers.simulator import build_app
from exchange.management.commands.load_demo import DEMO_LIVE_KEY, DEMO_TEST_KEY
from exchange.management.commands.rundemo import banner
from exchange.models import Publisher, Vertical
from plumbing.fields import vertical_schema

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def simulator() -> Iterator[str]:
    """The demo's simulated buyers (``manage.py simulate_buyers``) on a free port."""
    loop = asyncio.new_event_loop()
    # Handlers stop when the exchange hangs up (the hanging buyer would linger 10 s).
    runner = web.AppRunner(build_app(), shutdown_timeout=0.5, handler_cancellation=True)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    # Cleaned up on its own loop, so a buyer that hangs on purpose is cancelled there.
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


@pytest.fixture
def demo(settings: Any, simulator: str) -> None:
    """``make run``'s database: the demo configuration, its buyers at the simulator."""
    settings.DEBUG = True
    settings.SWITCHYARD = {**settings.SWITCHYARD, "SIMULATOR_URL": simulator}
    call_command("load_demo", stdout=StringIO())


@pytest.fixture
def manager(client: Any) -> Any:
    user = get_user_model().objects.create_superuser("am", "am@example.com", "pw")
    client.force_login(user)
    return client


def instructions_url(publisher: Publisher, slug: str = "auto-insurance") -> str:
    return f"/admin/exchange/publisher/{publisher.pk}/instructions/{slug}/"


def shell(line: str, **env: str) -> str:
    done = subprocess.run(
        ["bash", "-c", line],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **env},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def answers(output: str) -> list[dict[str, Any]]:
    """The JSON answers curl printed one after another (no newline between them)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    text = output.strip()
    while at < len(text):
        answer, at = decoder.raw_decode(text, at)
        found.append(answer)
    return found


def pre(page: str, element_id: str) -> str:
    found = re.search(rf'<pre class="curl" id="{element_id}">(.*?)</pre>', page, re.S)
    assert found, f"no #{element_id} on the page"
    return html.unescape(found.group(1))


# --- the page ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_publisher_page_links_posting_instructions_for_each_active_vertical(
    manager: Any, demo: None
) -> None:
    acme = Publisher.objects.get(slug="acme-media")
    Vertical.objects.create(slug="solar", name="Solar")
    Vertical.objects.create(slug="old", name="Old", is_active=False)
    page = manager.get(f"/admin/exchange/publisher/{acme.pk}/change/").content.decode()
    assert f'href="{instructions_url(acme)}"' in page
    assert f'href="{instructions_url(acme, "solar")}"' in page
    assert instructions_url(acme, "old") not in page


@pytest.mark.django_db
def test_the_instructions_list_exactly_the_vertical_s_fields_and_only_key_prefixes(
    manager: Any, demo: None
) -> None:
    acme = Publisher.objects.get(slug="acme-media")
    answer = manager.get(instructions_url(acme))
    assert answer.status_code == 200
    page = answer.content.decode()
    vertical = Vertical.objects.get(slug="auto-insurance")
    schema = vertical_schema(vertical.fields.all())
    assert set(re.findall(r'data-field="([a-z_]+)"', page)) == set(schema)
    row = re.search(r'data-field="credit_tier">(.*?)</tr>', page, re.S).group(1)  # type: ignore[union-attr]
    assert "choice: excellent, good, fair, poor" in row and "ping" in row
    email = re.search(r'data-field="email">(.*?)</tr>', page, re.S).group(1)  # type: ignore[union-attr]
    assert "post" in email and "required" in email and "personal data" in email
    # The keys: their first characters, never the whole key.
    assert DEMO_LIVE_KEY[:16] in page and DEMO_TEST_KEY[:16] in page
    assert DEMO_LIVE_KEY not in page and DEMO_TEST_KEY not in page
    for code in ("no_bids", "below_floor", "duplicate", "suppressed", "pii_in_ping"):
        assert f"<code>{code}</code>" in page
    assert "http://testserver/api/v1/ping" in page


@pytest.mark.django_db
def test_the_print_view_is_the_same_document_without_the_admin_around_it(
    manager: Any, demo: None
) -> None:
    acme = Publisher.objects.get(slug="acme-media")
    page = manager.get(instructions_url(acme)).content.decode()
    assert f'href="{instructions_url(acme)}print/"' in page
    printed = manager.get(f"{instructions_url(acme)}print/").content.decode()
    assert 'id="posting-instructions"' in printed
    assert "nav-sidebar" not in printed and 'id="header"' not in printed
    assert "exchange/instructions.css" in printed and "<script" not in printed
    css = (ROOT / "exchange" / "static" / "exchange" / "instructions.css").read_text()
    assert "@media print" in css and "@page" in css


@pytest.mark.django_db
def test_staff_without_the_publisher_view_permission_get_no_instructions(
    client: Any, demo: None
) -> None:
    clerk = get_user_model().objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(clerk)
    acme = Publisher.objects.get(slug="acme-media")
    assert client.get(instructions_url(acme)).status_code == 403


# --- the lines work as printed, every time ----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_banner_s_lines_sell_on_every_make_run(demo: None, live_server: Any) -> None:
    address = live_server.url.removeprefix("http://")
    sold = []
    for _run in range(2):  # one banner per make run, on the same database
        printed = banner(address)
        lines = printed.splitlines()
        ping = lines[lines.index("Ping:") + 1].strip()
        post = lines[
            lines.index("Ping, then post the full lead with the ping_id of its answer:") + 1
        ]
        direct = lines[lines.index("Direct post (both at once):") + 1]
        pinged = answers(shell(ping))[0]
        assert pinged["status"] == "accepted", pinged
        for line in (post, direct):
            answer = answers(shell(line.strip()))[0]
            assert answer["status"] == "sold", (line, answer)
            sold.append(answer["lead_id"])
    assert len(set(sold)) == 4


@pytest.mark.django_db(transaction=True)
def test_the_instructions_curl_lines_sell_as_printed_every_time(
    demo: None, live_server: Any, client: Any
) -> None:
    user = get_user_model().objects.create_superuser("am", "am@example.com", "pw")
    client.force_login(user)
    acme = Publisher.objects.get(slug="acme-media")
    host = live_server.url.removeprefix("http://")
    for _visit in range(2):
        page = client.get(instructions_url(acme), HTTP_HOST=host).content.decode()
        assert (
            answers(shell(pre(page, "curl-ping"), SWITCHYARD_KEY=DEMO_LIVE_KEY))[0]["status"]
            == "accepted"
        )
        for element in ("curl-post", "curl-direct-post"):
            answer = answers(shell(pre(page, element), SWITCHYARD_KEY=DEMO_LIVE_KEY))[0]
            assert answer["status"] == "sold", (element, answer)


@pytest.mark.django_db(transaction=True)
def test_the_readme_quick_start_answers_the_same_every_time(demo: None, live_server: Any) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Quick start") :]
    block = section[section.index("```sh") + 5 : section.index("```", section.index("```sh") + 5)]
    block = block.replace("http://127.0.0.1:8000", live_server.url)
    for _time in range(2):
        found = answers(shell(block))
        assert [a["status"] for a in found] == ["sold", "sold"], found
