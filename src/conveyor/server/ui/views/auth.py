"""Log in and log out (Django's own views with the UI's template)."""

from __future__ import annotations

from django.contrib.auth import logout
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.views.decorators.http import require_POST


class LoginPage(LoginView):
    template_name = "ui/login.html"
    redirect_authenticated_user = True


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    """Log out; POST only, so a link or an image elsewhere cannot log anyone out."""
    logout(request)
    response: HttpResponseRedirect = redirect("ui:login")
    return response
