"""The `harness` command: list, run, verify, show, check, probe."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from harness.core.conversation import pick, split_conversations
from harness.core.crosscheck import connection_keys, cross_check_verdict
from harness.core.listing import tcpdump_lines
from harness.core.pattern import PatternError, compile_pattern
from harness.core.result import RunResult
from harness.core.scenario import CatalogError, Scenario, find, load_catalog, load_file
from harness.core.verdict import Verdict
from harness.lab.topology import Link, TopologyError
from harness.orchestration.timing import RUN_DEADLINE
from harness.pcap.reader import CaptureFileError
from harness.pcap.segments import read_capture
from harness.report.markdown import render_report
from harness.report.terminal import render_run, results_json, run_json, summary_line

Finished = tuple[Scenario, RunResult, Verdict]


class UsageError(Exception):
    """A mistake in what the user asked for: one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake on the command line is one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="harness", description="Prove on the wire what closing a TCP connection does.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="the scenarios, each with the claims it settles")
    run = sub.add_parser("run", help="run scenarios (all when no ID is given)")
    run.add_argument("ids", nargs="*", metavar="ID")
    run.add_argument("--pcap-dir", default="pcaps", help="where pcapng files go (pcaps)")
    run.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    run.add_argument("--report", metavar="FILE", help="write the Markdown report to FILE")
    run.add_argument("--family", choices=["ipv4", "ipv6", "both"], default="both",
                     help="the address family to run on (default: both)")
    _link_options(run, "loopback")
    verify = sub.add_parser("verify", help="run the whole catalog into pcaps/: pcapng files, "
                                           "results.json, REPORT.md (what `make verify` runs)")
    verify.add_argument("--family", choices=["ipv4", "ipv6", "both"], default="both")
    _link_options(verify, "both")
    soak = sub.add_parser("soak", help="run the catalog N times and report any verdict that "
                                       "changed between rounds (flakes)")
    soak.add_argument("ids", nargs="*", metavar="ID", help="scenarios (default: all)")
    soak.add_argument("--rounds", "-n", type=int, default=200, metavar="N",
                      help="how many times to run them (default: 200)")
    soak.add_argument("--family", choices=["ipv4", "ipv6", "both"], default="both")
    soak.add_argument("--pcap-dir", default="pcaps/soak",
                      help="where the pcaps of runs that did not pass go, one per round "
                           "(pcaps/soak), with soak.json")
    _link_options(soak, "both")
    show = sub.add_parser("show", help="list a pcap/pcapng the way `tcpdump -n -r` does")
    show.add_argument("file")
    show.add_argument("--stream", type=int, help="only this connection (0 is the first)")
    show.add_argument("--ladder", action="store_true",
                      help="draw the connection as a ladder diagram, with the steps the "
                           "harness wrote into the pcapng")
    report = sub.add_parser("report", help="render index.html and REPORT.md again from "
                                           "results.json, without running anything")
    report.add_argument("--from", dest="source", default="pcaps/results.json", metavar="FILE",
                        help="the results to render (pcaps/results.json); the pages are "
                             "written beside it")
    check = sub.add_parser("check", help="match a capture against a pattern")
    check.add_argument("file")
    check.add_argument("--expect", required=True, metavar="PATTERN")
    check.add_argument("--stream", type=int,
                       help="the connection to check, numbered from 0 as Wireshark's "
                            "tcp.stream (needed when the capture holds more than one)")
    probe = sub.add_parser("probe", help="run your own server and client programs as the peers, "
                                         "capture them and match a pattern")
    probe.add_argument("--server", required=True, metavar="CMD",
                       help="the server's command, started first; {host} and {port} become "
                            "the address and port to listen on")
    probe.add_argument("--client", required=True, metavar="CMD",
                       help="the client's command, started once the server listens; {host} "
                            "and {port} become the server's address and port")
    probe.add_argument("--expect", required=True, metavar="PATTERN",
                       help="the pattern the first connection must match")
    probe.add_argument("--family", choices=["ipv4", "ipv6"], default="ipv4",
                       help="the address family (default: ipv4)")
    probe.add_argument("--topology", choices=["loopback", "veth"], default="loopback",
                       help="loopback: both programs on one namespace's lo; veth: each in its "
                            "own namespace, joined by a veth pair (default: loopback)")
    probe.add_argument("--pcap", default="pcaps/probe.pcapng", metavar="FILE",
                       help="where the capture goes (default: pcaps/probe.pcapng)")
    probe.add_argument("--timeout", type=float, default=10.0, metavar="S",
                       help="seconds for the whole run; a program still running then is "
                            "stopped, the capture up to then kept (default: 10)")
    probe.add_argument("--shell", action="store_true",
                       help="run each command through /bin/sh -c (default: split into an "
                            "argument list and run without a shell)")
    return parser


def _link_options(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--topology", choices=["loopback", "veth", "both"], default=default,
                        help="loopback: both peers on one namespace's lo; veth: each in its "
                             f"own namespace, joined by a veth pair (default: {default})")
    parser.add_argument("--netem", metavar="ARGS",
                        help="impair the veth link with tc netem, e.g. \"delay 20ms loss 1%%\"")
    parser.add_argument("--netem-side", choices=["both", "client", "server"], default="both",
                        help="whose egress the netem qdisc sits on (default: both directions)")
    parser.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                        help="runs at a time, each in its own namespaces, in worker "
                             "processes (default: 1; 0 is one per CPU)")
    parser.add_argument("--deadline", type=float, default=RUN_DEADLINE, metavar="S",
                        help="seconds a run may take; past it the run is an error, its "
                             f"capture kept (default: {RUN_DEADLINE:g})")


def cmd_list() -> int:
    """Print each scenario's id, title and source, then each claim it settles."""
    for sc in load_catalog():
        print(f"{sc.id}: {sc.title}")
        print(f"    source: {sc.source}")
        for claim in sc.claims:
            print(f"    claim {claim.id} (Linux: {claim.linux}): {claim.text}")
            print(f"        source: {claim.source}")
    return 0


def _choose(ids: Sequence[str]) -> list[Scenario]:
    """The scenarios asked for: catalog ids, or paths of scenario files (*.toml)."""
    catalog = load_catalog()
    if not ids:
        return catalog
    files = {i: load_file(i) for i in ids if i.endswith(".toml")}
    named = find(catalog, [i for i in ids if i not in files])
    by_id = {sc.id: sc for sc in named}
    return [files[i] if i in files else by_id[i] for i in ids]


def _pcap_name(sc: Scenario, family: str, topology: str = "loopback") -> str:
    return f"{sc.id}-{family}{'' if topology == 'loopback' else '-' + topology}.pcapng"


def _require_capture() -> None:
    from harness.lab.privileges import capture_problem

    problem = capture_problem()
    if problem:
        raise UsageError(problem)


def _tshark(required: bool) -> str | None:
    """tshark's version for the cross-check; None (said on stdout) or UsageError if missing."""
    from harness.orchestration.tshark import TsharkError, tshark_version

    try:
        return tshark_version()
    except TsharkError as exc:
        if required:
            raise UsageError(str(exc)) from None
        print(f"note: {exc}; runs are judged without it")
        return None


def _cross_check(done: Sequence[Finished], tool: str) -> None:
    """Read every run's pcap back with one tshark and compare each with our listing; each
    run is charged its share of the time in its `cross-check` phase."""
    from harness.orchestration.tshark import TsharkError, read_pcaps

    done = [run for run in done if run[1].pcap]  # a lab never built wrote no pcap
    if not done:
        return
    began = time.monotonic()
    try:
        views = read_pcaps([result.pcap or "" for _, result, _ in done],
                           [connection_keys(result.segments) for _, result, _ in done])
    except TsharkError as exc:
        print(f"cross-check: {exc}")
        for _, _, verdict in done:
            verdict.status = "error"
            verdict.reasons.append(f"the cross-check could not run: {exc}")
        return
    disagree = 0
    for (sc, result, verdict), theirs in zip(done, views, strict=True):
        problems = cross_check_verdict(verdict, result.segments, theirs, tool,
                                       sc.wireshark_warnings)
        if problems:
            disagree += 1
            print(f"ERROR {sc.id}  {result.family}: {tool} reads {result.pcap} differently:")
            print("\n".join(f"   - {p}" for p in problems), end="\n\n")
    took = time.monotonic() - began
    for _, result, _ in done:
        result.phases["cross-check"] = took / len(done)
    print(f"cross-check: {tool} read {len(views)} pcaps ({sum(map(len, views))} frames) in "
          f"{took:.2f} s; {len(views) - disagree} agree with our listing, {disagree} disagree")


def _plan(ids: Sequence[str], pcap_dir: str | None, family: str, topology: str,
          link: Link | None, deadline: float) -> list:
    """The runs asked for, checked before anything runs: scenarios, families, topologies."""
    from harness.orchestration.batch import Planned

    chosen = _choose(ids)
    if link is not None and topology == "loopback":
        raise UsageError("--netem impairs the link between two namespaces: add --topology "
                         "veth (or both)")
    if not deadline > 0:
        raise UsageError(f"--deadline {deadline:g}: give a positive number of seconds")
    if pcap_dir is not None:
        _writable_folder(pcap_dir, "--pcap-dir")
    plan = [Planned(sc, f, t, Path(pcap_dir) / _pcap_name(sc, f, t) if pcap_dir else None,
                    link if t == "veth" else None, deadline)
            for t in _wanted(topology) for sc in chosen for f in sc.families
            if family in ("both", f) and t in sc.topologies]
    if not plan:
        declared = ", ".join(f"{sc.id} ({'/'.join(sc.families)} on "
                             f"{'/'.join(sc.topologies)})" for sc in chosen)
        raise UsageError(f"no run left on {family}, {topology}: the chosen scenarios declare "
                         f"only these: {declared}")
    return plan


def _jobs(jobs: int | None) -> int:
    from harness.orchestration.batch import default_jobs

    if not jobs:
        return default_jobs()
    if jobs < 0:
        raise UsageError(f"--jobs {jobs}: give the number of runs at a time (0: one per CPU)")
    return jobs


def _execute(plan: Sequence, jobs: int) -> list[Finished]:
    """Run the plan, printing each run's story in plan order as soon as it is known."""
    from harness.orchestration.batch import execute

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
    plan = _plan(ids, pcap_dir, family, topology, link, deadline)
    workers = _jobs(jobs)
    _require_capture()
    tool = _tshark(require_tshark)
    _check_link(link, topology)
    root = Path.cwd()
    done = _execute(plan, workers)
    if tool:
        _cross_check(done, tool)
    runs = [run_json(sc, result, verdict, root) for sc, result, verdict in done]
    statuses = [verdict.status for _, _, verdict in done]
    document = results_json(runs, platform.release())
    if json_path:
        _write(json_path, json.dumps(document, indent=2) + "\n")
        print(f"results: {json_path}")
        for page in render_pages(document, Path(json_path).parent, root) if pages else []:
            print(f"report: {page}")
    if report_path:
        base = os.path.relpath(Path(report_path).resolve().parent, root)
        _write(report_path, render_report(runs, platform.release(), base))
        print(f"report: {report_path}")
    print(summary_line(statuses))
    return 0 if statuses and all(s == "pass" for s in statuses) else 1


def cmd_soak(ids: Sequence[str], rounds: int, pcap_dir: str, family: str = "both",
             topology: str = "both", link: Link | None = None, jobs: int | None = 1,
             deadline: float = RUN_DEADLINE) -> int:
    """Run the chosen scenarios `rounds` times; 0 only if no verdict changed between rounds
    and every run passed. The pcaps of runs that did not pass are kept, one per round."""
    from harness.core.flakes import always_failing, changed_verdicts, changed_wires

    if rounds < 1:
        raise UsageError(f"--rounds {rounds}: give 1 or more")
    plan = _plan(ids, pcap_dir, family, topology, link, deadline)
    workers = _jobs(jobs)
    _require_capture()
    _check_link(link, topology)
    seen = []
    for number in range(1, rounds + 1):
        seen.append(_soak_round(plan, workers, Path(pcap_dir), number))
        statuses = [o.status for o in seen[-1].values()]
        print(f"round {number}/{rounds}: {summary_line(statuses)}", flush=True)
    changed, failing = changed_verdicts(seen), always_failing(seen)
    document = {"rounds": rounds, "runs": len(plan), "kernel": platform.release(),
                "changed": [{"run": c.run, "verdicts": list(c.statuses)} for c in changed],
                "never passed": failing, "passed with other packets": changed_wires(seen)}
    _write(str(Path(pcap_dir) / "soak.json"), json.dumps(document, indent=2) + "\n")
    for found in changed:
        print(f"CHANGED {found.describe()}")
    for run in failing:
        print(f"NEVER PASSED {run}")
    for run in document["passed with other packets"]:
        print(f"note: {run} passed every round, not always with the same packets")
    print(f"soak: {rounds} rounds of {len(plan)} runs: {len(changed)} changed verdicts, "
          f"{len(failing)} runs that never passed (details: {pcap_dir}/soak.json)")
    return 0 if not changed and not failing else 1


def _soak_round(plan: Sequence, jobs: int, folder: Path, number: int) -> dict:
    """One round, its pcaps in a scratch folder; those of runs that did not pass are kept."""
    from harness.core.flakes import Outcome
    from harness.orchestration.batch import execute

    found = {}
    with tempfile.TemporaryDirectory(prefix="harness-soak-") as scratch:
        moved = [dataclasses.replace(p, pcap=Path(scratch) / p.pcap.name) for p in plan]
        for planned, (result, verdict) in zip(moved, execute(moved, jobs), strict=True):
            key = f"{planned.scenario.id} {planned.family} {planned.topology}"
            observed = " ".join(verdict.match.observed) if verdict.match else ""
            found[key] = Outcome(verdict.status, observed, "; ".join(verdict.reasons))
            if verdict.status != "pass" and result.pcap:
                kept = folder / f"{Path(result.pcap).stem}-round{number}.pcapng"
                shutil.move(result.pcap, kept)
    return found


def _writable_folder(folder: str, what: str) -> None:
    """Make folder if it is missing; UsageError (one line) if it cannot be made or written."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{what} {folder}: cannot make it ({exc.strerror}); choose a folder "
                         "you can write to") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {folder}: not writable; choose a folder you can write to")


def _wanted(topology: str) -> tuple[str, ...]:
    return ("loopback", "veth") if topology == "both" else (topology,)


def _check_link(link: Link | None, topology: str) -> None:
    """A netem link needs a kernel with netem and valid arguments; say so before anything
    runs."""
    if link is None or topology == "loopback":
        return
    from harness.lab.topology import netem_problem

    problem = netem_problem(link)
    if problem:
        raise UsageError(problem)


def _write(path: str, text: str) -> None:
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot write it ({exc.strerror}); "
                         "choose a writable place") from None


def cmd_show(path: str, stream: int | None, ladder: bool = False) -> int:
    """Print the capture's TCP segments, tcpdump-style (or as a ladder diagram)."""
    segments = read_capture(path)
    conversations = _tcp_conversations(path, segments)
    if ladder:
        return _show_ladder(path, conversations, _one_stream(path, conversations, stream,
                                                             "draw"))
    if stream is not None:
        segments = list(_one_stream(path, conversations, stream, "list").segments)
    for line in tcpdump_lines(segments):
        print(line)
    return 0


def _tcp_conversations(path: str, segments: list) -> list:
    """The capture's TCP connections; UsageError (one line) when it holds none."""
    conversations = split_conversations(segments)
    if conversations:
        return conversations
    from harness.pcap.segments import count_packets

    count = count_packets(path)
    held = {0: "no packets at all", 1: "1 packet, not TCP over IPv4 or IPv6"}.get(
        count, f"{count} packets, none of them TCP over IPv4 or IPv6")
    raise UsageError(f"{path}: no TCP segments in this capture (it holds {held}); give a "
                     "capture of TCP traffic, e.g. one written by `tcpdump -w FILE tcp`")


def _one_stream(path: str, conversations: Sequence, stream: int | None, doing: str):
    """The connection --stream names, or the only one; UsageError (one line) when --stream
    is out of range, or missing while the capture holds several connections."""
    count = len(conversations)
    if stream is None and count > 1:
        listed = ", ".join(f"{conv.index} = {_endpoints(conv)} ({len(conv.segments)} packets)"
                           for conv in conversations[:5])
        more = f", … ({count - 5} more)" if count > 5 else ""
        raise UsageError(f"{path}: {count} TCP connections in this capture; say which to "
                         f"{doing} with --stream N: {listed}{more}")
    if stream is not None and not 0 <= stream < count:
        valid = "0" if count == 1 else f"0 to {count - 1}"
        held = "1 connection" if count == 1 else f"{count} connections"
        raise UsageError(f"{path}: --stream {stream} is out of range: the capture holds "
                         f"{held}, numbered from 0 as in Wireshark's tcp.stream; give "
                         f"--stream {valid}")
    return pick(conversations, stream)


def _endpoints(conv) -> str:
    """`10.0.0.1.40000 > 10.0.0.2.80`, client first, as tcpdump writes them."""
    guess = "" if conv.client_known else " (no SYN seen)"
    return (f"{conv.client[0]}.{conv.client[1]} > {conv.server[0]}.{conv.server[1]}"
            f"{guess}")


def _show_ladder(path: str, conversations: list, conv) -> int:
    from harness.pcap.reader import read_pcapng
    from harness.report.ladder import ladder_from_capture, render_text

    try:
        capture = read_pcapng(path)
        comments = {n: list(r.comments) for n, r in enumerate(capture.records, 1)}
        section = list(capture.section.comments)
    except ValueError:
        comments, section = {}, []  # a classic pcap, or not written by us: no steps to show
    title = f"{path}, stream {conv.index} of {len(conversations)}"
    print(render_text(ladder_from_capture(title, list(conv.segments), comments, conv.client,
                                          section)))
    return 0


def render_pages(document: dict, folder: Path, root: Path) -> list[Path]:
    """Write REPORT.md and index.html for a results document into folder."""
    from harness.report.html import render_html

    base = os.path.relpath(folder.resolve(), root.resolve())  # the pages' folder, from root
    runs, kernel = document.get("runs", []), str(document.get("kernel", "unknown"))
    pages = [(folder / "REPORT.md", render_report(runs, kernel, base)),
             (folder / "index.html", render_html(document, base))]
    for path, text in pages:
        _write(str(path), text)
    return [path for path, _ in pages]


def cmd_report(source: str) -> int:
    """Render the pages again from a results.json."""
    try:
        document = json.loads(Path(source).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{source}: cannot read it ({exc.strerror}); run `harness verify` "
                         "first, or name a results.json with --from") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}: not JSON (line {exc.lineno}, column {exc.colno}); "
                         "give the results.json that `harness verify` writes") from None
    if not isinstance(document, dict) or not isinstance(document.get("runs"), list):
        raise UsageError(f"{source}: no list of runs in it; give the results.json that "
                         "`harness verify` writes")
    for page in render_pages(document, Path(source).parent, Path.cwd()):
        print(f"report: {page}")
    return 0


def cmd_check(path: str, pattern: str, stream: int | None) -> int:
    """Match one connection of a capture against a pattern: 0 if it matches, 1 if not."""
    compiled = compile_pattern(pattern)
    conversations = _tcp_conversations(path, read_capture(path))
    conv = _one_stream(path, conversations, stream, "check")
    client = f"{conv.client[0]}.{conv.client[1]}"
    how = "sent the first SYN" if conv.client_known else "sent the first packet (no SYN seen)"
    print(f"stream {conv.index}: client {client} ({how})")
    match = compiled.match(conv.tokens())
    if match.ok:
        print(f"match: {' '.join(match.observed)}")
        return 0
    print(match.explain(tcpdump_lines(list(conv.segments))))
    return 1


def cmd_probe(server: str, client: str, pattern: str, family: str = "ipv4",
              topology: str = "loopback", pcap: str = "pcaps/probe.pcapng",
              timeout: float = 10.0, shell: bool = False) -> int:
    """Run the user's own server, then client, in the lab's namespace(s); match the capture:
    0 if the first connection matches, 1 if not (2, via UsageError, when it cannot run)."""
    from harness.lab.programs import ProgramError, command_argv, resolve

    compiled = compile_pattern(pattern)  # before anything starts
    if not timeout > 0:
        raise UsageError(f"--timeout {timeout:g}: give a positive number of seconds")
    commands = {"server": server, "client": client}
    for side, command in commands.items():
        try:
            resolve(command_argv(command, shell)[0])
        except ProgramError as exc:
            raise UsageError(f"--{side}: {exc}") from None
    try:
        Path(pcap).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{pcap}: cannot write it ({exc.strerror}); choose a writable "
                         "place with --pcap") from None
    _require_capture()
    from harness.lab.lab import Lab

    with Lab(family, "probe", pcap, topology) as lab:
        return _probe(lab, commands, compiled, timeout, shell)


def _probe(lab, commands: dict[str, str], compiled, timeout: float, shell: bool) -> int:
    from harness.lab.programs import ProgramError, describe_status
    from harness.lab.waiting import WaitTimeout, wait_until

    host, port = lab.server_address
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    print(f"== probe ({lab.family}, {lab.topology_name}): your server and client on {where}")
    print(f"   expect {compiled.text}", flush=True)
    began = time.monotonic()

    def left() -> float:
        return max(began + timeout - time.monotonic(), 0.0)

    try:
        server = lab.spawn_server(commands["server"], shell)
        lab.wait_listening(port, within=left())
        print(f"   server: {server.command}  (listening after "
              f"{time.monotonic() - began:.3f} s)", flush=True)
        client = lab.spawn_client(commands["client"], shell)
    except ProgramError as exc:
        raise UsageError(str(exc)) from None
    except WaitTimeout:
        raise UsageError(f"the server did not listen on port {port} within {timeout:g} s; "
                         f"it must listen on {host} port {port} (write {{host}} and {{port}} "
                         "in its command)") from None
    print(f"   client: {client.command}", flush=True)
    programs = {"server": server, "client": client}
    with contextlib.suppress(WaitTimeout):  # whoever still runs is stopped below
        wait_until(lambda: all(p.poll() is not None for p in programs.values()), left(),
                   "both programs to exit")
    late = [side for side in ("client", "server") if programs[side].poll() is None]
    for side in late:
        programs[side].stop()
    lab.wait_quiet()
    conversations = split_conversations(lab.segments())
    conv = conversations[0] if conversations else None
    states = _probe_states(lab, conv)
    result = lab.finish()
    conversations = split_conversations(result.segments)
    conv = conversations[0] if conversations else None
    segments = list(conv.segments) if conv else []
    tokens = conv.tokens() if conv else []
    lines = tcpdump_lines(segments)
    match = compiled.match(tokens)
    if match.ok:
        for tok, line in zip(tokens, lines, strict=True):
            stamp, rest = line.split(" ", 1)
            print(f"   {stamp}  {tok:<5}  {rest}")
    else:
        explained = match.explain(lines).splitlines()
        print("\n".join(f"   {row}" for row in explained[:-1]))
    if len(conversations) > 1:
        print(f"   (the capture holds {len(conversations)} connections; the first was "
              f"matched; `harness show {result.pcap}` lists them all)")
    for side in ("server", "client"):
        program = programs[side]
        late_text = f"still running at the {timeout:g} s timeout; " if side in late else ""
        print(f"   {side}: {late_text}{program.status_text()}")
        for name in ("stdout", "stderr"):
            for row in program.tail(name, 3):
                print(f"     {name}: {row}")
    if states:
        print(f"   final states: {states}")
    print(f"   pcap: {result.pcap}")
    status = "PASS" if match.ok else "FAIL"
    if result.error:
        status = "ERROR"
    summary = ", ".join(f"{side} {describe_status(programs[side].poll())}"
                        + (" (stopped at the timeout)" if side in late else "")
                        for side in ("server", "client"))
    topology = "" if lab.topology_name == "loopback" else f" {lab.topology_name}"
    print(f"{status:<5} probe  {lab.family}{topology}  {' '.join(tokens) or 'no packets'} "
          f"({len(tokens)} packets)  {summary}")
    if result.error:
        print(f"   - {result.error}")
        return 2
    if not match.ok:
        print(f"   - {match.sentence()}")
    return 0 if match.ok else 1


def _probe_states(lab, conv) -> str:
    """`client TIME-WAIT, server CLOSED` for the first connection, as sock_diag sees it."""
    if conv is None:
        return ""
    parts = []
    for side, local, remote in (("client", conv.client, conv.server),
                                ("server", conv.server, conv.client)):
        found = [s.state for s in lab.tcp_sockets(side)
                 if s.local == tuple(local) and s.remote == tuple(remote)]
        parts.append(f"{side} {found[0] if found else 'CLOSED'}")
    return ", ".join(parts)


def dispatch(args: argparse.Namespace) -> int:
    """Run the chosen command."""
    if args.command == "list":
        return cmd_list()
    if args.command in ("run", "verify"):
        link = Link(args.netem, args.netem_side) if args.netem else None
        if args.command == "run":
            return cmd_run(args.ids, args.pcap_dir, args.json, args.family, args.report,
                           topology=args.topology, link=link, jobs=args.jobs,
                           deadline=args.deadline)
        return cmd_run([], "pcaps", "pcaps/results.json", args.family, require_tshark=True,
                       pages=True, topology=args.topology, link=link, jobs=args.jobs,
                       deadline=args.deadline)
    if args.command == "soak":
        return cmd_soak(args.ids, args.rounds, args.pcap_dir, args.family, args.topology,
                        Link(args.netem, args.netem_side) if args.netem else None, args.jobs,
                        args.deadline)
    if args.command == "show":
        return cmd_show(args.file, args.stream, args.ladder)
    if args.command == "report":
        return cmd_report(args.source)
    if args.command == "probe":
        return cmd_probe(args.server, args.client, args.expect, args.family, args.topology,
                         args.pcap, args.timeout, args.shell)
    return cmd_check(args.file, args.expect, args.stream)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: every user mistake is one line on stderr and exit status 2."""
    from harness.lab.userns import enter_if_unprivileged  # first: no thread may run yet
    enter_if_unprivileged()  # without root, a user namespace; capture_problem() says if not
    try:
        return dispatch(_parser().parse_args(argv))
    except PatternError as exc:
        print(f"harness: bad pattern: {exc}", file=sys.stderr)
    except (UsageError, CatalogError, CaptureFileError, LookupError, TopologyError) as exc:
        print(f"harness: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("harness: interrupted; namespaces and peers are gone with the run",
              file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
