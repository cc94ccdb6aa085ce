"""One module a ``conveyor`` sub-command; ``conveyor.cli`` imports only the one it runs."""
