"""Log in and log out (Django's own views with the UI's template)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import logout
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from conveyor.server.accounts import login_limit


class LimitedLoginForm(AuthenticationForm):
    """Django's login form, saying so when the name is locked out (``login_limit``)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Your user name and password did not match. Please try again.",
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        if username:
            wait = login_limit.locked_for(username)
            if wait:
                # Checked before the password: while locked, the right one is refused too.
                raise ValidationError(
                    "Too many wrong passwords for this user name: logging in is locked "
                    f"for {login_limit.wait_text(wait)}. Try again then.",
                    code="locked_out",
                )
        return super().clean()


class LoginPage(LoginView):
    template_name = "ui/login.html"
    redirect_authenticated_user = True
    form_class = LimitedLoginForm


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    """Log out; POST only, so a link or an image elsewhere cannot log anyone out."""
    logout(request)
    response: HttpResponseRedirect = redirect("ui:login")
    return response
