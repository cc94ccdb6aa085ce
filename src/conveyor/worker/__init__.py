"""``conveyor worker``: runs jobs a scaled-out server sends through the broker.

The third front door of the engine (after ``conveyor run`` and the server). A
worker knows the broker's URL, the server's URL and the workers' token, nothing
more: it speaks ``conveyor.server.dispatch.protocol`` (the only module of the
server it imports, and it is free of Django) and runs each job from its plan
with ``engine.job_from_plan``.
"""
