"""`harness soak`: the same runs N times over; every verdict that changed between rounds, and
every run that never passed, said and kept (their pcaps, soak.json)."""

from __future__ import annotations

import dataclasses
import json
import platform
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from harness.core.errors import UsageError
from harness.core.flakes import Outcome, always_failing, changed_verdicts, changed_wires
from harness.core.link import Link
from harness.core.vocabulary import RUN_DEADLINE
from harness.orchestration import plan as planning
from harness.orchestration.batch import Planned, execute
from harness.orchestration.files import write_text
from harness.orchestration.progress import untraced_line
from harness.report.terminal import summary_line


def cmd_soak(ids: Sequence[str], rounds: int, pcap_dir: str, family: str = "both",
             topology: str = "both", link: Link | None = None, jobs: int | None = 1,
             deadline: float = RUN_DEADLINE) -> int:
    """Run the chosen scenarios `rounds` times; 0 only if no verdict changed between rounds
    and every run passed. The pcaps of runs that did not pass are kept, one per round."""
    if not 1 <= rounds <= 100_000:
        raise UsageError(f"--rounds {rounds}: give 1 or more (at most 100000)")
    plan = planning.make_plan(ids, pcap_dir, family, topology, link, deadline)
    workers = planning.workers(jobs)
    planning.require_capture()
    planning.check_link(link, topology)
    planning.check_sysctls(plan)
    seen: list[dict[str, Outcome]] = []
    for number in range(1, rounds + 1):
        found, untraced = _round(plan, workers, Path(pcap_dir), number)
        if untraced and number == 1:
            print(untraced_line(untraced), flush=True)
        seen.append(found)
        statuses = [o.status for o in seen[-1].values()]
        print(f"round {number}/{rounds}: {summary_line(statuses)}", flush=True)
    changed, failing = changed_verdicts(seen), always_failing(seen)
    document = {"rounds": rounds, "runs": len(plan), "kernel": platform.release(),
                "changed": [{"run": c.run, "verdicts": list(c.statuses)} for c in changed],
                "never passed": failing, "passed with other packets": changed_wires(seen)}
    write_text(Path(pcap_dir) / "soak.json", json.dumps(document, indent=2) + "\n")
    for found in changed:
        print(f"CHANGED {found.describe()}")
    for run in failing:
        print(f"NEVER PASSED {run}")
    for run in document["passed with other packets"]:
        print(f"note: {run} passed every round, not always with the same packets")
    print(f"soak: {rounds} rounds of {len(plan)} runs: {len(changed)} changed verdicts, "
          f"{len(failing)} runs that never passed (details: {pcap_dir}/soak.json)")
    return 0 if not changed and not failing else 1


def _round(plan: Sequence[Planned], jobs: int, folder: Path, number: int
           ) -> tuple[dict[str, Outcome], str]:
    """One round, its pcaps in a scratch folder; those of runs that did not pass are kept.
    Also why the kernel's events could not be recorded ("" where they were)."""
    found, untraced = {}, ""
    with tempfile.TemporaryDirectory(prefix="harness-soak-") as scratch:
        moved = [dataclasses.replace(p, pcap=Path(scratch) / p.pcap.name) if p.pcap else p
                 for p in plan]
        for planned, (result, verdict) in zip(moved, execute(moved, jobs), strict=True):
            key = f"{planned.scenario.id} {planned.family} {planned.topology}"
            observed = " ".join(verdict.match.observed) if verdict.match is not None else ""
            found[key] = Outcome(verdict.status.value, observed, "; ".join(verdict.reasons))
            if result.kernel is not None and not result.kernel.traced:
                untraced = result.kernel.missing
            if not verdict.ok and result.pcap:
                kept = folder / f"{Path(result.pcap).stem}-round{number}.pcapng"
                shutil.move(result.pcap, kept)
    return found, untraced
