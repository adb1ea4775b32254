"""Running a catalog scenario: its steps, in order, on a fresh Lab -> a RunResult."""

from __future__ import annotations

import os
import time
from typing import Any

from harness.core.result import Call, RunResult
from harness.core.scenario import Scenario, Step
from harness.core.verdict import Verdict, judge
from harness.lab.capture import CaptureError
from harness.lab.lab import Lab, UnwrittenPcap
from harness.lab.netns import NamespaceError
from harness.lab.peer import PeerError, SocketHandle
from harness.lab.topology import Link, TopologyError
from harness.lab.waiting import WaitTimeout
from harness.orchestration.timing import RUN_DEADLINE, Phases
from harness.pcap.annotate import frame_comments


class _Sockets:
    """The socket handles a run has made so far, by the names the scenario gives them."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.by_name: dict[str, SocketHandle] = {"client": lab.client, "server": lab.server}

    def run(self, step: Step) -> Call:
        if step.call == "wait_state":
            return self._wait_state(step)
        if step.call == "wait_wire":
            return self._wait_wire(step)
        handle = self.by_name[step.on]
        args = dict(step.args)
        if step.call == "connect" and "as" in args:
            handle = handle.sibling(args["as"])
            self.by_name[handle.name] = handle
        if step.call == "accept":
            new = handle.accept(args.get("as", "conn"), args.get("deadline"))
            self.by_name[new.name] = new
            assert new.accepted is not None
            return new.accepted
        return _CALLS[step.call](handle, args)

    def _wait_state(self, step: Step) -> Call:
        side, state = step.on, step.args["state"]
        within = float(step.args.get("within", 5.0))
        connection = step.args.get("connection", "client")
        start, began = time.time(), time.monotonic()
        try:
            self.lab.wait_state(side, state, within, connection)
            error = None
        except WaitTimeout as exc:
            error = str(exc)
        args = {"state": state} if connection == "client" else {"state": state,
                                                                "connection": connection}
        return self._record("wait_state", side, args, start, began, error)

    def _wait_wire(self, step: Step) -> Call:
        pattern, within = step.args["pattern"], float(step.args.get("within", 5.0))
        start, began = time.time(), time.monotonic()
        try:
            self.lab.wait_wire(pattern, within)
            error = None
        except WaitTimeout as exc:
            error = str(exc)
        return self._record("wait_wire", "wire", {"pattern": pattern}, start, began, error)

    def _record(self, what: str, sock: str, args: dict[str, Any], start: float, began: float,
                error: str | None) -> Call:
        call = Call(peer="lab", sock=sock, call=what, args=args, ret=None if error else 0,
                    start=start, elapsed=time.monotonic() - began, error=error)
        self.lab.calls.append(call)
        return call


def _send(handle: SocketHandle, args: dict[str, Any]) -> Call:
    data: bytes | int = args["text"].encode() if "text" in args else args.get("bytes", 1)
    return handle.send(data, args.get("deadline"))


_CALLS = {
    "socket": lambda h, a: h.socket(),
    "listen": lambda h, a: h.listen(a.get("backlog", 16)),
    "connect": lambda h, a: h.connect(a.get("deadline")),
    "send": _send,
    "recv": lambda h, a: h.recv(a["bytes"], a.get("deadline")),
    "set_linger": lambda h, a: h.set_linger(a["onoff"], a["linger"]),
    "set_nonblocking": lambda h, a: h.set_nonblocking(a.get("on", True)),
    "set_rcvbuf": lambda h, a: h.set_rcvbuf(a["size"]),
    "set_sndbuf": lambda h, a: h.set_sndbuf(a["size"]),
    "shutdown": lambda h, a: h.shutdown(a["how"]),
    "close": lambda h, a: h.close(a.get("deadline")),
    "exit": lambda h, a: h.exit(a.get("code", 0)),
    "kill": lambda h, a: h.kill(),
    "fill": lambda h, a: h.fill(a.get("within", 5.0)),
    "drain": lambda h, a: h.drain(a.get("deadline")),
    "wait_acked": lambda h, a: h.wait_acked(a.get("within", 5.0)),
    "wait_inq": lambda h, a: h.wait_inq(a["bytes"], a.get("within", 5.0)),
    "collect": lambda h, a: h.collect(),
}


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
        with Phases.of(result).timed("pcapng write"):
            pcap.write()
    return result


def run_and_judge(scenario: Scenario, family: str = "ipv4",
                  pcap_path: str | os.PathLike | None = None, topology: str = "loopback",
                  link: Link | None = None, deadline: float = RUN_DEADLINE
                  ) -> tuple[RunResult, Verdict]:
    """Run a scenario, judge it, and write its pcap with the story told in it: each
    packet's steps and pattern place as packet comments, the verdict as section comments."""
    result, pcap = _run(scenario, family, pcap_path, topology, link, deadline)
    phases = Phases.of(result)
    try:
        with phases.timed("judge"):
            verdict = judge(scenario, result)
    except BaseException:
        if pcap is not None:
            pcap.write()  # the capture is kept even when judging it fails
        raise
    if pcap is not None:
        with phases.timed("pcapng write"):
            told = [f"{scenario.title}", f"pattern: {scenario.pattern}",
                    f"verdict: {verdict.status.upper()}", *(f"- {r}" for r in verdict.reasons)]
            pcap.write(frame_comments(result, verdict.match), told)
    return result, verdict


def _run(scenario: Scenario, family: str, pcap_path: str | os.PathLike | None,
         topology: str, link: Link | None, deadline: float
         ) -> tuple[RunResult, UnwrittenPcap | None]:
    if scenario.link:  # the scenario's own link, which it needs, wins over a user's
        link = Link(**scenario.link)
    try:
        lab = Lab(family=family, scenario=scenario.id, pcap_path=pcap_path, topology=topology,
                  link=link)
    except Exception as exc:  # any failure to build is this run's error
        return RunResult(scenario=scenario.id, family=family, topology=topology,
                         error=f"the lab could not be built: {_one_line(exc)}"), None
    with lab:
        result = _run_steps(lab, scenario, time.monotonic() + deadline, deadline)
        teardown = time.perf_counter()
    result.phases["teardown"] = time.perf_counter() - teardown
    return result, lab.unwritten


def _run_steps(lab: Lab, scenario: Scenario, end: float, deadline: float) -> RunResult:
    """The steps, the final states and the wire, within the run's deadline."""
    sockets = _Sockets(lab)
    for handle in (lab.client, lab.server):
        handle.process.until = end
    error = None
    with lab.phases.timed("exchange"):
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
            error = _one_line(exc)
        if error is None:
            lab.settle(scenario.states, within=max(min(5.0, end - time.monotonic()), 0.0))
    if error is None:
        with lab.phases.timed("drain"):
            lab.wait_pattern(scenario.pattern)
    result = lab.finish(write=False)
    result.error = result.error or error
    return result


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    known = (NamespaceError, TopologyError, CaptureError, PeerError, OSError)
    return text if isinstance(exc, known) else f"{type(exc).__name__}: {text}"
