from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "conveyor.server.insights"
    label = "insights"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from conveyor.server.insights import recording

        recording.connect()
