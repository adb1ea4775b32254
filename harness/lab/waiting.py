"""Waiting on a condition with a deadline, and saying which condition it was when time ran out."""

from __future__ import annotations

import time
from collections.abc import Callable

from harness.core.errors import LabError


class WaitTimeout(LabError, TimeoutError):
    """A condition did not become true before its deadline."""

    def __init__(self, what: str, deadline: float) -> None:
        super().__init__(f"timed out after {deadline:.2f} s waiting for: {what}")
        self.what = what
        self.deadline = deadline


def wait_until(condition: Callable[[], bool], deadline: float, what: str) -> None:
    """Return once condition() is true; raise WaitTimeout naming `what` after deadline seconds.

    The kernel gives no notification for the conditions we wait on (a queue drained, a TCP
    state reached), so they are polled: every 0.5 ms at first, backing off to 20 ms.
    """
    end = time.monotonic() + deadline
    pause = 0.0005
    while not condition():
        left = end - time.monotonic()
        if left <= 0:
            raise WaitTimeout(what, deadline)
        time.sleep(min(pause, left))  # the poll interval of a condition wait, not a sync point
        pause = min(pause * 2, 0.02)
