"""Deploying apps: releases, app servers, and the proxy that moves traffic between them."""
