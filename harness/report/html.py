"""index.html: the same runs as REPORT.md, as one static page with a ladder figure per run.

Rendered from the results document alone (harness.core.document.Results): the runs that did
not pass, each linking to its section; a summary matrix (scenario by family and topology, each
cell linking to its run); the claims table (those that do not hold first, the evidence labelled
with the runs it came from); then one section per run with its reasons, pattern, pcap link,
cross-check, ladder SVG (each side's TCP state on its lifeline) and story. The page fetches
nothing: its style is inline, it has no scripts, fonts or images, so it works opened from
file:// or from a CI artifact.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from html import escape
from urllib.parse import quote

from harness.core.document import Results, RunEntry
from harness.core.entries import ClaimEntry
from harness.core.verdict import CrossCheck
from harness.report.claims import claim_groups, evidence_groups, standing, verdict_parts
from harness.report.ladder import ladder_from_run
from harness.report.ladder_svg import render_svg
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

Run = RunEntry

_STYLE = """
body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:24px auto;max-width:1320px;
 padding:0 16px;color:#1a1a1a;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ccc}
code,pre,.mono{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:.92em}
table{border-collapse:collapse;margin:.6em 0} th,td{border:1px solid #ccc;padding:4px 8px;
 vertical-align:top;text-align:left}
thead th{background:#f0f0f0}
.matrix td{text-align:center;font-weight:bold;min-width:7em}
.matrix td a{display:block;color:inherit;text-decoration:none}
.matrix .scenario-title{font-weight:normal;font-size:.85em;color:#555}
.v-pass{background:#d8f0d8;color:#1b5e20} .v-fail{background:#fbd5d5;color:#b71c1c}
.v-error{background:#ffe0b2;color:#e65100} .v-none{color:#999}
.badge{padding:1px 7px;border-radius:3px;font-weight:bold}
.c-holds{background:#e8f5e9} .c-does-not-hold{background:#fff3c4;font-weight:bold}
.c-undecided{background:#eee;color:#555} .unexpected{color:#b71c1c;font-weight:bold}
.claims ul{margin:0;padding-left:1.1em}
section.run{border-top:2px solid #ddd;margin-top:2em;padding-top:.4em}
section.run h3{margin:.3em 0} section.run p{margin:.3em 0}
section.run blockquote{margin:.4em 0;padding-left:1em;border-left:3px solid #ccc;color:#333}
.figure{overflow-x:auto;margin:.8em 0} .figure svg{max-width:100%;height:auto}
.reason{background:#fbe9e7;padding:4px 8px} .reason ul{margin:.2em 0;padding-left:1.3em}
.not-passed li{margin:.2em 0} .not-passed a{text-decoration:none}
.evidence-runs{margin:.2em 0 0;font-size:.88em;color:#555;font-style:italic}
table.facts{margin:.3em 0;font-size:.93em}
table.facts th,table.facts td{border:0;padding:1px 10px 1px 0}
table.facts th{font-weight:normal;color:#555;white-space:nowrap} table.facts ul{margin:0}
.claims th:nth-child(1){width:36%} .claims th:nth-child(3){width:16%}
.claims th:nth-child(4){width:30%} .claims td:nth-child(5){white-space:nowrap}
details pre{background:#f7f7f7;padding:8px;overflow-x:auto}
"""

_INTRO = ("Each claim below is a statement from the literature, decided on this kernel by the "
          "observations listed as evidence. A claim that does not hold is not a failure: it is "
          "what the harness is for. A run fails only when the kernel does something neither the "
          "catalog nor the source expected.")


def render_html(results: Results, pcap_base: str = ".") -> str:
    """The whole page for results.json's content. `pcap_base` is the folder the page is written
    to, relative to the project root (the pcap paths in results.json are relative to the root):
    "pcaps" for pcaps/index.html, so that `pcaps/x.pcapng` is linked as `x.pcapng`."""
    runs: list[Run] = list(results.runs)
    kernel = results.kernel
    keys = run_keys(runs)
    body = [f"<h1>What closing a TCP connection does on Linux {escape(kernel)}</h1>",
            f"<p class=\"summary\">{escape(counts(runs))}</p>",
            "<h2>Did not pass</h2>", _not_passed(runs, keys),
            "<h2>Runs</h2>", _matrix(runs, keys),
            "<h2>Claims</h2>", f"<p>{escape(_INTRO)}</p>", _claims_table(runs, keys, pcap_base),
            "<h2>Scenarios</h2>",
            *(_run_section(run, key, pcap_base) for run, key in zip(runs, keys, strict=True))]
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>TCP close semantics on Linux {escape(kernel)}</title>",
        f"<style>{_STYLE}</style>", "</head>", "<body>", *body, "</body>", "</html>", ""])


def pcap_href(pcap: str, pcap_base: str = ".") -> str:
    """The link from a page in folder pcap_base to pcap (both relative to the project root)."""
    relative = os.path.relpath(pcap, pcap_base).replace(os.sep, "/")
    return quote(relative, safe="/")


def _badge(verdict: str) -> str:
    return f'<span class="badge v-{escape(verdict)}">{escape(verdict_label(verdict))}</span>'


# ---------------------------------------------------------------- what did not pass


def _not_passed(runs: Sequence[Run], keys: Sequence[str]) -> str:
    """Each run whose verdict is not pass (scenario, family, topology, verdict), linking to its
    section, with its first reason; or one line saying that every run passed."""
    found = not_passed(runs, keys)
    if not found:
        return f'<p class="all-passed">{escape(all_passed(runs))}</p>'
    items = "".join(f'<li><a href="#{escape(anchor(key))}">{_badge(run.verdict)} '
                    f"<code>{escape(run.id)}</code> — {escape(run_place(run))}</a>: "
                    f"{escape(first_reason(run))}</li>" for run, key in found)
    return f'<ul class="not-passed">{items}</ul>'


# ---------------------------------------------------------------- the summary matrix


def _matrix(runs: Sequence[Run], keys: Sequence[str]) -> str:
    """Scenarios by (family, topology): each cell the run's verdict, linking to its section."""
    columns = list(dict.fromkeys((r.family, r.topology) for r in runs))
    cells: dict[str, dict[tuple[str, str], tuple[Run, str]]] = {}
    for run, key in zip(runs, keys, strict=True):
        cells.setdefault(run.id, {}).setdefault((run.family, run.topology), (run, key))
    titles = {r.id: r.title for r in reversed(runs)}
    head = "".join(f"<th>{escape(f)}<br>{escape(t)}</th>" for f, t in columns)
    rows = [f"<tr><th scope=\"row\"><code>{escape(sid)}</code>"
            f"<div class=\"scenario-title\">{escape(titles[sid])}</div></th>"
            + "".join(_matrix_cell(cells[sid].get(col)) for col in columns) + "</tr>"
            for sid in cells]
    return (f'<table class="matrix"><thead><tr><th>scenario</th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _matrix_cell(found: tuple[Run, str] | None) -> str:
    if found is None:
        return '<td class="v-none">—</td>'
    run, key = found
    verdict = run.verdict
    return (f'<td class="verdict v-{escape(verdict)}"><a href="#{escape(anchor(key))}">'
            f"{escape(verdict_label(verdict))}</a></td>")


# ---------------------------------------------------------------- the claims table


def _claims_table(runs: Sequence[Run], keys: Sequence[str], base: str) -> str:
    where = {id(run): anchor(key) for run, key in zip(runs, keys, strict=True)}
    rows = [_claim_row(claim, decisions, where, base) for claim, decisions in claim_groups(runs)]
    if not rows:
        return "<p>No claims were decided.</p>"
    return ('<table class="claims"><thead><tr><th>claim</th><th>source</th>'
            "<th>on this kernel</th><th>evidence</th><th>pcap</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _claim_row(claim: ClaimEntry, decisions: list[tuple[Run, ClaimEntry]],
               where: dict[int, str], base: str) -> str:
    first = decisions[0][0]
    scenario = (f'<a href="#{escape(where[id(first)])}"><code>{escape(first.id)}</code></a>')
    pcaps = " · ".join(
        f'<a href="{escape(pcap_href(run.pcap, base))}">{escape(run_label(run))}</a>'
        if run.pcap else escape(run_label(run)) for run, _ in decisions)
    worst = standing(decisions).replace(" ", "-")
    return (f"<tr><td>{escape(claim.text)} ({scenario})</td>"
            f"<td>{escape(claim.source)}</td>"
            f'<td class="c-{escape(worst)}">{_claim_verdict(decisions)}</td>'
            f"<td>{_evidence(decisions)}</td><td>{pcaps}</td></tr>")


def _claim_verdict(decisions: Sequence[tuple[Run, ClaimEntry]]) -> str:
    parts, linux = verdict_parts(decisions)
    text = "; ".join(f"{escape(label)}: {escape(v)}" if label else escape(v) for label, v in parts)
    if linux:
        text += (f' <span class="unexpected">(UNEXPECTED: Linux is expected to show it '
                 f"{escape(linux)})</span>")
    return text


def _evidence(decisions: Sequence[tuple[Run, ClaimEntry]]) -> str:
    """Each group of evidence under the runs it came from (`ipv4, loopback`): the first run's
    when the runs decided alike, every run's when they differ."""
    out = []
    for group, evidence in evidence_groups(decisions):
        places = " / ".join(run_place(run) for run in group)
        items = "".join(f"<li>{escape(line)}</li>" for line in evidence)
        out.append(f'<p class="evidence-runs">{escape(places)}</p><ul>{items}</ul>')
    return "".join(out)


# ---------------------------------------------------------------- one section per run


def _run_section(run: Run, key: str, base: str) -> str:
    """A run's section, id'd by its anchor: heading, reasons, facts, ladder (the SVG's ids come
    from the run's key) and story."""
    verdict = run.verdict
    head = (f"<h3>{_badge(verdict)} <code>{escape(run.id)}</code> — "
            f"{escape(run.family)}, {escape(run.topology)}</h3>")
    parts = [f'<section class="run" id="{escape(anchor(key))}">', head,
             f"<p class=\"title\">{escape(run.title)}</p>"]
    if run.statement:
        parts.append(f"<blockquote>{escape(' '.join(run.statement.split()))}</blockquote>")
    if run.reasons:
        items = "".join(f"<li>{escape(reason)}</li>" for reason in run.reasons)
        parts.append(f'<div class="reason"><strong>{escape(verdict_label(verdict))}</strong>'
                     f"<ul>{items}</ul></div>")
    facts = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in
                    _facts(run, base))
    parts.append(f'<table class="facts">{facts}</table>')
    parts.append(f'<div class="figure">{render_svg(ladder_from_run(run), uid=key)}</div>')
    if run.story:
        parts.append("<details><summary>The run's story (calls and packets on one clock)"
                     f"</summary><pre>{escape(chr(10).join(run.story))}</pre></details>")
    parts.append("</section>")
    return "\n".join(parts)


def _facts(run: Run, base: str) -> list[tuple[str, str]]:
    """(name, HTML) of the run's source, pattern, observed tokens, pcap link, final states
    and cross-check."""
    observed = run.observed
    out = [("source", escape(run.source)),
           ("pattern", f"<code class=\"pattern\">{escape(run.pattern)}</code>"),
           ("observed", f"<code>{escape(' '.join(observed))}</code> ({len(observed)} packets)")]
    if run.pcap:
        name = escape(run.pcap.replace(os.sep, "/").rsplit("/", 1)[-1])
        out.append(("capture", f'<a href="{escape(pcap_href(run.pcap, base))}">{name}</a>'
                               " (open it in Wireshark)"))
    marks = final_marks(run.states)
    if marks:
        out.append(("final states", escape(marks_text(marks))))
    out.append(("cross-check", _crosscheck(run.crosscheck)))
    return out


def _crosscheck(check: CrossCheck | None) -> str:
    if check is None:
        return "not made"
    head = f"{check.by} read {check.frames} frames"
    if check.agrees:
        return f"{escape(head)} and agrees"
    items = "".join(f"<li>{escape(str(d))}</li>" for d in check.disagreements)
    return f'{escape(head)} and <strong class="unexpected">disagrees</strong>:<ul>{items}</ul>'
