"""REPORT.md: what did not pass, the claims table, then one section per scenario with a
subsection per run, rendered from results.json runs.

It is what a reviewer reads first in CI: which runs did not pass (each linked to its run's
subsection), which statements from the literature hold on the kernel that ran, with the evidence
labelled with the run it came from and a link to each pcap, then each run's listing.

Each run's heading carries an explicit anchor, `<a id="run-..." name="run-...">`: GitHub keeps
it (prefixed `user-content-`, which its pages resolve) and a browser needs nothing else, so
the links do not depend on how a renderer makes ids out of heading text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from harness.core.document import RunEntry
from harness.report.claims import (
    Decision,
    claim_groups,
    evidence_groups,
    verdict_parts,
)
from harness.report.runs import (
    all_passed,
    anchor,
    counts,
    first_reason,
    not_passed,
    run_keys,
    run_label,
    run_place,
    verdict_label,
)
from harness.report.states import final_marks, marks_text

__all__ = ["claims_table", "not_passed_section", "render_report", "run_label"]

_MARK = {"holds": "holds", "does not hold": "**does not hold**", "undecided": "undecided"}
# A `<` Markdown could take for the start of HTML: `<R >`, `<R`, `</x`, not the token `<R.`.
_TAG_START = re.compile(r"<(?=[A-Za-z][A-Za-z0-9-]*(?:[\s/>]|$)|[/!?])")
_INTRO = ("Each claim below is a statement from the literature, decided on this kernel by the "
          "observations listed as evidence. A claim that does not hold is not a failure: it is "
          "what the harness is for. A scenario fails only when the kernel does something "
          "neither the catalog nor the source expected.")


def _prose(text: str) -> str:
    """Text shown as written: a `<` that could open a tag (`<R or >.`) is escaped; tokens
    such as `<R.` cannot, and stay as they are."""
    return _TAG_START.sub(r"\\<", text)


def _cell(text: str) -> str:
    """Text made safe for one Markdown table cell."""
    return _prose(" ".join(text.split())).replace("|", "\\|")


def _link(pcap: str | None, base: str, label: str) -> str:
    if not pcap:
        return label
    return f"[{label}]({os.path.relpath(pcap, base)})"


def _mark(verdict: str) -> str:
    return _MARK.get(verdict, verdict)


# ---------------------------------------------------------------- what did not pass


def not_passed_section(runs: Sequence[RunEntry], keys: Sequence[str]) -> list[str]:
    """`## Did not pass`: each run whose verdict is not pass, with its scenario, family,
    topology, verdict and first reason, linked to its run's subsection; or one line saying
    that all of them passed."""
    found = not_passed(runs, keys)
    if not found:
        return ["## Did not pass", "", all_passed(runs)]
    items = [f"- **{verdict_label(run.verdict)}** [`{run.id}`, {run_place(run)}]"
             f"(#{anchor(key)}): {_prose(' '.join(first_reason(run).split()))}"
             for run, key in found]
    return ["## Did not pass", "", *items]


# ---------------------------------------------------------------- the claims table


def _verdict_cell(decisions: list[Decision]) -> str:
    parts, linux = verdict_parts(decisions)
    text = "; ".join(f"{label}: {_mark(v)}" if label else _mark(v) for label, v in parts)
    return text + (f" (UNEXPECTED: Linux is expected to show it {linux})" if linux else "")


def _evidence_cell(decisions: list[Decision]) -> str:
    """Each group of evidence after the runs it came from (`*ipv4, loopback*: ...`), one group
    a line of the cell."""
    return "<br>".join(f"*{' / '.join(run_place(run) for run in group)}*: "
                       f"{_cell('; '.join(evidence))}"
                       for group, evidence in evidence_groups(decisions))


def claims_table(runs: Sequence[RunEntry], base: str) -> list[str]:
    """The claims table (those that do not hold first): statement, source, verdict, evidence
    labelled with its runs, a pcap link per run."""
    lines = ["| claim | source | on this kernel | evidence | pcap |",
             "| --- | --- | --- | --- | --- |"]
    for claim, decisions in claim_groups(runs):
        first = decisions[0][0]
        pcaps = " · ".join(_link(run.pcap, base, run_label(run)) for run, _ in decisions)
        lines.append(f"| {_cell(claim.text)} (`{first.id}`) "
                     f"| {_cell(claim.source)} | {_verdict_cell(decisions)} "
                     f"| {_evidence_cell(decisions)} | {pcaps} |")
    return lines


# ---------------------------------------------------------------- a section per scenario


def _run_section(run: RunEntry, key: str, base: str, story: bool) -> list[str]:
    """A run's subsection under its scenario: its anchored heading, what it observed, its final
    states, its reasons as a list and, when asked, its story."""
    label = verdict_label(run.verdict)
    name = anchor(key)
    out = [f'#### <a id="{name}" name="{name}"></a>{run_place(run)}: {label}', "",
           f"Observed: `{' '.join(run.observed)}` ({_link(run.pcap, base, 'pcap')})", ""]
    marks = final_marks(run.states)
    if marks:
        out += [f"Final states: {marks_text(marks)}", ""]
    if run.reasons:
        out += [f"**{label}**:", "", *(f"- {_prose(' '.join(r.split()))}" for r in run.reasons),
                ""]
    if story and run.story:
        out += ["```", *run.story, "```", ""]
    return out


def _scenario_section(runs: list[tuple[RunEntry, str]], base: str) -> list[str]:
    head = runs[0][0]
    verdicts = ", ".join(f"{verdict_label(r.verdict)} {run_label(r)}" for r, _ in runs)
    out = [f"### `{head.id}` — {verdicts}", "", head.title, ""]
    if head.statement:
        out += [f"> {' '.join(head.statement.split())}", ""]
    if head.source:
        out += [f"Source: {head.source}", ""]
    out += [f"Pattern: `{head.pattern}`", ""]
    for run, key in runs:
        out += _run_section(run, key, base, story=run is head or run.verdict != "pass")
    return out


def render_report(runs: Sequence[RunEntry], kernel: str, base: str = ".") -> str:
    """The whole REPORT.md; `base` is the report's folder, for relative pcap links."""
    keys = run_keys(runs)
    out = [f"# What closing a TCP connection does on Linux {kernel}", "", counts(runs), "",
           *not_passed_section(runs, keys), "", "## Claims", "", _INTRO, "",
           *claims_table(runs, base), "", "## Scenarios", ""]
    by_id: dict[str, list[tuple[RunEntry, str]]] = {}
    for run, key in zip(runs, keys, strict=True):
        by_id.setdefault(run.id, []).append((run, key))
    for scenario_runs in by_id.values():
        out += _scenario_section(scenario_runs, base)
    return "\n".join(out).rstrip() + "\n"
