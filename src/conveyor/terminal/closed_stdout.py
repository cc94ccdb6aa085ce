"""When the reader of stdout goes away (``conveyor run | head``), the run goes on.

The pipeline's result must not depend on who reads its output: once a write finds
the pipe closed, stdout is pointed at the null device, so every later write (ours,
rich's, the interpreter's last flush) succeeds without saying anything.
"""

from __future__ import annotations

import errno
import os
import sys


def is_closed_pipe(error: BaseException) -> bool:
    return isinstance(error, BrokenPipeError) or (
        isinstance(error, OSError) and error.errno == errno.EPIPE
    )


def stop_writing_stdout() -> None:
    """Send what stdout still holds, and all that follows, to the null device."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError):  # no file descriptor behind stdout: nothing to guard
        pass
