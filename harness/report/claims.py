"""A claim over the runs that decided it, as both pages show it: the claims grouped (each once,
by scenario and claim id), a claim's standing, its verdict per run when the runs differ, and its
evidence labelled with the runs it came from."""

from __future__ import annotations

from collections.abc import Sequence

from harness.core.document import RunEntry
from harness.core.entries import ClaimEntry
from harness.report.runs import run_label

_RANK = {"does not hold": 0, "undecided": 1, "holds": 2}

Decision = tuple[RunEntry, ClaimEntry]  # a run and its outcome for one claim
EvidenceGroup = tuple[list[RunEntry], tuple[str, ...]]  # runs that gave the same evidence


def standing(decisions: Sequence[Decision]) -> str:
    """A claim's standing over the runs that decided it: its worst verdict among them."""
    return min((outcome.verdict for _, outcome in decisions), key=lambda v: _RANK.get(v, 1))


def claim_groups(runs: Sequence[RunEntry]) -> list[tuple[ClaimEntry, list[Decision]]]:
    """Each claim once (by scenario and claim id), with the runs (one per family and topology)
    that decided it; those that do not hold first, then undecided, then those that hold."""
    groups: dict[str, tuple[ClaimEntry, list[Decision]]] = {}
    for run in runs:
        for claim in run.claims:
            groups.setdefault(f"{run.id}/{claim.id}", (claim, []))[1].append((run, claim))
    return sorted(groups.values(), key=lambda group: _RANK.get(standing(group[1]), 1))


def verdict_parts(decisions: Sequence[Decision]) -> tuple[list[tuple[str, str]], str | None]:
    """What a claim's verdict cell shows: its one verdict (label ""), or each run's with the
    run's label when they differ; and the Linux answer when some run answered otherwise."""
    verdicts = {outcome.verdict for _, outcome in decisions}
    parts = ([("", verdicts.pop())] if len(verdicts) == 1 else
             [(run_label(run), outcome.verdict) for run, outcome in decisions])
    unexpected = [o for _, o in decisions if o.verdict not in (o.linux, "undecided")]
    return parts, unexpected[0].linux if unexpected else None


def evidence_groups(decisions: Sequence[Decision]) -> list[EvidenceGroup]:
    """The evidence a claim's row shows, each with the runs it came from: when every run
    decided the claim alike, the first run's evidence (with any other run that gave exactly the
    same); when they differ, every run's, runs with the same evidence together."""
    groups: dict[tuple[str, ...], list[RunEntry]] = {}
    for run, outcome in decisions:
        groups.setdefault(outcome.evidence, []).append(run)
    shown = [(runs, evidence) for evidence, runs in groups.items()]
    alike = len({outcome.verdict for _, outcome in decisions}) == 1
    return shown[:1] if alike else shown
