from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "conveyor.server.runs"
    label = "runs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A run's artifacts go with it, whatever deletes it (retention, the admin, its
        # repository's deletion).
        from django.db.models.signals import post_delete

        from conveyor.server.runs.artifacts import remove_run_artifacts
        from conveyor.server.runs.models import Run

        def remove_artifacts(sender: object, instance: Run, **kwargs: object) -> None:
            from django.db import transaction

            # Only once the rows are gone for good: a rolled-back delete keeps its run.
            pk = instance.pk
            transaction.on_commit(lambda: remove_run_artifacts(pk))

        post_delete.connect(remove_artifacts, sender=Run, weak=False, dispatch_uid="run-artifacts")
