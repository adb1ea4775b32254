"""Link fidelity: the same impaired-link runs played by the kernel's netem and by the
user-space link, compared run by run (verdict, wire, claims). The user-space link stands in
for netem where a kernel has none, so where the two differ is what a reader must know.

Pure: both sides come in as `Results` (harness.core.document), the comparison goes out as the
JSON that kernels.json keeps in a kernel's column.
"""

from __future__ import annotations

from typing import Any

from harness.core.document import Results, RunEntry

#: The two players, in the order the comparison names them.
PLAYERS = ("kernel", "user")


def _flags(run: RunEntry) -> list[str]:
    """The judged connection's tokens, without their fields: what a reader compares."""
    return [token.split("[", 1)[0] for token in run.observed]


def _row(kernel: RunEntry | None, user: RunEntry | None) -> dict[str, Any]:
    runs = {"kernel": kernel, "user": user}
    present = [run for run in runs.values() if run is not None]
    first = present[0]
    claims = {c.id for run in present for c in run.claims}
    answers = {cid: {name: next((c.verdict for c in run.claims if c.id == cid), None)
                     if run else None for name, run in runs.items()} for cid in sorted(claims)}
    differs: list[str] = []
    if len({run.verdict for run in present}) > 1 or len(present) < 2:
        differs.append("verdict")
    if len(present) == 2 and _flags(present[0]) != _flags(present[1]):
        differs.append("wire")
    if len(present) == 2 and any(len(set(a.values())) > 1 for a in answers.values()):
        differs.append("claims")
    return {"scenario": first.id, "family": first.family, "differs": differs,
            "verdicts": {name: run.verdict if run else None for name, run in runs.items()},
            "observed": {name: _flags(run) if run else None for name, run in runs.items()},
            "reasons": {name: run.first_reason() for name, run in runs.items()
                        if run is not None and run.verdict != "pass"},
            "claims": answers,
            "pcaps": {name: run.pcap if run else None for name, run in runs.items()}}


def compare(kernel: Results, user: Results) -> dict[str, Any]:
    """Each run of either side against its twin (same scenario and family), the ones that
    differ first; `differing` counts them."""
    keyed = {name: {(r.id, r.family): r for r in results.runs}
             for name, results in (("kernel", kernel), ("user", user))}
    keys = list(keyed["kernel"]) + [k for k in keyed["user"] if k not in keyed["kernel"]]
    rows = [_row(keyed["kernel"].get(k), keyed["user"].get(k)) for k in keys]
    rows.sort(key=lambda row: not row["differs"])
    return {"runs": len(rows), "differing": sum(bool(r["differs"]) for r in rows),
            "rows": rows}


def lines(label: str, fidelity: dict[str, Any]) -> list[str]:
    """The comparison told in a line, and a line per run that differs."""
    said = [f"link fidelity on {label}: {fidelity['runs']} runs with the kernel's netem and "
            f"the user-space link, {fidelity['differing']} differ"]
    for row in fidelity["rows"]:
        if row["differs"]:
            v = row["verdicts"]
            said.append(f"  LINK DIFFERS {row['scenario']} {row['family']} "
                        f"({', '.join(row['differs'])}): kernel netem {v['kernel'] or '-'}, "
                        f"user-space link {v['user'] or '-'}")
    return said
