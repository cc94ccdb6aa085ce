from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "conveyor.server.notifications"
    label = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from conveyor.server.notifications import receivers

        receivers.connect()
