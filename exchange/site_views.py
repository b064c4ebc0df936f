"""Small site-wide answers outside the admin and the API."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

# The site's icon: a white "S" on the admin header's blue. Browsers ask for
# /favicon.ico on the first page they open; without an answer every first visit logged
# a 404 in the browser's console.
FAVICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<rect width="32" height="32" rx="6" fill="#417690"/>'
    '<text x="16" y="23" font-family="sans-serif" font-size="20" font-weight="bold" '
    'text-anchor="middle" fill="#fff">S</text></svg>'
)


@require_GET
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    """The site icon (SVG, which browsers accept at /favicon.ico)."""
    return HttpResponse(FAVICON_SVG, content_type="image/svg+xml")
