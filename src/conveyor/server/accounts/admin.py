from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from conveyor.server.accounts.models import ApiToken, Profile


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "role"]
    list_filter = ["role"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    # Tokens are issued from the UI or API (shown once); here they can only be revoked.
    list_display = ["name", "user", "prefix", "created_at", "last_used_at"]
    readonly_fields = ["user", "name", "prefix", "created_at", "last_used_at"]
    exclude = ["token_hash"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
