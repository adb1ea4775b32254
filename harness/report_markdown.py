"""REPORT.md: the claims table, then one section per scenario, rendered from results.json runs.

It is what a reviewer reads first in CI: which statements from the literature hold on the
kernel that ran, with the evidence and a link to each pcap, then each scenario's listing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

_MARK = {"holds": "holds", "does not hold": "**does not hold**", "undecided": "undecided"}
LABELS = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}


def _cell(text: str) -> str:
    """Text made safe for one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _link(pcap: str | None, base: str, label: str) -> str:
    if not pcap:
        return label
    return f"[{label}]({os.path.relpath(pcap, base)})"


def run_label(run: dict[str, Any]) -> str:
    """`ipv4` for a loopback run, `ipv4 veth` for one on another topology."""
    where = run.get("topology", "loopback")
    return run["family"] if where == "loopback" else f"{run['family']} {where}"


def _claims(runs: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], list[dict]]]:
    """Each claim once, in catalog order, with the runs (one per family and topology) that
    decided it."""
    order: list[str] = []
    seen: dict[str, tuple[dict[str, Any], list[dict]]] = {}
    for run in runs:
        for claim in run.get("claims", []):
            key = f"{run['id']}/{claim['id']}"
            if key not in seen:
                order.append(key)
                seen[key] = (claim, [])
            seen[key][1].append({"run": run, "outcome": claim})
    return [seen[k] for k in order]


def _verdict_cell(decisions: list[dict]) -> str:
    verdicts = {d["outcome"]["verdict"] for d in decisions}
    if len(verdicts) == 1:
        text = _MARK[verdicts.pop()]
    else:
        text = "; ".join(f"{run_label(d['run'])}: {_MARK[d['outcome']['verdict']]}"
                         for d in decisions)
    unexpected = [d for d in decisions if d["outcome"]["verdict"] not in
                  (d["outcome"]["linux"], "undecided")]
    if unexpected:
        text += f" (UNEXPECTED: Linux is expected to show it {unexpected[0]['outcome']['linux']})"
    return text


_RANK = {"does not hold": 0, "undecided": 1, "holds": 2}


def _overall(decisions: list[dict]) -> str:
    verdicts = {d["outcome"]["verdict"] for d in decisions}
    return min(verdicts, key=lambda v: _RANK[v])


def claims_table(runs: Sequence[dict[str, Any]], base: str) -> list[str]:
    """The claims table (those that do not hold first): statement, source, verdict, evidence."""
    lines = ["| claim | source | on this kernel | evidence | pcap |",
             "| --- | --- | --- | --- | --- |"]
    for claim, decisions in sorted(_claims(runs), key=lambda c: _RANK[_overall(c[1])]):
        first = decisions[0]
        evidence = "; ".join(first["outcome"]["evidence"])
        if len({d["outcome"]["verdict"] for d in decisions}) > 1:
            evidence = " / ".join(f"{run_label(d['run'])}: {'; '.join(d['outcome']['evidence'])}"
                                  for d in decisions)
        pcaps = " · ".join(_link(d["run"].get("pcap"), base, run_label(d["run"]))
                           for d in decisions)
        lines.append(f"| {_cell(claim['text'])} (`{first['run']['id']}`) "
                     f"| {_cell(claim['source'])} | {_verdict_cell(decisions)} "
                     f"| {_cell(evidence)} | {pcaps} |")
    return lines


def _scenario_section(runs: list[dict[str, Any]], base: str) -> list[str]:
    head = runs[0]
    verdicts = ", ".join(f"{LABELS[r['verdict']]} {run_label(r)}" for r in runs)
    out = [f"### `{head['id']}` — {verdicts}", "", head.get("title", ""), ""]
    if head.get("statement"):
        out += [f"> {' '.join(head['statement'].split())}", ""]
    if head.get("source"):
        out += [f"Source: {head['source']}", ""]
    out += [f"Pattern: `{head['pattern']}`", ""]
    for run in runs:
        show_all = run is head or run["verdict"] != "pass"
        pcap = _link(run.get("pcap"), base, "pcap")
        out += [f"{run['family']}, {run['topology']} ({pcap}): `{' '.join(run['observed'])}`"]
        if run.get("reason"):
            out += ["", f"**{LABELS[run['verdict']]}**: {run['reason']}"]
        if show_all and run.get("story"):
            out += ["", "```", *run["story"], "```"]
        out.append("")
    return out


def render_report(runs: Sequence[dict[str, Any]], kernel: str, base: str = ".") -> str:
    """The whole REPORT.md; `base` is the report's folder, for relative pcap links."""
    statuses = [r["verdict"] for r in runs]
    summary = (f"{len(runs)} runs: {statuses.count('pass')} passed, {statuses.count('fail')} "
               f"failed, {statuses.count('error')} errors.")
    out = [f"# What closing a TCP connection does on Linux {kernel}", "", summary, "",
           "Each claim below is a statement from the literature, decided on this kernel by "
           "the observations listed as evidence. A claim that does not hold is not a failure: "
           "it is what the harness is for. A scenario fails only when the kernel does "
           "something neither the catalog nor the source expected.", "",
           "## Claims", "", *claims_table(runs, base), "", "## Scenarios", ""]
    by_id: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by_id.setdefault(run["id"], []).append(run)
    for scenario_runs in by_id.values():
        out += _scenario_section(scenario_runs, base)
    return "\n".join(out).rstrip() + "\n"
