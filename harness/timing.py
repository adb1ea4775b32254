"""Where a run's wall-clock time goes, phase by phase, for the benchmark and results.json."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

#: The phases of one run, in the order they happen. `exchange` is the scenario's own steps
#: (with whatever waits the protocol needs); everything else is the harness's overhead.
PHASES = ("namespace", "capture start", "peers start", "exchange", "drain", "judge",
          "pcapng write", "teardown", "cross-check")


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

    def overhead(self) -> float:
        """Everything but the exchange: what the harness itself costs a run."""
        return sum(seconds for name, seconds in self.items() if name != "exchange")
