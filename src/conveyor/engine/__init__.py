"""The engine: runs a workflow's job graph and reports events. Knows nothing of Django."""
