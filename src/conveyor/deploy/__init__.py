"""Deploying a Django project to a directory: releases, a virtualenv each, a migrate
gate, the app server started beside the running one and health-checked, then traffic
moved by the reverse proxy on ``bind`` (docs/deploy.md)."""
