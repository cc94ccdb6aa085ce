"""``/api/worker/``: what ``conveyor worker`` processes call (``protocol.py``)."""

from django.urls import path

from conveyor.server.dispatch import worker_api, worker_artifacts, worker_git

jobs = "jobs/<int:dispatch_id>"
urlpatterns = [
    path("heartbeat", worker_api.heartbeat),
    path(f"{jobs}/claim", worker_api.claim),
    path(f"{jobs}/events", worker_api.events),
    path(f"{jobs}/finish", worker_api.finish),
    path(f"{jobs}/environment", worker_api.environment),
    path(f"{jobs}/environment/release", worker_api.environment_release),
    path(f"{jobs}/artifacts.tar", worker_artifacts.run_artifacts),
    path(f"{jobs}/artifacts/<path:path>", worker_artifacts.artifact),
    path(f"{jobs}/git/info/refs", worker_git.git_info_refs),
    path(f"{jobs}/git/git-upload-pack", worker_git.git_upload_pack),
]
