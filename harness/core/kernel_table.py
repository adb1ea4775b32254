"""The table of what changed between kernels (kernels.json): one column per kernel (the
host's first), one row per scenario, family and topology with each kernel's verdict and each
claim's answer, the rows that differ first.

A kernel whose guest could not give results (it did not boot, died, ran past its deadline) is
a column with `status: "error"`, its reason and its console's last lines; it takes no part in
the rows. A run one kernel has and another has not is `null` there and is not a difference.
Pure: the results come in as `Results` (harness.core.document), the table goes out as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.core.document import Results, RunEntry

#: The version of kernels.json's shape (keys are only ever added within one version).
SCHEMA = 1


@dataclass(frozen=True)
class Column:
    """One kernel: its label (its release), whether it is the host's, its results or the
    reason it has none with its console's last lines, and figures of its run (seconds of
    boot and catalog, QEMU's peak RSS...)."""

    label: str
    host: bool = False
    results: Results | None = None
    error: str = ""
    console: tuple[str, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)
    fidelity: Mapping[str, Any] | None = None  # harness.core.link_fidelity.compare

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"label": self.label, "host": self.host,
                                 "status": "ok" if self.results is not None else "error",
                                 **dict(self.facts)}
        if self.results is not None:
            entry["release"] = self.results.kernel
            entry["summary"] = {k: v for k, v in self.results.summary().items()
                                if k != "not_passed"}
            if self.fidelity is not None:
                entry["link_fidelity"] = dict(self.fidelity)
        else:
            entry.update(error=self.error, console=list(self.console))
        return entry


def _key(run: RunEntry) -> tuple[str, str, str]:
    return run.id, run.family, run.topology


def _events(run: RunEntry) -> str:
    """What the kernel's events were for a run: traced, traced without reasons, or why not."""
    if run.kernel is None:
        return "not recorded"
    if not run.kernel.traced:
        return f"missing: {run.kernel.missing}"
    return f"no reasons: {run.kernel.no_reasons}" if run.kernel.no_reasons else "traced"


def _row(key: tuple[str, str, str], runs: Mapping[str, RunEntry | None]) -> dict[str, Any]:
    present = {label: run for label, run in runs.items() if run is not None}
    claim_ids: list[str] = []
    for run in present.values():
        claim_ids += [c.id for c in run.claims if c.id not in claim_ids]
    claims = []
    for claim_id in claim_ids:
        answers = {label: next((c.verdict for c in run.claims if c.id == claim_id), None)
                   if run else None for label, run in runs.items()}
        differs = len({a for a in answers.values() if a is not None}) > 1
        entry: dict[str, Any] = {"id": claim_id, "differs": differs, "answers": answers}
        if differs:
            entry["evidence"] = {label: next((list(c.evidence) for c in run.claims
                                              if c.id == claim_id), [])
                                 for label, run in present.items()}
        claims.append(entry)
    verdicts = {label: run.verdict if run else None for label, run in runs.items()}
    differs = (len({v for v in verdicts.values() if v is not None}) > 1
               or any(c["differs"] for c in claims))
    title = next((run.title for run in present.values() if run.title), "")
    return {"scenario": key[0], "family": key[1], "topology": key[2], "title": title,
            "differs": differs, "verdicts": verdicts,
            "reasons": {label: run.first_reason() for label, run in present.items()
                        if run.verdict != "pass"},
            "kernel_events": {label: _events(run) for label, run in present.items()},
            "pcaps": {label: run.pcap for label, run in present.items()},
            "claims": claims}


def build(columns: Sequence[Column]) -> dict[str, Any]:
    """kernels.json: the columns, then the rows (those that differ first, plan order kept)."""
    ran = [c for c in columns if c.results is not None]
    order: list[tuple[str, str, str]] = []
    by_label: dict[str, dict[tuple[str, str, str], RunEntry]] = {}
    for column in ran:
        assert column.results is not None
        by_label[column.label] = {_key(run): run for run in column.results.runs}
        order += [k for k in by_label[column.label] if k not in order]
    rows = [_row(key, {c.label: by_label[c.label].get(key) for c in ran}) for key in order]
    rows.sort(key=lambda row: not row["differs"])
    differing = sum(row["differs"] for row in rows)
    return {"schema": SCHEMA, "kernels": [c.to_json() for c in columns],
            "summary": {"kernels": len(columns), "errors": len(columns) - len(ran),
                        "rows": len(rows), "differing": differing},
            "rows": rows}


def lines(table: Mapping[str, Any], limit: int = 20) -> list[str]:
    """The table told in a few lines: each kernel's outcome, then the rows that differ."""
    said = []
    for kernel in table["kernels"]:
        name = f"{kernel['label']}{' (host)' if kernel['host'] else ''}"
        if kernel["status"] == "ok":
            s = kernel["summary"]
            said.append(f"kernel {name}: {s['runs']} runs, {s['passed']} passed, "
                        f"{s['failed']} failed, {s['errors']} errors")
        else:
            said.append(f"kernel {name}: ERROR {kernel['error']}")
    differing = [row for row in table["rows"] if row["differs"]]
    for row in differing[:limit]:
        verdicts = ", ".join(f"{k} {v or '-'}" for k, v in row["verdicts"].items())
        said.append(f"DIFFERS {row['scenario']} {row['family']} {row['topology']}: {verdicts}")
        for claim in (c for c in row["claims"] if c["differs"]):
            answers = ", ".join(f"{k} {v or '-'}" for k, v in claim["answers"].items())
            said.append(f"  claim {claim['id']}: {answers}")
    if len(differing) > limit:
        said.append(f"... and {len(differing) - limit} more rows that differ (kernels.json)")
    s = table["summary"]
    said.append(f"{s['rows']} rows, {s['differing']} differ between {s['kernels']} kernels"
                + (f" ({s['errors']} without results)" if s["errors"] else ""))
    return said
