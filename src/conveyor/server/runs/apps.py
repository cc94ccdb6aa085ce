from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "conveyor.server.runs"
    label = "runs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Wakes the embedded workers when a task is enqueued in this process.
        from conveyor.server.runs import embedded_worker

        embedded_worker.connect_signals()
