"""The web UI's URLs (fixed for every engineer: see the server notes)."""

from django.urls import URLPattern, URLResolver, path

from conveyor.server.ui.views import (
    actions,
    artifacts,
    auth,
    badges,
    downloads,
    environments,
    live,
    pages,
    workers,
)

app_name = "ui"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", pages.dashboard, name="dashboard"),
    path("login/", auth.LoginPage.as_view(), name="login"),
    path("logout/", auth.logout_view, name="logout"),
    path("repos/<slug:name>/", pages.repository, name="repository"),
    path("repos/<slug:name>/dispatch", actions.dispatch, name="dispatch"),
    path("repos/<slug:name>/runs/<int:number>/", pages.run_page, name="run"),
    path("repos/<slug:name>/runs/<int:number>/events", live.run_events, name="run-events"),
    path("repos/<slug:name>/runs/<int:number>/approve", actions.approve, name="approve"),
    path("repos/<slug:name>/runs/<int:number>/cancel", actions.cancel, name="cancel"),
    path("repos/<slug:name>/runs/<int:number>/rerun", actions.rerun, name="rerun"),
    path(
        "repos/<slug:name>/runs/<int:number>/log/<int:job_id>/<int:step>.txt",
        downloads.step_log,
        name="step-log",
    ),
    path(
        "repos/<slug:name>/runs/<int:number>/artifacts/<str:artifact>",
        artifacts.artifact_download,
        name="artifact",
    ),
    path(
        "repos/<slug:name>/environments/<str:environment>/",
        environments.environment_page,
        name="environment",
    ),
    path(
        "repos/<slug:name>/environments/<str:environment>/deployments/<int:deployment>",
        environments.decide,
        name="deployment-decide",
    ),
    path(
        "repos/<slug:name>/environments/<str:environment>/rollback",
        environments.rollback,
        name="environment-rollback",
    ),
    path(
        "repos/<slug:name>/environments/<str:environment>/health",
        environments.health_settings,
        name="environment-health",
    ),
    path("workers/", workers.workers_page, name="workers"),
    path("workers/scale-out", workers.scale_out_guide, name="scale-out-guide"),
    path("workers/deploy-examples/<str:name>", workers.deploy_example, name="deploy-example"),
    path("badge/<slug:name>.svg", badges.badge, name="badge"),
]
