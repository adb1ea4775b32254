"""Judging a run against its scenario: pattern, call outcomes, final states -> pass/fail/error.

`fail` means the kernel did something the scenario did not expect; `error` means the harness
could not observe the run properly (a peer died, a call hung, the capture lost packets).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.conversation import Conversation, split_conversations
from harness.pattern import Match, compile_pattern
from harness.result import Call, RunResult
from harness.scenario import Expect, Scenario

# packetdrill's timing tolerance: the kernel's timers tick, so allow max(4 ms, 12.5 %).
TOLERANCE_FLOOR = 0.004
TOLERANCE_SHARE = 0.125
# EWOULDBLOCK and EAGAIN are one value on Linux; errno.errorcode names it EAGAIN.
_SAME_ERRNO = {"EWOULDBLOCK": "EAGAIN"}


@dataclass
class Verdict:
    """The outcome of judging one run, with every reason it is not a pass."""

    status: str
    reasons: list[str] = field(default_factory=list)
    match: Match | None = None
    conversation: Conversation | None = None

    @property
    def ok(self) -> bool:
        """True for a pass."""
        return self.status == "pass"


def tolerance(expected: float) -> float:
    """How far an observed duration may stray from the expected one."""
    return max(TOLERANCE_FLOOR, TOLERANCE_SHARE * expected)


def _errno(name: str | None) -> str | None:
    return _SAME_ERRNO.get(name, name) if name else None


def check_call(expect: Expect, call: Call) -> list[str]:
    """Each way call differs from expect, in words; empty when it matches."""
    problems: list[str] = []
    got = call.describe()
    if expect.blocked is not None and call.blocked != expect.blocked:
        want = "to still block at its deadline" if expect.blocked else "to return"
        problems.append(f"{call.signature()}: expected {want}; got {got}")
    if expect.errno is not None and _errno(call.errno) != _errno(expect.errno):
        problems.append(f"{call.signature()}: expected errno {expect.errno}; got {got}")
    if expect.ret is not None:
        if call.ret != expect.ret:
            problems.append(f"{call.signature()}: expected = {expect.ret}; got {got}")
        elif expect.errno is None and call.errno is not None:
            problems.append(f"{call.signature()}: expected no error; got {got}")
    if expect.max_elapsed is not None and call.elapsed > expect.max_elapsed:
        problems.append(f"{call.signature()}: expected to return within "
                        f"{expect.max_elapsed:.3f} s; it took {call.elapsed:.3f} s")
    if expect.elapsed is not None:
        slack = tolerance(expect.elapsed)
        if abs(call.elapsed - expect.elapsed) > slack:
            problems.append(f"{call.signature()}: expected to take {expect.elapsed:.3f} s "
                            f"± {slack:.3f}; it took {call.elapsed:.3f} s")
    return problems


def _check_steps(scenario: Scenario, result: RunResult) -> list[str]:
    problems: list[str] = []
    for step, call in zip(scenario.steps, result.calls, strict=False):
        if step.expect is not None:
            problems.extend(check_call(step.expect, call))
    return problems


def _check_states(scenario: Scenario, result: RunResult) -> list[str]:
    return [f"{side}: expected final state {want}; the kernel reports {result.state_of(side)}"
            for side, want in scenario.states.items() if result.state_of(side) != want]


def first_conversation(result: RunResult) -> Conversation | None:
    """The run's connection (the first in the capture), None if nothing was captured."""
    conversations = split_conversations(result.segments)
    return conversations[0] if conversations else None


def judge(scenario: Scenario, result: RunResult) -> Verdict:
    """Compare what the run observed with what the scenario expects."""
    conversation = first_conversation(result)
    tokens = conversation.tokens() if conversation else []
    match = compile_pattern(scenario.pattern).match(tokens)
    verdict = Verdict("pass", match=match, conversation=conversation)
    if result.error:
        verdict.status = "error"
        verdict.reasons.append(result.error)
    if not match.ok:
        verdict.reasons.append(f"wire: {match.sentence()}")
    verdict.reasons += _check_steps(scenario, result) + _check_states(scenario, result)
    if verdict.status == "pass" and verdict.reasons:
        verdict.status = "fail"
    return verdict
