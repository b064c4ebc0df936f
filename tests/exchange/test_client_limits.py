"""IP allowlists and rate limits for every API key, publisher's or buyer's, with the
client's address read through TRUSTED_PROXIES; and no per-process rate limits in
production."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from buyers.models import Buyer
from exchange.api.ratelimit import ensure_shared_cache
from exchange.configfile import export_config, import_config
from exchange.services import create_api_key
from tests.factories import make_publisher

pytestmark = pytest.mark.django_db

SOME_LEAD = "/api/v1/leads/00000000-0000-4000-8000-000000000000"


@pytest.fixture(autouse=True)
def _fresh_counters() -> Iterator[None]:
    cache.clear()  # key ids may repeat from test to test; their counts must not
    yield
    cache.clear()


def buyer_key(**limits: Any) -> str:
    buyer = Buyer.objects.create(slug="summit", name="Summit", **limits)
    return create_api_key(kind="buyer", buyer=buyer)[1]


def bought(api: Any, key: str, ip: str = "127.0.0.1", **meta: Any) -> Any:
    return api.get(
        "/api/v1/buyer/leads", HTTP_AUTHORIZATION=f"Bearer {key}", REMOTE_ADDR=ip, **meta
    )


def give_back(api: Any, key: str, ip: str = "127.0.0.1") -> Any:
    body = {"lead_id": "00000000-0000-4000-8000-000000000000", "reason": "bad_data"}
    return api.post(
        "/api/v1/returns", body, format="json", HTTP_AUTHORIZATION=f"Bearer {key}", REMOTE_ADDR=ip
    )


@pytest.mark.usefixtures("one_rate_window")
def test_a_buyer_key_is_rate_limited_across_its_endpoints(api: Any) -> None:
    key = buyer_key(rate_limit="3/min")

    answers = [bought(api, key), give_back(api, key), bought(api, key), give_back(api, key)]

    assert [a.status_code for a in answers] == [200, 404, 200, 429]
    assert answers[-1].json()["error"]["code"] == "rate_limited"
    assert 1 <= int(answers[-1]["Retry-After"]) <= 61


def test_a_buyer_key_is_refused_from_outside_its_allowlist(api: Any) -> None:
    key = buyer_key(allowed_ips=["10.0.0.0/8", "2001:db8::/32"])

    assert bought(api, key, ip="127.0.0.1").status_code == 403
    assert give_back(api, key, ip="192.0.2.1").json()["error"]["code"] == "ip_not_allowed"
    assert bought(api, key, ip="10.1.2.3").status_code == 200
    assert bought(api, key, ip="2001:db8::7").status_code == 200


def test_forwarded_for_is_ignored_unless_the_caller_is_a_trusted_proxy(
    api: Any, settings: Any
) -> None:
    _, key = make_publisher(allowed_ips=["203.0.113.0/24"])

    def lead_read(remote: str, forwarded: str) -> int:
        return api.get(
            SOME_LEAD,
            HTTP_AUTHORIZATION=f"Bearer {key}",
            REMOTE_ADDR=remote,
            HTTP_X_FORWARDED_FOR=forwarded,
        ).status_code

    # No trusted proxies: anyone could write the header, so it means nothing.
    assert lead_read("198.51.100.7", "203.0.113.5") == 403
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    # Through our load balancer (10.0.0.2), the client is the hop it appended.
    assert lead_read("10.0.0.2", "203.0.113.5") == 404
    assert lead_read("10.0.0.2", "203.0.113.5, 10.0.0.9") == 404  # two of our proxies
    # A client that writes an allowed address itself is still seen as what it is.
    assert lead_read("10.0.0.2", "203.0.113.5, 198.51.100.7") == 403
    # Not from a trusted proxy: the header is ignored again.
    assert lead_read("198.51.100.7", "203.0.113.5") == 403
    assert lead_read("203.0.113.9", "198.51.100.7") == 404


def test_buyer_limits_come_from_config_as_code_and_go_back_out(api: Any) -> None:
    import_config(
        """
buyers:
  - slug: summit
    name: Summit
    allowed_ips: [10.0.0.0/8]
    rate_limit: 1/min
"""
    )
    key = create_api_key(kind="buyer", buyer=Buyer.objects.get(slug="summit"))[1]

    assert bought(api, key, ip="127.0.0.1").status_code == 403
    assert bought(api, key, ip="10.0.0.1").status_code == 200
    assert bought(api, key, ip="10.0.0.1").status_code == 429
    exported = export_config().text
    assert "allowed_ips: [10.0.0.0/8]" in exported and "rate_limit: 1/min" in exported


def test_production_refuses_to_start_with_rate_limits_counted_per_process(settings: Any) -> None:
    settings.DEBUG = False
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    ensure_shared_cache()  # no limits set: nothing to miscount
    buyer_key(rate_limit="10/s")

    with pytest.raises(ImproperlyConfigured, match="per-process cache") as refused:
        ensure_shared_cache()

    assert "N times the limit" in str(refused.value) and "Redis" in str(refused.value)
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "x"}
    }
    ensure_shared_cache()
    settings.DEBUG = True
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    ensure_shared_cache()  # development: one process, and a warning in the docs


def test_an_account_manager_sets_a_buyers_limits_in_the_admin(
    client: Any, django_user_model: Any, api: Any
) -> None:
    client.force_login(django_user_model.objects.create_superuser("al", "al@x.test", "pw"))
    buyer = Buyer.objects.create(slug="summit", name="Summit")
    key = create_api_key(kind="buyer", buyer=buyer)[1]
    form = {
        "slug": "summit",
        "name": "Summit",
        "is_active": "on",
        "timezone": "UTC",
        "return_window_days": 7,
        "max_return_percent": "20.00",
        "rate_limit": "1/min",
        **{
            f"{prefix}-{field}": 0
            for prefix in ("campaigns", "credentials", "caps")
            for field in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS")
        },
    }

    refused = client.post(
        f"/admin/buyers/buyer/{buyer.pk}/change/", {**form, "allowed_ips": '["10.0.0.0/33"]'}
    )
    saved = client.post(
        f"/admin/buyers/buyer/{buyer.pk}/change/", {**form, "allowed_ips": '["10.0.0.0/8"]'}
    )

    assert "is not an IP range" in refused.content.decode()
    assert saved.status_code == 302
    assert bought(api, key, ip="127.0.0.1").status_code == 403
    assert bought(api, key, ip="10.0.0.1").status_code == 200
    assert bought(api, key, ip="10.0.0.1").status_code == 429
