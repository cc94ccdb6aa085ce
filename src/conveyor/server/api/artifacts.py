"""``/api/repositories/{name}/runs/{number}/artifacts``: a run's artifacts, listed and
downloaded (zip, as GitHub hands them out, or the stored tar.gz), for viewers, as the
run's logs are."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Field, Query, Router, Schema

from conveyor.server.accounts.models import Role
from conveyor.server.api import lookups
from conveyor.server.api.errors import bad_input, not_found
from conveyor.server.api.schemas import ErrorOut
from conveyor.server.runs import artifacts

router = Router(tags=["artifacts"])


class ArtifactOut(Schema):
    id: int = Field(description="Unique in the run, as upload-artifact's artifact-id output.")
    name: str
    size: int = Field(description="Bytes of the stored tar.gz.")
    digest: str = Field(description="SHA-256 of the stored tar.gz, hex.")
    files: int
    job_key: str = Field(description="The job that uploaded it.")
    created_at: datetime
    expires_at: datetime | None = Field(description="Its retention-days; null: kept with the run.")
    download_url: str


class DownloadFormat(Schema):
    format: str = Field("zip", description="zip (the default) or tar.gz.")


def _when(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


@router.get(
    "/{name}/runs/{number}/artifacts",
    response={200: list[ArtifactOut], 404: ErrorOut},
    summary="List a run's artifacts, oldest first",
)
def list_artifacts(request: HttpRequest, name: str, number: int) -> list[dict[str, Any]]:
    lookups.require_role(request, Role.VIEWER)
    run = lookups.run(name, number)
    base = request.build_absolute_uri(f"/api/repositories/{name}/runs/{number}/artifacts/")
    return [
        {
            "id": artifact.id,
            "name": artifact.name,
            "size": artifact.size,
            "digest": artifact.digest,
            "files": artifact.files,
            "job_key": artifact.job_key,
            "created_at": _when(artifact.created_at),
            "expires_at": _when(artifact.expires_at),
            "download_url": base + artifacts.quote_name(artifact.name),
        }
        for artifact in artifacts.store_of(run.pk).list()
    ]


@router.get(
    "/{name}/runs/{number}/artifacts/{artifact}",
    response={200: str, 400: ErrorOut, 404: ErrorOut},
    summary="Download an artifact (zip or tar.gz, streamed)",
    openapi_extra={
        "responses": {
            200: {
                "description": "The artifact's files, streamed",
                "content": {
                    "application/zip": {"schema": {"type": "string", "format": "binary"}},
                    "application/gzip": {"schema": {"type": "string", "format": "binary"}},
                },
            }
        }
    },
)
def download_artifact(
    request: HttpRequest, name: str, number: int, artifact: str, options: Query[DownloadFormat]
) -> StreamingHttpResponse:
    lookups.require_role(request, Role.VIEWER)
    if options.format not in artifacts.FORMATS:
        raise bad_input("format", f"{options.format!r} is not one of zip, tar.gz")
    run = lookups.run(name, number)
    found = artifacts.store_of(run.pk).get(artifact)
    if found is None:
        raise not_found(f"run #{number} of {name!r} has no artifact {artifact!r}")
    return artifacts.download(request, found, options.format)
