"""What the status functions success(), failure(), cancelled() and always() read."""

from __future__ import annotations

from conveyor.records import record

STATUS_FUNCTIONS = frozenset({"success", "failure", "cancelled", "always"})


@record(frozen=True)
class JobStatus:
    """The state a step's (or, for a job `if`, the needed jobs') condition is evaluated in."""

    failed: bool = False  # a previous step (or, for a job `if`, a needed job) failed
    cancelled: bool = False  # the run is being cancelled

    @property
    def succeeded(self) -> bool:
        return not self.failed and not self.cancelled

    @property
    def failing(self) -> bool:
        # GitHub keeps one status per job and cancellation overrides failure, so once a run
        # is being cancelled only always() and cancelled() conditions hold.
        return self.failed and not self.cancelled
