from django.urls import URLPattern, URLResolver, path

from conveyor.server.api.main import api

urlpatterns: list[URLPattern | URLResolver] = [path("", api.urls)]
