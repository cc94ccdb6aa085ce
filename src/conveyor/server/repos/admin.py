from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from conveyor.server.repos.models import (
    Delivery,
    Environment,
    EnvironmentSecret,
    EnvironmentVariable,
    Repository,
    Secret,
    ServiceMapping,
    Variable,
)


class _WriteOnlyValue(forms.ModelForm):
    """A form for a model with ``set(value)``: the stored value is never sent back."""

    value = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Leave empty to keep the current value.",
    )

    def clean(self) -> dict:
        data = super().clean() or {}
        if not self.instance.pk and not data.get("value"):
            self.add_error("value", "A new secret needs a value.")
        return data

    def save(self, commit: bool = True) -> object:
        secret = super().save(commit=False)
        if self.cleaned_data.get("value"):
            secret.set(self.cleaned_data["value"])
        if commit:
            secret.save()
        return secret


class EnvironmentSecretForm(_WriteOnlyValue):
    class Meta:
        model = EnvironmentSecret
        fields = ["environment", "name"]


class EnvironmentSecretInline(admin.TabularInline):
    model = EnvironmentSecret
    form = EnvironmentSecretForm
    extra = 0
    fields = ["name", "value"]


class EnvironmentVariableInline(admin.TabularInline):
    model = EnvironmentVariable
    extra = 0
    fields = ["name", "value"]


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    list_display = ["name", "repository", "required_approval", "created_at"]
    list_filter = ["repository"]
    fields = ["repository", "name", "required_approval", "allowed_branches"]
    inlines = [EnvironmentSecretInline, EnvironmentVariableInline]


class SecretForm(_WriteOnlyValue):
    class Meta:
        model = Secret
        fields = ["repository", "name"]


class SecretInline(admin.TabularInline):
    model = Secret
    form = SecretForm
    extra = 0
    fields = ["name", "value"]


class VariableInline(admin.TabularInline):
    model = Variable
    extra = 0
    fields = ["name", "value"]


class ServiceMappingInline(admin.TabularInline):
    model = ServiceMapping
    extra = 0
    fields = ["name", "address"]


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "url",
        "default_branch",
        "poll_interval",
        "require_fork_approval",
        "created_at",
    ]
    search_fields = ["name", "url"]
    readonly_fields = ["created_at"]
    inlines = [SecretInline, VariableInline, ServiceMappingInline]


@admin.register(Secret)
class SecretAdmin(admin.ModelAdmin):
    form = SecretForm
    list_display = ["name", "repository", "updated_at"]
    list_filter = ["repository"]
    search_fields = ["name"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["repository", "provider", "event", "delivery_id", "received_at"]
    list_filter = ["provider", "event"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
