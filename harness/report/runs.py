"""What REPORT.md and index.html both say of a run: where it ran, the key and anchor its section
is found by, its first reason, and which runs did not pass.

Both pages give a run's section the same anchor, `run-<scenario>-<family>-<topology>`, so a link
from the top of either page (or from a CI message) reads the same.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from harness.core.document import RunEntry
from harness.core.verdict import Status

LABELS = {status.value: status.label for status in Status}
ANCHOR_PREFIX = "run-"
_NOT_IN_AN_ID = re.compile(r"[^A-Za-z0-9_-]")


def verdict_label(verdict: str) -> str:
    """`PASS`, `FAIL`, `ERROR`; an unknown verdict in capitals, `?` for none."""
    return LABELS.get(verdict, verdict.upper() or "?")


def run_label(run: RunEntry) -> str:
    """`ipv4` for a loopback run, `ipv4 veth` for one on another topology."""
    return run.family if run.topology == "loopback" else f"{run.family} {run.topology}"


def run_place(run: RunEntry) -> str:
    """Where a run ran, as evidence is labelled with it: `ipv4, loopback`."""
    return f"{run.family}, {run.topology}"


def run_keys(runs: Sequence[RunEntry]) -> list[str]:
    """Each run's key, `<id>-<family>-<topology>` (e.g. `default-close-ipv4-loopback`), with
    what an id may not hold made `-`, and made unique (a repeated run gets `-2`, `-3`, ...)."""
    seen: dict[str, int] = {}
    out = []
    for run in runs:
        key = _NOT_IN_AN_ID.sub("-", f"{run.id}-{run.family}-{run.topology}")
        seen[key] = seen.get(key, 0) + 1
        out.append(key if seen[key] == 1 else f"{key}-{seen[key]}")
    return out


def anchor(key: str) -> str:
    """The id of a run's section on both pages: `run-default-close-ipv4-loopback`."""
    return f"{ANCHOR_PREFIX}{key}"


def first_reason(run: RunEntry) -> str:
    """The first reason a run did not pass, or a sentence saying none was recorded."""
    return run.first_reason() or "no reason was recorded"


def not_passed(runs: Sequence[RunEntry], keys: Sequence[str]) -> list[tuple[RunEntry, str]]:
    """The runs whose verdict is not pass, in plan order, each with its key."""
    return [(run, key) for run, key in zip(runs, keys, strict=True) if run.verdict != "pass"]


def counts(runs: Sequence[RunEntry]) -> str:
    """`4 runs: 1 passed, 2 failed, 1 errors.`"""
    verdicts = [r.verdict for r in runs]
    return (f"{len(runs)} runs: {verdicts.count('pass')} passed, {verdicts.count('fail')} "
            f"failed, {verdicts.count('error')} errors.")


def all_passed(runs: Sequence[RunEntry]) -> str:
    """The line that stands for the list of runs that did not pass when there are none."""
    if not runs:
        return "No runs were made."
    return "The run passed." if len(runs) == 1 else f"All {len(runs)} runs passed."
