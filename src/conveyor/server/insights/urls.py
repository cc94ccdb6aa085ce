"""``/metrics`` and the DORA page of a repository."""

from django.urls import URLPattern, path

from conveyor.server.insights import metrics_view, views

app_name = "insights"

urlpatterns: list[URLPattern] = [
    path("metrics", metrics_view.metrics, name="metrics"),
    path("repos/<slug:name>/dora/", views.dora_page, name="dora"),
]
