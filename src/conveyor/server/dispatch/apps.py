from django.apps import AppConfig


class DispatchConfig(AppConfig):
    name = "conveyor.server.dispatch"
    label = "dispatch"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Wakes the embedded workers when a task is enqueued in this process.
        from conveyor.server.dispatch import embedded

        embedded.connect_signals()
