"""ASGI entry point: ``conveyor server`` serves this with uvicorn."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conveyor.server.settings")

application = get_asgi_application()
