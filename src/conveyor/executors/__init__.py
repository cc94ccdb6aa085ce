"""Executors: how a step's process is started, streamed, timed out and killed."""
