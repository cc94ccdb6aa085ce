"""Terminal sinks for ``conveyor run``: the live view, plain text and JSON lines."""
