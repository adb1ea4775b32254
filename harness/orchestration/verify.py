"""`harness run` and `harness verify`: a plan of runs, each story printed as it is known, one
tshark reading every pcap back, then results.json, REPORT.md and index.html."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path

from harness.core.crosscheck import compare, connection_keys
from harness.core.document import Results
from harness.core.link import Link
from harness.core.result import RunResult
from harness.core.scenario import Scenario
from harness.core.verdict import CrossCheck, Status, Verdict
from harness.core.vocabulary import RUN_DEADLINE
from harness.orchestration import plan as planning
from harness.orchestration.batch import Planned, execute
from harness.orchestration.files import write_text
from harness.orchestration.pages import render_pages
from harness.orchestration.tshark import TsharkError, TsharkMissing, read_pcaps, tshark_version
from harness.report.document import run_entry
from harness.report.markdown import render_report
from harness.report.terminal import render_run, summary_line

Finished = tuple[Scenario, RunResult, Verdict]


def tshark_tool(required: bool) -> str | None:
    """tshark's version for the cross-check; None (said on stdout) when it is missing and not
    required, TsharkMissing when it is."""
    try:
        return tshark_version()
    except TsharkMissing as exc:
        if required:
            raise
        print(f"note: {exc}; runs are judged without it")
        return None


def cross_check(done: Sequence[Finished], tool: str) -> list[Finished]:
    """Every run's pcap read back by one tshark and compared with our listing: the runs with
    their verdicts made anew (an ERROR where the readings differ), each charged its share of
    the time in its `cross-check` phase."""
    checked = [i for i, (_, result, _) in enumerate(done) if result.pcap]  # no lab, no pcap
    if not checked:
        return list(done)
    began = time.monotonic()
    out = list(done)
    try:
        views = read_pcaps([done[i][1].pcap or "" for i in checked],
                           [connection_keys(done[i][1].segments) for i in checked])
    except (TsharkError, TsharkMissing) as exc:  # failed, or gone since it was found
        print(f"cross-check: {exc}")
        for i in checked:
            sc, result, verdict = done[i]
            out[i] = (sc, result, verdict.failed_to_check(str(exc)))
        return out
    share, disagree = (time.monotonic() - began) / len(checked), 0
    for i, theirs in zip(checked, views, strict=True):
        sc, result, verdict = done[i]
        problems = compare(result.segments, theirs, sc.wireshark_warnings)
        if problems:
            disagree += 1
            print(f"ERROR {sc.id}  {result.family}: {tool} reads {result.pcap} differently:")
            print("\n".join(f"   - {p}" for p in problems), end="\n\n")
        timed = dataclasses.replace(result, phases=result.phases.plus("cross-check", share))
        out[i] = (sc, timed, verdict.cross_checked(CrossCheck(tool, len(theirs),
                                                              tuple(problems))))
    print(f"cross-check: {tool} read {len(views)} pcaps ({sum(map(len, views))} frames) in "
          f"{share * len(checked):.2f} s; {len(views) - disagree} agree with our listing, "
          f"{disagree} disagree")
    return out


def _execute(plan: Sequence[Planned], jobs: int) -> list[Finished]:
    """Run the plan, printing each run's story in plan order as soon as it is known."""
    def report(index: int, done: tuple[RunResult, Verdict]) -> None:
        print(render_run(plan[index].scenario, *done), end="\n\n", flush=True)

    return [(planned.scenario, result, verdict) for planned, (result, verdict)
            in zip(plan, execute(plan, jobs, report), strict=True)]


def cmd_run(ids: Sequence[str], pcap_dir: str, json_path: str | None,
            family: str = "both", report_path: str | None = None,
            require_tshark: bool = False, pages: bool = False, topology: str = "loopback",
            link: Link | None = None, jobs: int | None = 1,
            deadline: float = RUN_DEADLINE) -> int:
    """Run scenarios (jobs at a time), print each story and verdict, cross-check the pcaps
    with tshark, write results (and with `pages`, REPORT.md and index.html beside them); 0
    only if every run passed."""
    plan = planning.make_plan(ids, pcap_dir, family, topology, link, deadline)
    workers = planning.workers(jobs)
    planning.require_capture()
    tool = tshark_tool(require_tshark)
    planning.check_link(link, topology)
    root = Path.cwd()
    done = _execute(plan, workers)
    if tool:
        done = cross_check(done, tool)
    runs = [run_entry(sc, result, verdict, root) for sc, result, verdict in done]
    statuses = [verdict.status for _, _, verdict in done]
    document = Results(platform.release(), tuple(runs))
    if json_path:
        write_text(json_path, json.dumps(document.to_json(), indent=2) + "\n")
        print(f"results: {json_path}")
        for page in render_pages(document, Path(json_path).parent, root) if pages else []:
            print(f"report: {page}")
    if report_path:
        base = os.path.relpath(Path(report_path).resolve().parent, root)
        write_text(report_path, render_report(runs, platform.release(), base))
        print(f"report: {report_path}")
    print(summary_line(statuses))
    return 0 if statuses and all(s is Status.PASS for s in statuses) else 1
