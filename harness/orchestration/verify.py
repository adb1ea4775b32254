"""`harness run` and `harness verify`: a plan of runs, each cross-checked by tshark as the
plan goes on and then shown with its one verdict line, and at the end the summary,
results.json, REPORT.md, index.html and the JUnit XML."""

from __future__ import annotations

import json
import os
import platform
import socket
import time
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from pathlib import Path

from harness.core.document import Results
from harness.core.link import Link
from harness.core.version import version
from harness.core.vocabulary import RUN_DEADLINE
from harness.orchestration import plan as planning
from harness.orchestration.batch import execute
from harness.orchestration.checking import (
    CheckedInOrder,
    Tally,
    check_filters,
    cross_check,
    tshark_tool,
    without_tshark,
)
from harness.orchestration.files import writable_file, write_text
from harness.orchestration.pages import render_pages
from harness.orchestration.progress import Finished, Progress, passed, summary
from harness.report.document import run_entry
from harness.report.markdown import render_report


def cmd_run(ids: Sequence[str], pcap_dir: str, json_path: str | None,
            family: str = "both", report_path: str | None = None,
            require_tshark: bool = False, pages: bool = False, topology: str = "loopback",
            link: Link | None = None, jobs: int | None = 1,
            deadline: float = RUN_DEADLINE, verbose: bool = False,
            junit_path: str | None = None) -> int:
    """Run scenarios (jobs at a time), show each run as it is known, write the results (and
    with `pages`, REPORT.md and index.html beside them); 0 only if every run passed."""
    plan = planning.make_plan(ids, pcap_dir, family, topology, link, deadline)
    workers = planning.workers(jobs)
    for path, option in ((json_path, "--json"), (report_path, "--report"),
                         (junit_path, "--junit")):
        if path:
            writable_file(path, option)
    planning.require_capture()
    tool = tshark_tool(require_tshark)
    planning.check_link(link, topology)
    planning.check_sysctls(plan)
    began, started = time.monotonic(), datetime.now().astimezone()
    if tool:
        check_filters(plan)
    tally = Tally(tool) if tool else None
    filtered = any(planned.scenario.display_filters for planned in plan)
    check = (partial(cross_check, tally=tally) if tally else without_tshark if filtered
             else None)
    shown = CheckedInOrder(check, Progress(len(plan), verbose).show)
    execute(plan, workers, lambda index, done: shown.add((plan[index].scenario, *done)))
    done = shown.close()
    if tally is not None:
        print(tally.line())
    _write(done, json_path, report_path, pages)
    if junit_path:
        from harness.report.junit import render_junit

        command = "verify" if pages else "run"
        write_text(junit_path, render_junit(_document(done), suite=f"harness {command}",
                                            timestamp=started, hostname=socket.gethostname()))
        print(f"junit: {junit_path}")
    print("\n".join(summary(done, time.monotonic() - began)))
    return 0 if passed(done) else 1


def _document(done: Sequence[Finished]) -> Results:
    """The results document of the runs, pcap paths relative to here."""
    root = Path.cwd()
    return Results(platform.release(), tuple(run_entry(sc, result, verdict, root)
                                             for sc, result, verdict in done),
                   harness=version())


def _write(done: Sequence[Finished], json_path: str | None, report_path: str | None,
           pages: bool) -> None:
    """results.json (and the pages beside it), REPORT.md where asked."""
    root = Path.cwd()
    document = _document(done)
    if json_path:
        write_text(json_path, json.dumps(document.to_json(), indent=2) + "\n")
        print(f"results: {json_path}")
        for page in render_pages(document, Path(json_path).parent, root) if pages else []:
            print(f"report: {page}")
    if report_path:
        base = os.path.relpath(Path(report_path).resolve().parent, root)
        write_text(report_path, render_report(document.runs, platform.release(), base))
        print(f"report: {report_path}")
