from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("statement", views.StatementView.as_view(), name="api-statement"),
]
