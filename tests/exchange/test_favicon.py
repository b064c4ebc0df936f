"""Browsers ask every site for /favicon.ico; the exchange answers with its icon."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_favicon_is_served_as_an_image_without_login(client: Client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<svg") and b"</svg>" in response.content
    assert "max-age=86400" in response["Cache-Control"]


def test_favicon_is_served_to_a_session_that_still_owes_its_second_factor(
    client: Client, django_user_model: Any, settings: Any
) -> None:
    settings.ADMIN_2FA = "required"
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-1")
    client.force_login(root)
    assert client.get("/admin/").status_code == 302  # the set-up page first…

    response = client.get("/favicon.ico")  # …but the icon is no page
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
