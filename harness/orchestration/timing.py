"""Where a run's wall-clock time goes, phase by phase, for the benchmark and results.json."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

#: The phases of one run, in the order they happen. `exchange` is the scenario's own steps
#: (with whatever waits the protocol needs); everything else is the harness's overhead.
PHASES = ("namespace", "capture start", "peers start", "exchange", "drain", "judge",
          "pcapng write", "teardown", "cross-check")

#: Seconds a run may take, steps to teardown, unless told otherwise.
RUN_DEADLINE = 60.0


class Phases(dict[str, float]):
    """Seconds spent per phase; a phase timed twice adds up."""

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Add the time spent inside the with-block to phase name."""
        began = time.perf_counter()
        try:
            yield
        finally:
            self[name] = self.get(name, 0.0) + time.perf_counter() - began

    @classmethod
    def of(cls, holder: object) -> Phases:
        """holder.phases, made a Phases (and stored back) if it is a plain dict."""
        phases = holder.phases  # type: ignore[attr-defined]
        if not isinstance(phases, cls):
            phases = cls(phases)
            holder.phases = phases  # type: ignore[attr-defined]
        return phases
