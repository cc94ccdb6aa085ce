"""``/hooks/...``: the local post-receive hook and the forges' webhooks."""

from django.urls import path

from conveyor.server.repos import views

urlpatterns = [
    path("local/<slug:name>", views.local_hook, name="hook-local"),
    *(
        path(f"{forge}/<slug:name>", views.forge_hook, {"forge": forge}, name=f"hook-{forge}")
        for forge in views.FORGES
    ),
]
