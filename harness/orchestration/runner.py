"""Running a catalog scenario: its steps, in order, on a fresh Lab -> a RunResult, judged."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable
from typing import Any

from harness.core.call_spec import Opens, Runner
from harness.core.calls import CALLS, WITHIN
from harness.core.errors import one_line
from harness.core.link import Link
from harness.core.result import Call, RunResult
from harness.core.scenario import Scenario, Step
from harness.core.verdict import Verdict, judge
from harness.core.vocabulary import RUN_DEADLINE
from harness.lab.lab import Lab
from harness.lab.pcapfile import UnwrittenPcap
from harness.lab.peer import SocketHandle
from harness.lab.waiting import WaitTimeout
from harness.pcap.annotate import frame_comments
from harness.report.terminal import states_text


class _Sockets:
    """The socket handles a run has made so far, by the names the scenario gives them."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.by_name: dict[str, SocketHandle] = {"client": lab.client, "server": lab.server}

    def run(self, step: Step) -> Call:
        """Make one step's call, by the table: the lab's own waits here, the rest by the
        peer that holds the socket."""
        spec = CALLS[step.call]
        if spec.runner is Runner.LAB:
            return LAB_CALLS[step.call](self, step)
        handle = self.by_name[step.on]
        name = spec.opened(step.args)
        if spec.opens is Opens.ITSELF and name is not None:  # the call is made on that socket
            self.by_name[name] = handle.sibling(name)
        outcome = handle.perform(step.call, step.args)
        if isinstance(outcome, SocketHandle):  # accept's connection, dup's descriptor
            self.by_name[outcome.name] = outcome
            assert outcome.made is not None
            return outcome.made
        return outcome

    def wait_state(self, step: Step) -> Call:
        state, connection = step.arg("state"), step.arg("connection")
        args = {"state": state} if connection == "client" else {"state": state,
                                                                "connection": connection}
        return self._timed("wait_state", step.on, args, lambda: self.lab.wait_state(
            step.on, state, float(step.arg(WITHIN.name)), connection))

    def wait_wire(self, step: Step) -> Call:
        pattern = step.arg("pattern")
        return self._timed("wait_wire", "wire", {"pattern": pattern},
                           lambda: self.lab.wire.wait_wire(pattern, float(step.arg("within"))))

    def inject(self, step: Step) -> Call:
        text = step.arg("text")
        payload = text.encode() if text is not None else b"x" * int(step.arg("len"))
        return self.lab.inject(step.arg("from"), step.arg("flags"), int(step.arg("seq")),
                               int(step.arg("ack")), payload, step.arg("win"),
                               step.arg("connection"))

    def _timed(self, what: str, sock: str, args: dict[str, Any],
               wait: Callable[[], None]) -> Call:
        """Run one of the lab's waits as a call of the lab's own."""
        start, began = time.time(), time.monotonic()
        try:
            wait()
            error = None
        except WaitTimeout as exc:
            error = str(exc)
        call = Call(peer="lab", sock=sock, call=what, args=args, ret=None if error else 0,
                    start=start, elapsed=time.monotonic() - began, error=error)
        self.lab.calls.append(call)
        return call


#: The calls the lab makes itself (the table's Runner.LAB), by name.
LAB_CALLS: dict[str, Callable[[_Sockets, Step], Call]] = {
    "wait_state": _Sockets.wait_state, "wait_wire": _Sockets.wait_wire,
    "inject": _Sockets.inject}


def run_scenario(scenario: Scenario, family: str = "ipv4",
                 pcap_path: str | os.PathLike | None = None, topology: str = "loopback",
                 link: Link | None = None, deadline: float = RUN_DEADLINE) -> RunResult:
    """Run every step of scenario in a fresh namespace; the result holds what happened.

    A run that fails at the harness level (a lab that cannot be built, a peer that died, a
    call that hung past its timeout, the run's deadline passed) ends early with `error` set
    and the capture up to then kept; what the kernel returned is never an error.
    """
    result, pcap = _run(scenario, family, pcap_path, topology, link, deadline)
    if pcap is not None:
        began = time.perf_counter()
        pcap.write()
        result = _spent(result, "pcapng write", began)
    return result


def run_and_judge(scenario: Scenario, family: str = "ipv4",
                  pcap_path: str | os.PathLike | None = None, topology: str = "loopback",
                  link: Link | None = None, deadline: float = RUN_DEADLINE
                  ) -> tuple[RunResult, Verdict]:
    """Run a scenario, judge it, and write its pcap with the story told in it: each
    packet's steps and pattern place as packet comments, the verdict as section comments."""
    result, pcap = _run(scenario, family, pcap_path, topology, link, deadline)
    began = time.perf_counter()
    try:
        verdict = judge(scenario, result)
    except BaseException:
        if pcap is not None:
            pcap.write()  # the capture is kept even when judging it fails
        raise
    result = _spent(result, "judge", began)
    if pcap is not None:
        began = time.perf_counter()
        told = [f"{scenario.title}", f"pattern: {scenario.pattern}",
                f"final states: {states_text(result)}",
                f"verdict: {verdict.status.label}", *(f"- {r}" for r in verdict.reasons)]
        pcap.write(frame_comments(result, verdict.match), told)
        result = _spent(result, "pcapng write", began)
    return result, verdict


def _spent(result: RunResult, phase: str, began: float) -> RunResult:
    """result with the time since began (perf_counter) added to phase."""
    return dataclasses.replace(result, phases=result.phases.plus(
        phase, time.perf_counter() - began))


def _run(scenario: Scenario, family: str, pcap_path: str | os.PathLike | None,
         topology: str, link: Link | None, deadline: float
         ) -> tuple[RunResult, UnwrittenPcap | None]:
    if scenario.link is not None:  # the scenario's own link, which it needs, wins over a user's
        link = scenario.link
    try:
        lab = Lab(family=family, scenario=scenario.id, pcap_path=pcap_path, topology=topology,
                  link=link, sysctls=scenario.sysctls)
    except Exception as exc:  # any failure to build is this run's error
        return RunResult(scenario=scenario.id, family=family, topology=topology,
                         error=f"the lab could not be built: {one_line(exc)}"), None
    with lab:
        try:
            result = _run_steps(lab, scenario, time.monotonic() + deadline, deadline)
        except Exception as exc:  # the lab failed after the steps: settling, draining, stopping
            result = _broken(lab, scenario, exc)
        teardown = time.perf_counter()
    return _spent(result, "teardown", teardown), lab.unwritten


def _broken(lab: Lab, scenario: Scenario, exc: Exception) -> RunResult:
    """What a run whose lab failed after its steps still knows: its calls, what was captured
    (written to its pcap when that can be done), and why it is an error."""
    segments: tuple = ()
    pcap = None
    with contextlib.suppress(Exception):  # the capture may be what failed
        segments = tuple(lab.segments())
        pcap = lab.save_pcap()
    return RunResult(scenario=scenario.id, family=lab.family, topology=lab.topology_name,
                     segments=segments, calls=tuple(lab.calls), client=lab.client_address,
                     server=lab.server_address, pcap=str(pcap) if pcap else None,
                     error=f"the lab failed: {one_line(exc)}", phases=lab.stopwatch.phases())


def _run_steps(lab: Lab, scenario: Scenario, end: float, deadline: float) -> RunResult:
    """The steps, the final states and the wire, within the run's deadline."""
    sockets = _Sockets(lab)
    for handle in (lab.client, lab.server):
        handle.process.until = end
    error = None
    with lab.stopwatch.timed("exchange"):
        try:
            for step in scenario.steps:
                if time.monotonic() >= end:
                    error = f"the run's deadline of {deadline:g} s passed before {step.text()}"
                    break
                call = sockets.run(step)
                if call.error:
                    error = f"step {step.text()}: {call.error}"
                    break
        except Exception as exc:  # a broken step ends this run, not the others
            error = one_line(exc)
        if error is None:
            lab.settle(dict(scenario.states), within=max(min(5.0, end - time.monotonic()), 0.0))
    if error is None:
        with lab.stopwatch.timed("drain"):
            lab.wait_pattern(scenario.pattern)
    result = lab.finish(write=False)
    return dataclasses.replace(result, error=result.error or error)
