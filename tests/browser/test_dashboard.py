"""The operations dashboard in a real browser, under the hardening work's CSP: every
chart draws with data, the filters change the figures, no console error."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError

from reporting import rollups
from tests.reporting.traffic import build_market, send

from .conftest import admin_login, assert_clean

pytestmark = pytest.mark.django_db(transaction=True)

# What the hardening work serves (django-csp): no inline script or style, 'self' only.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'; form-action 'self'"
)


def under_csp(page: Any) -> list[str]:
    """Serve every page of the live server with the CSP header and record each
    violation the browser reports."""
    violations: list[str] = []

    def add_policy(route: Any) -> None:
        try:
            response = route.fetch()
            headers = {**response.headers, "content-security-policy": CSP}
            route.fulfill(response=response, headers=headers)
        except PlaywrightError:
            # The page moved on (a navigation, or the test's end closing it) while this
            # request was in flight: there is no one left to serve it to.
            pass

    page.route("**/*", add_policy)
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return violations


@pytest.fixture
def traffic(api: Any, buyer_server: Any) -> Any:
    market = build_market(buyer_server)
    mix = [
        ("acme", "good", "post"),
        ("acme", "excellent", "post"),
        ("acme", "poor", "ping"),
        ("zeta", "good", "direct"),
        ("zeta", "excellent", "direct"),
        ("zeta", "fair", "direct"),
    ]
    send(api, market, mix * 2, start=1)
    rollups.refresh()
    return market


def tile(page: Any, figure: str) -> str:
    return page.inner_text(f'[data-figure="{figure}"]').strip()


def test_the_dashboard_draws_every_chart_and_filters_change_the_figures_under_the_csp(
    page: Any, django_user_model: Any, traffic: Any
) -> None:
    violations = under_csp(page)
    django_user_model.objects.create_superuser("ops", "ops@example.com", "a-long-pass-phrase")
    admin_login(page, "ops", "a-long-pass-phrase")
    page.click("#reports-module a >> nth=0")  # the admin index links the dashboard
    page.wait_for_selector("#tiles")
    assert page.url.endswith("/reports/")
    charts = page.locator("svg.chart")
    assert charts.count() == 5
    for i in range(charts.count()):
        chart = charts.nth(i)
        drawn = chart.locator("rect.bar, path.line").count()
        assert drawn > 0, f"chart {chart.get_attribute('aria-label')} drew nothing"
        box = chart.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 50
    # The stylesheet applied (a chart's line is coloured by class, not inline).
    stroke = page.eval_on_selector("path.line.s0", "e => getComputedStyle(e).stroke")
    assert stroke == "rgb(65, 118, 144)"
    everyone = tile(page, "pings")
    assert everyone == "12"

    page.select_option("select[name=publisher]", label="Zeta")
    page.click("#dash-filters button[type=submit]")
    page.wait_for_selector("#tiles")
    assert "publisher=" in page.url
    assert tile(page, "pings") == "6"
    assert tile(page, "pings") != everyone
    assert page.locator("#buckets tbody tr").count() >= 1

    page.click("text=Last 7 days")
    page.wait_for_selector("#tiles")
    assert tile(page, "pings") == "12"
    assert violations == []
    assert_clean(page)


def test_view_site_opens_the_dashboard(page: Any, django_user_model: Any) -> None:
    django_user_model.objects.create_superuser("ops", "ops@example.com", "a-long-pass-phrase")
    admin_login(page, "ops", "a-long-pass-phrase")
    page.click("text=View site")
    page.wait_for_selector("#dash-filters")
    assert page.url.endswith("/reports/")
    assert_clean(page)
