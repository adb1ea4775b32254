"""Judging a run against its scenario: pattern, call outcomes, final states -> pass/fail/error.

`fail` means the kernel did something the scenario did not expect; `error` means the harness
could not observe the run properly (a peer died, a call hung, the capture lost packets). A
verdict is frozen once judged: a later check (the cross-check) makes a new one.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.core.claims import UNDECIDED
from harness.core.conversation import Conversation, split_conversations
from harness.core.decide import ClaimOutcome, decide
from harness.core.display_filter import FilterOutcome, outcomes_problems
from harness.core.expect import check_call
from harness.core.kernel_resets import unexplained_resets
from harness.core.kernel_states import final_state_problem
from harness.core.pattern import Match, compile_pattern
from harness.core.result import RunResult
from harness.core.scenario import Scenario
from harness.core.vocabulary import SIDES


class Status(enum.StrEnum):
    """How a run came out; the value is what results.json says."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"

    @property
    def label(self) -> str:
        """`PASS`, `FAIL`, `ERROR`: how a verdict line writes it."""
        return self.value.upper()


@dataclass(frozen=True)
class CrossCheck:
    """What an independent decoder (tshark) made of a run's pcap, compared with ours."""

    by: str
    frames: int
    disagreements: tuple[str, ...] = ()

    @property
    def agrees(self) -> bool:
        """True when the two readings matched frame by frame."""
        return not self.disagreements

    def to_json(self) -> dict[str, Any]:
        """The check for results.json."""
        return {"by": self.by, "frames": self.frames, "agrees": self.agrees,
                **({"disagreements": list(self.disagreements)} if self.disagreements else {})}


@dataclass(frozen=True)
class Verdict:
    """The outcome of judging one run, with every reason it is not a pass."""

    status: Status
    reasons: tuple[str, ...] = ()
    match: Match | None = None
    conversation: Conversation | None = None
    claims: tuple[ClaimOutcome, ...] = ()
    crosscheck: CrossCheck | None = None
    filters: tuple[FilterOutcome, ...] = ()

    @property
    def ok(self) -> bool:
        """True for a pass."""
        return self.status is Status.PASS

    def cross_checked(self, check: CrossCheck) -> Verdict:
        """This verdict with the cross-check's finding: an ERROR if the decoders disagree."""
        if check.agrees:
            return dataclasses.replace(self, crosscheck=check)
        reason = (f"{check.by} reads the pcap differently from our listing: "
                  + "; ".join(p.splitlines()[0] for p in check.disagreements))
        return dataclasses.replace(self, status=Status.ERROR, crosscheck=check,
                                   reasons=(*self.reasons, reason))

    def filtered(self, outcomes: Sequence[FilterOutcome]) -> Verdict:
        """This verdict with what Wireshark's display filters found: a FAIL where one matched
        a count of frames other than the scenario's, an ERROR where one could not be asked."""
        failed = outcomes_problems(outcomes)
        unasked = [o.sentence() for o in outcomes if o.error is not None]
        status = (Status.ERROR if unasked or self.status is Status.ERROR
                  else Status.FAIL if failed or self.status is Status.FAIL else self.status)
        return dataclasses.replace(self, status=status, filters=tuple(outcomes),
                                   reasons=(*self.reasons, *failed, *unasked))

    def failed_to_check(self, why: str) -> Verdict:
        """This verdict made an ERROR because the cross-check could not be made."""
        return dataclasses.replace(self, status=Status.ERROR,
                                   reasons=(*self.reasons, f"the cross-check could not run: "
                                                           f"{why}"))


def _check_steps(scenario: Scenario, result: RunResult) -> list[str]:
    problems: list[str] = []
    for step, call in zip(scenario.steps, result.calls, strict=False):
        if step.expect is not None:
            problems.extend(check_call(step.expect, call))
    return problems


def _check_states(scenario: Scenario, result: RunResult) -> list[str]:
    problems = [f"{side}: expected final state {want}; the kernel reports "
                f"{result.state_of(side)}"
                for side, want in scenario.states.items() if result.state_of(side) != want]
    problems += [problem for side in SIDES if (problem := final_state_problem(
        result.kernel, side, result.state_of(side))) is not None]
    for side, least in scenario.min_send_q.items():
        queued = result.final(side).send_q
        if queued < least:
            problems.append(f"{side}: expected at least {least} bytes still in the send queue; "
                            f"the kernel reports {queued}")
    return problems


def _check_claims(outcomes: Sequence[ClaimOutcome]) -> list[str]:
    return [f"claim {o.claim.id}: Linux is expected to show it {o.claim.linux.upper()}, "
            f"but here it {o.verdict.upper()} ({'; '.join(o.evidence)})"
            for o in outcomes if o.verdict != UNDECIDED and not o.as_expected]


def judge(scenario: Scenario, result: RunResult) -> Verdict:
    """Compare what the run observed with what the scenario expects, and decide its claims.

    A claim answered the other way than the catalog records for Linux is a failure too: the
    kernel did something nobody expected of it.
    """
    conversations = split_conversations(result.segments)
    conversation = conversations[0] if conversations else None
    packets = conversation.packets() if conversation else []
    match = compile_pattern(scenario.pattern).match(packets)
    claims = tuple(decide(claim, result, conversations, errored=bool(result.error))
                   for claim in scenario.claims)
    reasons = [result.error] if result.error else []
    if not match.ok:
        reasons.append(f"wire: {match.sentence()}")
    reasons += _check_steps(scenario, result) + _check_states(scenario, result)
    reasons += unexplained_resets(result)
    reasons += _check_claims(claims)
    status = Status.ERROR if result.error else Status.FAIL if reasons else Status.PASS
    return Verdict(status, tuple(reasons), match, conversation, claims)
