"""The pipeline language: YAML text to a validated, typed workflow.

Nothing here imports Django or starts a process.
"""
