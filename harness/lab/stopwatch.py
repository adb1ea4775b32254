"""Where a run's wall-clock time goes while it runs, phase by phase."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from harness.core.result import Phases


class Stopwatch:
    """Seconds spent per phase so far; a phase timed twice adds up. phases() freezes them."""

    def __init__(self) -> None:
        self._spent: dict[str, float] = {}

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Add the time spent inside the with-block to phase name."""
        began = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - began)

    def add(self, name: str, seconds: float) -> None:
        """Count seconds more in phase name."""
        self._spent[name] = self._spent.get(name, 0.0) + seconds

    def phases(self) -> Phases:
        """The phases timed so far, as a frozen value."""
        return Phases(tuple(self._spent.items()))
