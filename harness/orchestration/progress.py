"""What `harness run` and `harness verify` print as the runs finish: once, where the kernel's
events cannot be recorded, why; one verdict line per run with a counter, the whole story of
each run that did not pass (of every run with --verbose), and a summary that names every run
that did not pass with its first reason."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from harness.core.result import RunResult
from harness.core.scenario import Scenario
from harness.core.verdict import Status, Verdict
from harness.report.terminal import reason_lines, states_text, story_lines, summary_line

Finished = tuple[Scenario, RunResult, Verdict]


def run_seconds(result: RunResult) -> float:
    """The time a run took, phase by phase (the cross-check's share included)."""
    return sum(result.phases.values())


def progress_line(number: int, total: int, finished: Finished) -> str:
    """`[17/98] PASS  linger-abort-server  ipv4  loopback  0.03 s`; a run that did not pass
    adds the packets of the connection judged and both sides' final states."""
    scenario, result, verdict = finished
    line = (f"[{number:>{len(str(total))}}/{total}] {verdict.status.label:<5} {scenario.id}  "
            f"{result.family}  {result.topology}  {run_seconds(result):.2f} s")
    if verdict.ok:
        return line
    observed = verdict.match.observed if verdict.match is not None else ()
    return (f"{line}  {' '.join(observed)} ({len(observed)} packets)  "
            f"{states_text(result)}")


class Progress:
    """Prints each finished run, in plan order, once its verdict is final."""

    def __init__(self, total: int, verbose: bool = False, out: TextIO | None = None) -> None:
        self.total = total
        self.verbose = verbose
        self._out = out if out is not None else sys.stdout
        self._shown = 0
        self._untraced_told = False

    def show(self, finished: Finished) -> None:
        """One run: its story first when it did not pass (or with verbose), then its one
        verdict line, then its reasons."""
        scenario, result, verdict = finished
        self._shown += 1
        story = self.verbose or not verdict.ok
        lines = story_lines(scenario, result, verdict) if story else []
        if result.kernel is not None and not result.kernel.traced and not self._untraced_told:
            self._untraced_told = True
            lines.insert(0, untraced_line(result.kernel.missing))
        lines.append(progress_line(self._shown, self.total, finished))
        lines += reason_lines(verdict)
        print("\n".join(lines), end="\n\n" if story else "\n", file=self._out, flush=True)


def untraced_line(why: str) -> str:
    """What a command says once when the kernel's events cannot be recorded."""
    return (f"kernel events: not recorded here ({why}); the claims that need them are "
            "undecided, everything else is checked")


def summary(done: Sequence[Finished], seconds: float) -> list[str]:
    """`98 runs in 31.2 s: 97 passed, 1 failed`, then each run that did not pass and its
    first reason."""
    statuses = [verdict.status for _, _, verdict in done]
    lines = [f"{len(done)} runs in {seconds:.1f} s: {summary_line(statuses)}"]
    failed = [(sc, result, verdict) for sc, result, verdict in done if not verdict.ok]
    if failed:
        lines.append("did not pass:")
        lines += [f"  {verdict.status.label:<5} {sc.id}  {result.family}  {result.topology}: "
                  f"{verdict.reasons[0] if verdict.reasons else 'no reason given'}"
                  for sc, result, verdict in failed]
    return lines


def passed(done: Sequence[Finished]) -> bool:
    """True when there were runs and every one passed."""
    return bool(done) and all(verdict.status is Status.PASS for _, _, verdict in done)
