"""The repository's notification settings page (under its settings) and its forms."""

from django.urls import URLPattern, path

from conveyor.server.notifications import views

app_name = "notifications"

urlpatterns: list[URLPattern] = [
    path("repos/<slug:name>/settings/notifications/", views.settings_page, name="settings"),
    path(
        "repos/<slug:name>/settings/notifications/channels",
        views.save_channel,
        name="save-channel",
    ),
    path(
        "repos/<slug:name>/settings/notifications/channels/<str:channel>/delete",
        views.delete_channel,
        name="delete-channel",
    ),
    path(
        "repos/<slug:name>/settings/notifications/commit-status",
        views.save_commit_status,
        name="save-commit-status",
    ),
    path(
        "repos/<slug:name>/settings/notifications/commit-status/delete",
        views.delete_commit_status,
        name="delete-commit-status",
    ),
]
