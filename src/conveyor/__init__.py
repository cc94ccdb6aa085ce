"""Conveyor: run GitHub Actions workflows on this machine and on your own server."""

__version__ = "0.1.0"
