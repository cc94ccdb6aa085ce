"""Root URLs: each area's app (ui, api) fills in its own ``urls.py``."""

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path


def healthz(request: HttpRequest) -> JsonResponse:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/worker/", include("conveyor.server.dispatch.urls")),
    path("api/", include("conveyor.server.api.urls")),
    path("hooks/", include("conveyor.server.repos.urls")),
    path("", include("conveyor.server.notifications.urls")),
    path("", include("conveyor.server.insights.urls")),
    path("", include("conveyor.server.ui.urls")),
]
