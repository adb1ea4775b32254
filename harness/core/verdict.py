"""Judging a run against its scenario: pattern, call outcomes, final states -> pass/fail/error.

`fail` means the kernel did something the scenario did not expect; `error` means the harness
could not observe the run properly (a peer died, a call hung, the capture lost packets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.core.claims import ClaimOutcome, decide
from harness.core.conversation import Conversation, split_conversations
from harness.core.expect import check_call
from harness.core.pattern import Match, compile_pattern
from harness.core.result import RunResult
from harness.core.scenario import Scenario


@dataclass
class Verdict:
    """The outcome of judging one run, with every reason it is not a pass."""

    status: str
    reasons: list[str] = field(default_factory=list)
    match: Match | None = None
    conversation: Conversation | None = None
    claims: list[ClaimOutcome] = field(default_factory=list)
    crosscheck: dict[str, Any] | None = None  # set by harness.core.crosscheck

    @property
    def ok(self) -> bool:
        """True for a pass."""
        return self.status == "pass"


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
    for side, least in scenario.min_send_q.items():
        queued = int(result.states.get(side, {}).get("send_q", 0) or 0)
        if queued < least:
            problems.append(f"{side}: expected at least {least} bytes still in the send queue; "
                            f"the kernel reports {queued}")
    return problems


def _check_claims(outcomes: list[ClaimOutcome]) -> list[str]:
    return [f"claim {o.claim.id}: Linux is expected to show it {o.claim.linux.upper()}, "
            f"but here it {o.verdict.upper()} ({'; '.join(o.evidence)})"
            for o in outcomes if o.verdict != "undecided" and not o.as_expected]


def judge(scenario: Scenario, result: RunResult) -> Verdict:
    """Compare what the run observed with what the scenario expects, and decide its claims.

    A claim answered the other way than the catalog records for Linux is a failure too: the
    kernel did something nobody expected of it.
    """
    conversations = split_conversations(result.segments)
    conversation = conversations[0] if conversations else None
    tokens = conversation.tokens() if conversation else []
    match = compile_pattern(scenario.pattern).match(tokens)
    verdict = Verdict("pass", match=match, conversation=conversation)
    if result.error:
        verdict.status = "error"
        verdict.reasons.append(result.error)
    verdict.claims = [decide(claim, result, conversations, errored=bool(result.error))
                      for claim in scenario.claims]
    if not match.ok:
        verdict.reasons.append(f"wire: {match.sentence()}")
    verdict.reasons += _check_steps(scenario, result) + _check_states(scenario, result)
    verdict.reasons += _check_claims(verdict.claims)
    if verdict.status == "pass" and verdict.reasons:
        verdict.status = "fail"
    return verdict
