"""Running a plan of runs: one after another, or spread over worker processes.

Each run gets its own namespaces whichever way it is run, so a run in a worker sees what it
would see alone. Workers are forked from the orchestrator (nothing to import again) and take
one run at a time. A worker that dies (SIGKILL, say) costs only the run it was doing, which
becomes an error; a new worker takes its place and the plan goes on. On Ctrl-C every worker
is killed, and with it its peers and namespaces.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import UsageError, one_line
from harness.core.link import Link
from harness.core.result import RunResult
from harness.core.scenario import Scenario
from harness.core.verdict import Verdict, judge
from harness.core.vocabulary import RUN_DEADLINE
from harness.lab.netns import die_with_parent
from harness.orchestration.runner import run_and_judge

Done = tuple[RunResult, Verdict]


@dataclass(frozen=True)
class Planned:
    """One run of a plan: a scenario on a family and topology, and where its pcap goes."""

    scenario: Scenario
    family: str
    topology: str = "loopback"
    pcap: Path | None = None
    link: Link | None = None
    deadline: float = RUN_DEADLINE

    def run(self) -> Done:
        """Run and judge it here, in this process; whatever goes wrong is this run's error."""
        try:
            return run_and_judge(self.scenario, self.family, self.pcap, self.topology,
                                 self.link, self.deadline)
        except Exception as exc:  # a bug of ours, or a lab that broke in a way not foreseen
            return self.lost(f"the run could not be made: {one_line(exc)}")

    def lost(self, why: str) -> Done:
        """The verdict of a run that never finished because its worker died."""
        result = RunResult(scenario=self.scenario.id, family=self.family,
                           topology=self.topology, error=why)
        return result, judge(self.scenario, result)


def execute(plan: Sequence[Planned], jobs: int = 1,
            report: Callable[[int, Done], None] | None = None) -> list[Done]:
    """Run every planned run, jobs at a time; report(index, done) is called in plan order
    as soon as each run and all before it are done. The results come back in plan order."""
    if jobs < 1:
        raise UsageError(f"jobs must be 1 or more, not {jobs}")
    ordered = _InOrder(len(plan), report)
    if jobs == 1 or len(plan) < 2:
        for index, planned in enumerate(plan):
            ordered.add(index, planned.run())
    else:
        _Pool(plan, min(jobs, len(plan)), ordered.add).run()
    return ordered.results()


class _InOrder:
    """Results that arrive in any order, reported in plan order."""

    def __init__(self, size: int, report: Callable[[int, Done], None] | None) -> None:
        self._done: list[Done | None] = [None] * size
        self._next = 0
        self._report = report

    def add(self, index: int, done: Done) -> None:
        self._done[index] = done
        while self._next < len(self._done) and self._done[self._next] is not None:
            if self._report is not None:
                self._report(self._next, self._done[self._next])  # type: ignore[arg-type]
            self._next += 1

    def results(self) -> list[Done]:
        assert all(d is not None for d in self._done), "a planned run was never done"
        return list(self._done)  # type: ignore[arg-type]


def _serve(conn: multiprocessing.connection.Connection, parent: int) -> None:
    """A worker: run what comes down the pipe, send back the outcome, until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the orchestrator's to handle
    die_with_parent(parent)  # a SIGKILLed orchestrator takes its workers along
    while True:
        job = conn.recv()
        if job is None:
            return
        index, planned = job
        conn.send((index, planned.run()))


class _Pool:
    """Worker processes fed one run at a time; a dead worker is replaced."""

    def __init__(self, plan: Sequence[Planned], jobs: int,
                 add: Callable[[int, Done], None]) -> None:
        self._plan = plan
        self._jobs = jobs
        self._add = add
        self._context = multiprocessing.get_context("fork")
        # a worker's pipe -> (its process, the index of the run it is doing, or None)
        self._workers: dict[multiprocessing.connection.Connection,
                            tuple[multiprocessing.process.BaseProcess, int | None]] = {}

    def run(self) -> None:
        waiting = list(range(len(self._plan)))[::-1]  # popped from the end: plan order
        try:
            for _ in range(self._jobs):
                self._spawn()
            while waiting or any(i is not None for _, i in self._workers.values()):
                for conn, (proc, index) in list(self._workers.items()):
                    if index is None and waiting:
                        self._give(conn, proc, waiting.pop())
                for conn in multiprocessing.connection.wait(list(self._workers)):
                    self._collect(conn)  # type: ignore[arg-type]
        finally:
            self._stop()

    def _spawn(self) -> None:
        ours, theirs = self._context.Pipe()
        proc = self._context.Process(target=_serve, args=(theirs, os.getpid()), daemon=True,
                                     name="harness-worker")
        proc.start()
        theirs.close()
        self._workers[ours] = (proc, None)

    def _give(self, conn: multiprocessing.connection.Connection,
              proc: multiprocessing.process.BaseProcess, index: int) -> None:
        conn.send((index, self._plan[index]))
        self._workers[conn] = (proc, index)

    def _collect(self, conn: multiprocessing.connection.Connection) -> None:
        proc, index = self._workers[conn]
        try:
            done_index, done = conn.recv()
        except (EOFError, OSError):
            proc.join()
            del self._workers[conn]
            conn.close()
            if index is not None:
                why = (f"the worker process running it (pid {proc.pid}) died "
                       f"({_ending(proc.exitcode)}); the runs after it went on")
                self._add(index, self._plan[index].lost(why))
            self._spawn()
            return
        self._workers[conn] = (proc, None)
        self._add(done_index, done)

    def _stop(self) -> None:
        """Tell idle workers to stop; kill busy ones (Ctrl-C, or an error of ours)."""
        for conn, (proc, index) in self._workers.items():
            if index is None and proc.is_alive():
                try:
                    conn.send(None)
                except OSError:
                    proc.kill()
            else:
                proc.kill()
        for conn, (proc, _) in self._workers.items():
            proc.join()
            conn.close()
        self._workers.clear()


def _ending(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


def default_jobs() -> int:
    """One worker per CPU this process may run on."""
    return len(os.sched_getaffinity(0))
