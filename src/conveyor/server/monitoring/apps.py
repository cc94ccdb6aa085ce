from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "conveyor.server.monitoring"
    label = "monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A deployment that goes live is what the health watch checks next, closely.
        from conveyor.server.monitoring import watch
        from conveyor.server.runs import signals

        signals.deployment_changed.connect(
            watch.deployment_changed, weak=False, dispatch_uid="monitoring-deployment-live"
        )
