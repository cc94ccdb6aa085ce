from __future__ import annotations

from django.contrib import admin

from conveyor.server.runs.models import Job, Run, Step


class JobInline(admin.TabularInline):
    model = Job
    extra = 0
    fields = ["job_key", "status", "reason", "started_at", "finished_at"]
    readonly_fields = fields
    can_delete = False


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["repository", "number", "workflow_name", "event", "ref", "status"]
    list_filter = ["status", "event", "repository"]
    list_select_related = ["repository"]
    search_fields = ["sha", "commit_message", "workflow_name"]
    raw_id_fields = ["rerun_of"]
    inlines = [JobInline]


@admin.register(Step)
class StepAdmin(admin.ModelAdmin):
    list_display = ["job", "index", "name", "status", "exit_code"]
    list_select_related = ["job"]
    raw_id_fields = ["job"]
