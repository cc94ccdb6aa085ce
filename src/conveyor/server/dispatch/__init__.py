"""How work reaches whoever runs it: the one place that knows the queues.

Runs are queued with django-tasks (``runs.py``) and coordinated in the server: the
embedded pool's threads (``embedded.py``) claim them from the database. A run's
jobs then run where the configured dispatch sends them: in the same process
(embedded), or, with ``CONVEYOR_BROKER_URL`` set, as job plans through Celery to
``conveyor worker`` processes on other machines. Nothing outside this package
names django-tasks-db's tables or Celery.
"""
