"""Finance's pages under ``/reports/`` (namespace ``finance``); the dashboard's own
urls live beside these in ``reporting.urls``."""

from __future__ import annotations

from django.urls import path

from . import finance_views as views

app_name = "finance"

urlpatterns = [
    path("finance/", views.finance_index, name="index"),
    path(
        "statements/<str:party>/<slug:slug>/",
        views.statement_view,
        name="statement",
    ),
    path("reconciliation/", views.reconciliation_view, name="reconciliation"),
    path("invoices/", views.invoice_list, name="invoices"),
    path("invoices/issue/", views.invoice_issue, name="invoice-issue"),
    path("invoices/<str:number>/", views.invoice_detail, name="invoice"),
    path("invoices/<str:number>/void/", views.invoice_void, name="invoice-void"),
]
