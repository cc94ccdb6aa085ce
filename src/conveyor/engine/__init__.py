"""The engine: runs a workflow's job graph and reports events. Knows nothing of Django.

Entry point: ``conveyor.engine.runner.run_workflow(workflow, RunOptions(...), executor, sink)``.

- ``runner``: the scheduler (job graph, matrices, fail-fast, cancellation, run result).
- ``job_runner``: one job instance, step by step (``if``, env, shells, timeouts, files).
- ``log_stream``: raw output bytes to masked ``LogLines`` and workflow commands.
- ``masking``, ``workflow_commands``, ``env_files``, ``shells``: the pieces it uses.
- ``contexts``, ``git_info``: the ``github``/``runner`` contexts and default environment.
- ``events``: the vocabulary sinks receive; ``record.RunRecorder``: a sink keeping structure.
"""
