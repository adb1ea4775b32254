"""The cross-check, run while the plan goes on: finished runs, taken in plan order and in
batches, are read back by one tshark a batch (in a thread of its own), and each run is shown
once its verdict has the check's say in it, so a run has one verdict line, never two.

A batch (at most BATCH runs) is taken when BATCH runs wait, when the first has waited LINGER
seconds, or at the end: a verify of 98 runs starts tshark about ten times, not 98 (a start
costs ~0.15-0.3 s), and a run's line appears at most about a second after the run. Where a
batch costs more than SLOW seconds (tshark in a guest without KVM: ~10 s), batches grow with
that cost (`due`): fewer, larger ones, each run's line later.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Sequence

from harness.core.crosscheck import compare, connection_keys
from harness.core.display_filter import FilterOutcome
from harness.core.errors import UsageError
from harness.core.verdict import CrossCheck
from harness.lab.wireshark import filter_problem
from harness.orchestration.batch import Planned
from harness.orchestration.progress import Finished
from harness.orchestration.tshark import (
    TsharkError,
    TsharkMissing,
    filter_frames,
    read_pcaps,
    tshark_version,
)

BATCH = 12
LINGER = 1.0
#: Seconds a batch may cost before batches grow with their cost.
SLOW = 1.0
#: How many times the last batch's cost a run may wait for its batch, where batches are slow.
SLOW_LINGER = 10


def due(cost: float) -> tuple[int, float]:
    """How many runs a batch may take and how long its first run may wait for it, given what
    the last batch cost (seconds; 0 before the first)."""
    if cost <= SLOW:
        return BATCH, LINGER
    return BATCH * math.ceil(cost), SLOW_LINGER * cost


def tshark_tool(required: bool) -> str | None:
    """tshark's version for the cross-check; None (said on stdout) when it is missing and not
    required, TsharkMissing when it is."""
    try:
        return tshark_version()
    except TsharkMissing as exc:
        if required:
            raise
        print(f"note: {exc}; runs are judged without it")
        return None


@dataclasses.dataclass
class Tally:
    """What the cross-check has done so far."""

    tool: str
    pcaps: int = 0
    frames: int = 0
    seconds: float = 0.0
    batches: int = 0
    disagree: int = 0
    filters: int = 0
    filter_seconds: float = 0.0
    failures: list[str] = dataclasses.field(default_factory=list)

    def line(self) -> str:
        """`cross-check: TShark 4.0.17 read 98 pcaps (766 frames) in 9 batches, 1.20 s; ...`."""
        if not self.pcaps and self.failures:
            return f"cross-check: {self.failures[0]}"
        text = (f"cross-check: {self.tool} read {self.pcaps} pcaps ({self.frames} frames) in "
                f"{self.batches} batch{'es' * (self.batches != 1)}, {self.seconds:.2f} s; "
                f"{self.pcaps - self.disagree} agree with our listing, {self.disagree} disagree")
        if self.filters:
            text += (f"; {self.filters} display filter evaluation{'s' * (self.filters != 1)} "
                     f"in {self.filter_seconds:.2f} s")
        return text + "".join(f"; failed: {why}" for why in self.failures)


def cross_check(done: Sequence[Finished], tally: Tally) -> list[Finished]:
    """The runs with their verdicts made anew by one tshark's reading of their pcaps (an
    ERROR where the readings differ or tshark fails), each charged its share of the time in
    its `cross-check` phase."""
    checked = [i for i, (_, result, _) in enumerate(done) if result.pcap]  # no lab, no pcap
    out = list(done)
    if not checked:
        return out
    began = time.monotonic()
    try:
        views = read_pcaps([done[i][1].pcap or "" for i in checked],
                           [connection_keys(done[i][1].segments) for i in checked])
    except (TsharkError, TsharkMissing) as exc:  # failed, or gone since it was found
        tally.failures.append(str(exc))
        for i in checked:
            sc, result, verdict = done[i]
            out[i] = (sc, result, verdict.failed_to_check(str(exc)))
        return out
    spent = time.monotonic() - began
    tally.batches += 1
    tally.seconds += spent
    for i, theirs in zip(checked, views, strict=True):
        sc, result, verdict = done[i]
        problems = tuple(compare(result.segments, theirs, sc.wireshark_warnings))
        tally.pcaps += 1
        tally.frames += len(theirs)
        tally.disagree += bool(problems)
        timed = dataclasses.replace(result, phases=result.phases.plus("cross-check",
                                                                      spent / len(checked)))
        out[i] = (sc, timed, verdict.cross_checked(CrossCheck(tally.tool, len(theirs),
                                                              problems)))
    return _filtered(out, [i for i in checked if done[i][0].display_filters], tally)


def _filtered(done: list[Finished], wanted: Sequence[int], tally: Tally) -> list[Finished]:
    """The runs at wanted with what their scenarios' display filters found: one tshark for
    each distinct filter, over the pcaps of the runs that ask it."""
    found: dict[tuple[int, str], FilterOutcome] = {}
    for text in sorted({f.text for i in wanted for f in done[i][0].display_filters}):
        runs = [i for i in wanted if any(f.text == text for f in done[i][0].display_filters)]
        began = time.monotonic()
        try:
            frames = filter_frames([done[i][1].pcap or "" for i in runs], text,
                                   [connection_keys(done[i][1].segments) for i in runs])
        except (TsharkError, TsharkMissing) as exc:
            frames, error = [() for _ in runs], str(exc)
        else:
            error = None
        tally.filters += 1
        tally.filter_seconds += time.monotonic() - began
        for i, numbers in zip(runs, frames, strict=True):
            for wish in done[i][0].display_filters:
                if wish.text == text:
                    found[(i, text)] = FilterOutcome(wish, numbers, error)
    out = list(done)
    for i in wanted:
        sc, result, verdict = done[i]
        out[i] = (sc, result, verdict.filtered([found[(i, f.text)]
                                                for f in sc.display_filters]))
    return out


def check_filters(plan: Sequence[Planned]) -> None:
    """UsageError (one line) for the first display filter of the plan that tshark cannot
    compile, naming its scenario: said before anything runs."""
    texts = {wish.text for planned in plan for wish in planned.scenario.display_filters}
    if len(texts) > 1 and filter_problem(" || ".join(f"({t})" for t in sorted(texts))) is None:
        return  # one tshark start compiled them all; apart only to name the one that fails
    seen: set[str] = set()
    for planned in plan:
        for wish in planned.scenario.display_filters:
            if wish.text in seen:
                continue
            seen.add(wish.text)
            problem = filter_problem(wish.text)
            if problem:
                raise UsageError(f"{planned.scenario.path or planned.scenario.id}: display "
                                 f"filter {wish.text!r}: {problem}")


def without_tshark(done: Sequence[Finished]) -> list[Finished]:
    """The runs, those with display filters made ERRORs: nothing could evaluate them."""
    why = "tshark is not installed (apt-get install tshark)"
    return [(sc, result, verdict.filtered([FilterOutcome(f, (), why)
                                           for f in sc.display_filters])
             if sc.display_filters else verdict) for sc, result, verdict in done]


class CheckedInOrder:
    """Finished runs in, in plan order; each shown once checked (or at once, with no check)."""

    def __init__(self, check: Callable[[Sequence[Finished]], list[Finished]] | None,
                 show: Callable[[Finished], None]) -> None:
        self._check = check
        self._show = show
        self._pending: list[Finished] = []
        self._since = 0.0
        self._cost = 0.0  # seconds the last batch took to check
        self._closed = False
        self._done: list[Finished] = []
        self._failure: BaseException | None = None
        self._wake = threading.Condition()
        self._thread = None
        if check is not None:
            self._thread = threading.Thread(target=self._serve, name="harness-cross-check",
                                            daemon=True)
            self._thread.start()

    def add(self, finished: Finished) -> None:
        """The next run of the plan has finished."""
        if self._check is None:
            self._show(finished)
            self._done.append(finished)
            return
        with self._wake:
            if not self._pending:
                self._since = time.monotonic()
            self._pending.append(finished)
            self._wake.notify()

    def close(self) -> list[Finished]:
        """Wait until every run added is checked and shown; all of them, in plan order."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()
        if self._failure is not None:
            raise self._failure
        return list(self._done)

    def _serve(self) -> None:
        try:
            while (batch := self._next_batch()) is not None:
                began = time.monotonic()
                checked = self._check(batch)  # type: ignore[misc]
                self._cost = time.monotonic() - began
                for finished in checked:
                    self._show(finished)
                    self._done.append(finished)
        except BaseException as exc:  # a bug of ours: raised again by close()
            self._failure = exc

    def _next_batch(self) -> list[Finished] | None:
        """Wait for a batch to be due; None once closed with nothing left."""
        with self._wake:
            size, linger = due(self._cost)
            while True:
                waited = time.monotonic() - self._since
                if self._pending and (self._closed or len(self._pending) >= size
                                      or waited >= linger):
                    batch, self._pending = self._pending[:size], self._pending[size:]
                    self._since = time.monotonic()
                    return batch
                if self._closed:
                    return None
                self._wake.wait(linger - waited if self._pending else None)
