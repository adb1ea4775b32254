"""Verdicts that changed between rounds of the same runs (`harness soak`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """What one run of one round came to: its verdict, and its wire when it passed."""

    status: str
    observed: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Changed:
    """A run whose verdict was not the same in every round."""

    run: str
    statuses: tuple[str, ...]
    reasons: tuple[str, ...]

    def describe(self) -> str:
        """`default-close ipv4 loopback: pass x4, fail x1 (round 3: ...)`."""
        counts = {s: self.statuses.count(s) for s in dict.fromkeys(self.statuses)}
        tally = ", ".join(f"{status} x{count}" for status, count in counts.items())
        odd = [f"round {n}: {reason}" for n, (status, reason)
               in enumerate(zip(self.statuses, self.reasons, strict=True), 1)
               if status != "pass" and reason]
        return f"{self.run}: {tally}" + (f" ({'; '.join(odd[:3])})" if odd else "")


def changed_verdicts(rounds: Sequence[dict[str, Outcome]]) -> list[Changed]:
    """The runs whose verdict differs between rounds, in the first round's order."""
    if not rounds:
        return []
    found = []
    for run in rounds[0]:
        outcomes = [r[run] for r in rounds if run in r]
        statuses = tuple(o.status for o in outcomes)
        if len(set(statuses)) > 1:
            found.append(Changed(run, statuses, tuple(o.reason for o in outcomes)))
    return found


def always_failing(rounds: Sequence[dict[str, Outcome]]) -> list[str]:
    """Runs that did not pass in any round (steady, but not a pass)."""
    if not rounds:
        return []
    return [run for run in rounds[0]
            if all(r[run].status != "pass" for r in rounds if run in r)]


def changed_wires(rounds: Sequence[dict[str, Outcome]]) -> list[str]:
    """Runs that passed in every round but not always with the same packets (a pattern with
    alternatives allows that); worth knowing, not a flake."""
    if not rounds:
        return []
    return [run for run in rounds[0]
            if all(r[run].status == "pass" for r in rounds if run in r)
            and len({r[run].observed for r in rounds if run in r}) > 1]
