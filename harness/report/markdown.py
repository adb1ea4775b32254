"""REPORT.md: the claims table, then one section per scenario, rendered from results.json runs.

It is what a reviewer reads first in CI: which statements from the literature hold on the
kernel that ran, with the evidence and a link to each pcap, then each scenario's listing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from harness.core.document import RunEntry
from harness.core.entries import ClaimEntry
from harness.core.verdict import Status

_MARK = {"holds": "holds", "does not hold": "**does not hold**", "undecided": "undecided"}
LABELS = {status.value: status.label for status in Status}


def _cell(text: str) -> str:
    """Text made safe for one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _link(pcap: str | None, base: str, label: str) -> str:
    if not pcap:
        return label
    return f"[{label}]({os.path.relpath(pcap, base)})"


def run_label(run: RunEntry) -> str:
    """`ipv4` for a loopback run, `ipv4 veth` for one on another topology."""
    return run.family if run.topology == "loopback" else f"{run.family} {run.topology}"


_RANK = {"does not hold": 0, "undecided": 1, "holds": 2}

Decision = tuple[RunEntry, ClaimEntry]  # a run and its outcome for one claim


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


def _verdict_cell(decisions: list[Decision]) -> str:
    parts, linux = verdict_parts(decisions)
    text = "; ".join(f"{label}: {_mark(v)}" if label else _mark(v) for label, v in parts)
    return text + (f" (UNEXPECTED: Linux is expected to show it {linux})" if linux else "")


def _mark(verdict: str) -> str:
    return _MARK.get(verdict, verdict)


def claims_table(runs: Sequence[RunEntry], base: str) -> list[str]:
    """The claims table (those that do not hold first): statement, source, verdict, evidence."""
    lines = ["| claim | source | on this kernel | evidence | pcap |",
             "| --- | --- | --- | --- | --- |"]
    for claim, decisions in claim_groups(runs):
        first = decisions[0][0]
        evidence = "; ".join(decisions[0][1].evidence)
        if len({outcome.verdict for _, outcome in decisions}) > 1:
            evidence = " / ".join(f"{run_label(run)}: {'; '.join(outcome.evidence)}"
                                  for run, outcome in decisions)
        pcaps = " · ".join(_link(run.pcap, base, run_label(run)) for run, _ in decisions)
        lines.append(f"| {_cell(claim.text)} (`{first.id}`) "
                     f"| {_cell(claim.source)} | {_verdict_cell(decisions)} "
                     f"| {_cell(evidence)} | {pcaps} |")
    return lines


def _label(verdict: str) -> str:
    return LABELS.get(verdict, verdict.upper() or "?")


def _scenario_section(runs: list[RunEntry], base: str) -> list[str]:
    head = runs[0]
    verdicts = ", ".join(f"{_label(r.verdict)} {run_label(r)}" for r in runs)
    out = [f"### `{head.id}` — {verdicts}", "", head.title, ""]
    if head.statement:
        out += [f"> {' '.join(head.statement.split())}", ""]
    if head.source:
        out += [f"Source: {head.source}", ""]
    out += [f"Pattern: `{head.pattern}`", ""]
    for run in runs:
        show_all = run is head or run.verdict != "pass"
        pcap = _link(run.pcap, base, "pcap")
        out += [f"{run.family}, {run.topology} ({pcap}): `{' '.join(run.observed)}`"]
        if run.reason:
            out += ["", f"**{_label(run.verdict)}**: {run.reason}"]
        if show_all and run.story:
            out += ["", "```", *run.story, "```"]
        out.append("")
    return out


def render_report(runs: Sequence[RunEntry], kernel: str, base: str = ".") -> str:
    """The whole REPORT.md; `base` is the report's folder, for relative pcap links."""
    statuses = [r.verdict for r in runs]
    summary = (f"{len(runs)} runs: {statuses.count('pass')} passed, {statuses.count('fail')} "
               f"failed, {statuses.count('error')} errors.")
    out = [f"# What closing a TCP connection does on Linux {kernel}", "", summary, "",
           "Each claim below is a statement from the literature, decided on this kernel by "
           "the observations listed as evidence. A claim that does not hold is not a failure: "
           "it is what the harness is for. A scenario fails only when the kernel does "
           "something neither the catalog nor the source expected.", "",
           "## Claims", "", *claims_table(runs, base), "", "## Scenarios", ""]
    by_id: dict[str, list[RunEntry]] = {}
    for run in runs:
        by_id.setdefault(run.id, []).append(run)
    for scenario_runs in by_id.values():
        out += _scenario_section(scenario_runs, base)
    return "\n".join(out).rstrip() + "\n"
