"""The `harness` command: parsing its arguments and handing each command to the module that
does it (harness.orchestration), so that a command imports only what it needs.

Every mistake a user can make ends here as one line on stderr and exit status 2; a run that
cannot be made is its own ERROR, said in its verdict; anything else is a bug of the harness,
said in one line as well (HARNESS_TRACEBACK=1 shows its traceback).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from harness.core.errors import HarnessError, UsageError
from harness.core.vocabulary import (
    FAMILIES,
    LINK_PATHS,
    LINK_SIDES,
    RUN_DEADLINE,
    SERVER_PORT,
    TOPOLOGIES,
)

if TYPE_CHECKING:
    from harness.core.link import Link

#: The commands that capture, which need privileges (or a user namespace of their own).
CAPTURING = ("run", "verify", "soak", "probe")


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake on the command line is one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="harness", description="Prove on the wire what closing a TCP connection does.")
    parser.add_argument("--version", action=_Version,
                        help="print the harness's version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="the scenarios, each with the claims it settles")
    run = sub.add_parser("run", help="run scenarios (all when no ID is given)")
    run.add_argument("ids", nargs="*", metavar="ID",
                     help="a catalog scenario's id (see `harness list`) or the path of a "
                          "scenario file of your own (FILE.toml); all of the catalog when none")
    run.add_argument("--pcap-dir", default="pcaps", help="where pcapng files go (pcaps)")
    run.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    run.add_argument("--report", metavar="FILE", help="write the Markdown report to FILE")
    run.add_argument("--family", choices=[*FAMILIES, "both"], default="both",
                     help="the address family to run on (default: both)")
    _link_options(run, "loopback")
    _output_options(run)
    verify = sub.add_parser("verify", help="run the whole catalog into pcaps/: pcapng files, "
                                           "results.json, REPORT.md, index.html (what `make "
                                           "verify` runs)")
    verify.add_argument("ids", nargs="*", metavar="ID",
                        help="only these scenarios (ids or FILE.toml paths); all of the "
                             "catalog when none")
    verify.add_argument("--family", choices=[*FAMILIES, "both"], default="both",
                        help="the address family to run on (default: both)")
    verify.add_argument("--pcap-dir", default="pcaps",
                        help="where the pcapng files, results.json and the pages go (pcaps)")
    verify.add_argument("--no-pages", dest="pages", action="store_false",
                        help="write results.json but not REPORT.md and index.html (render "
                             "them later with `harness report`; what a guest does)")
    _link_options(verify, "both")
    _output_options(verify)
    _kernels_parser(sub)
    soak = sub.add_parser("soak", help="run the catalog N times and report any verdict that "
                                       "changed between rounds (flakes)")
    soak.add_argument("ids", nargs="*", metavar="ID",
                      help="scenario ids or FILE.toml paths (default: all of the catalog)")
    soak.add_argument("--rounds", "-n", type=int, default=200, metavar="N",
                      help="how many times to run them (default: 200)")
    soak.add_argument("--family", choices=[*FAMILIES, "both"], default="both",
                      help="the address family to run on (default: both)")
    soak.add_argument("--pcap-dir", default="pcaps/soak",
                      help="where the pcaps of runs that did not pass go, one per round "
                           "(pcaps/soak), with soak.json")
    _link_options(soak, "both")
    show = sub.add_parser("show", help="list a pcap/pcapng the way `tcpdump -n -r` does")
    show.add_argument("file", help="a pcap or pcapng file (gzipped or not)")
    show.add_argument("--stream", type=int, metavar="N",
                      help="only this connection, numbered from 0 as Wireshark's tcp.stream")
    show.add_argument("--ladder", action="store_true",
                      help="draw the connection as a ladder diagram, with the steps the "
                           "harness wrote into the pcapng")
    report = sub.add_parser("report", help="render index.html and REPORT.md again from "
                                           "results.json, without running anything")
    report.add_argument("--from", dest="sources", action="append", default=[], metavar="FILE",
                        help="the results to render (pcaps/results.json); the pages are "
                             "written beside it. Given more than once (results.json files or "
                             "folders holding one, e.g. one per kernel from a CI matrix): the "
                             "table of what changed between them, into --out")
    report.add_argument("--out", default="pcaps/kernels", metavar="DIR",
                        help="with several --from: where kernels.json, REPORT.md and "
                             "index.html go (default: pcaps/kernels)")
    check = sub.add_parser("check", help="match a capture against a pattern")
    check.add_argument("file", help="a pcap or pcapng file (gzipped or not)")
    check.add_argument("--expect", required=True, metavar="PATTERN",
                       help="the pattern the connection must match, in tcpdump's flag "
                            "notation, e.g. '>S <S. >. >F. <F. >.' (see the README's pattern "
                            "language)")
    check.add_argument("--stream", type=int, metavar="N",
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
    probe.add_argument("--family", choices=FAMILIES, default="ipv4",
                       help="the address family (default: ipv4)")
    probe.add_argument("--topology", choices=TOPOLOGIES, default="loopback",
                       help="loopback: both programs on one namespace's lo; veth: each in its "
                            "own namespace, joined by a veth pair (default: loopback)")
    probe.add_argument("--port", type=int, default=SERVER_PORT, metavar="N",
                       help="the port the server must listen on, which {port} becomes "
                            f"(1-65535; default: {SERVER_PORT})")
    probe.add_argument("--netem", metavar="ARGS",
                       help="with --topology veth: impair the link with tc netem, e.g. "
                            "\"delay 20ms loss 1%%\"")
    probe.add_argument("--netem-side", choices=LINK_SIDES, default="both",
                       help="whose egress the netem qdisc sits on (default: both directions)")
    probe.add_argument("--pcap", default="pcaps/probe.pcapng", metavar="FILE",
                       help="where the capture goes (default: pcaps/probe.pcapng)")
    probe.add_argument("--timeout", type=float, default=10.0, metavar="S",
                       help="seconds for the whole run; a program still running then is "
                            "stopped, the capture up to then kept (default: 10)")
    probe.add_argument("--shell", action="store_true",
                       help="run each command through /bin/sh -c (default: split into an "
                            "argument list and run without a shell)")
    return parser


def _kernels_parser(sub: argparse._SubParsersAction) -> None:
    kernels = sub.add_parser("kernels", help="run the catalog on the host and in a virtual "
                                             "machine of each kernel asked for, and write the "
                                             "table of what changed (kernels.json)")
    kernels.add_argument("--kernel", action="append", default=[], metavar="K",
                         help="a kernel to boot: a version (6.1, 6.12: the newest Debian "
                              "package of it), a package name (linux-image-6.1.0-57-amd64) or "
                              "the path of a vmlinuz beside its modules; give it once a kernel")
    kernels.add_argument("--topology", choices=[*TOPOLOGIES, "both"], default="both",
                         help="the topologies of the catalog to run (default: both)")
    kernels.add_argument("--family", choices=[*FAMILIES, "both"], default="both",
                         help="the address family to run on (default: both)")
    kernels.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                         help="guests at a time (default: 1; each takes the CPUs it is given)")
    kernels.add_argument("--deadline", type=float, default=900.0, metavar="S",
                         help="seconds each kernel's run may take, boot to power-off (and the "
                              "host's catalog); past it the guest is killed, an ERROR "
                              "(default: 900)")
    kernels.add_argument("--cache", metavar="DIR",
                         help="where the kernels' packages are unpacked "
                              "(default: ~/.cache/tcp-close-harness/kernels)")
    kernels.add_argument("--out", default="pcaps/kernels", metavar="DIR",
                         help="where each kernel's results, pcaps and console go, and "
                              "kernels.json (default: pcaps/kernels)")
    kernels.add_argument("--memory", default="2G", metavar="SIZE",
                         help="each guest's memory, as QEMU's -m takes it (default: 2G)")
    kernels.add_argument("--scenario", action="append", default=[], metavar="ID",
                         help="only this scenario (an id or a FILE.toml path); give it once a "
                              "scenario (default: the whole catalog)")
    kernels.add_argument("--cpus", type=int, default=2, metavar="N",
                         help="each guest's virtual CPUs, and the catalog's runs at a time "
                              "inside it (default: 2)")
    kernels.add_argument("--no-link-fidelity", dest="fidelity", action="store_false",
                         help="do not run the impaired-link scenarios again in each guest with "
                              "the kernel's netem and with the user-space link")
    kernels.add_argument("--no-host", dest="host", action="store_false",
                         help="do not run the host's own catalog (one CI job per kernel, "
                              "joined later with `harness report --from DIR --from DIR`)")
    kernels.add_argument("--link", choices=LINK_PATHS, default="auto",
                         help="how the guests play a veth link's netem arguments (HARNESS_LINK "
                              "inside them): kernel, the kernel's netem; user, the user-space "
                              "link; auto, netem where the kernel has it (default: auto; the "
                              "host's own run always auto)")


def _link_options(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--topology", choices=[*TOPOLOGIES, "both"], default=default,
                        help="loopback: both peers on one namespace's lo; veth: each in its "
                             f"own namespace, joined by a veth pair (default: {default})")
    parser.add_argument("--netem", metavar="ARGS",
                        help="impair the veth link with tc netem, e.g. \"delay 20ms loss 1%%\"")
    parser.add_argument("--netem-side", choices=LINK_SIDES, default="both",
                        help="whose egress the netem qdisc sits on (default: both directions)")
    parser.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                        help="runs at a time, each in its own namespaces, in worker "
                             "processes (default: 1; 0 is one per CPU)")
    parser.add_argument("--deadline", type=float, default=RUN_DEADLINE, metavar="S",
                        help="seconds a run may take; past it the run is an error, its "
                             f"capture kept (default: {RUN_DEADLINE:g})")


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="print every run's whole story (calls and packets on one clock, "
                             "states, claims), not only of the runs that did not pass")
    parser.add_argument("--junit", metavar="FILE",
                        help="write JUnit XML to FILE: one testcase per run, the reasons as "
                             "its failure, its claims as properties")


class _Version(argparse.Action):
    """`--version`: the harness's version (read from the package only when asked), then exit."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)  # type: ignore[arg-type]

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> NoReturn:
        from harness.core.version import described

        print(described())
        parser.exit()


def _link(args: argparse.Namespace) -> Link | None:
    from harness.core.link import Link

    return Link(args.netem, args.netem_side) if args.netem else None


def dispatch(args: argparse.Namespace) -> int:
    """Run the chosen command."""
    if args.command == "list":
        from harness.orchestration.scenarios import cmd_list

        return cmd_list()
    if args.command in ("show", "check"):
        from harness.orchestration import offline

        if args.command == "show":
            return offline.cmd_show(args.file, args.stream, args.ladder)
        return offline.cmd_check(args.file, args.expect, args.stream)
    if args.command == "report":
        if len(args.sources) > 1:
            from harness.orchestration.kernel_report import cmd_report_kernels

            return cmd_report_kernels(args.sources, args.out)
        from harness.orchestration.pages import cmd_report

        return cmd_report((args.sources or ["pcaps/results.json"])[0])
    if args.command == "run":
        from harness.orchestration.verify import cmd_run

        return cmd_run(args.ids, args.pcap_dir, args.json, args.family, args.report,
                       topology=args.topology, link=_link(args), jobs=args.jobs,
                       deadline=args.deadline, verbose=args.verbose, junit_path=args.junit)
    if args.command == "verify":
        from harness.orchestration.verify import cmd_run

        return cmd_run(args.ids, args.pcap_dir, str(Path(args.pcap_dir) / "results.json"),
                       args.family,
                       require_tshark=True,
                       pages=args.pages, topology=args.topology, link=_link(args), jobs=args.jobs,
                       deadline=args.deadline, verbose=args.verbose, junit_path=args.junit)
    if args.command == "kernels":
        from harness.orchestration.kernels import Settings, cmd_kernels

        signal.signal(signal.SIGTERM, _interrupted)  # a CI job cancelled: as Ctrl-C

        settings = Settings(args.topology, args.family, args.deadline, Path(args.out),
                            args.memory, args.cpus, args.link, tuple(args.scenario),
                            args.fidelity, args.host)
        return cmd_kernels(args.kernel, settings, args.jobs, args.cache)
    if args.command == "soak":
        from harness.orchestration.soak import cmd_soak

        return cmd_soak(args.ids, args.rounds, args.pcap_dir, args.family, args.topology,
                        _link(args), args.jobs, args.deadline)
    from harness.orchestration.probe import cmd_probe

    return cmd_probe(args.server, args.client, args.expect, args.family, args.topology,
                     args.pcap, args.timeout, args.shell, args.port, _link(args))


def _interrupted(signum: int, frame: object) -> None:
    """SIGTERM taken as Ctrl-C, so every guest is stopped on the way out."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: every user mistake is one line on stderr and exit status 2."""
    try:
        args = _parser().parse_args(argv)
        if args.command in CAPTURING:
            from harness.lab.userns import enter_if_unprivileged  # before any thread starts

            enter_if_unprivileged()  # without root, a user namespace; capture_problem() says
        return dispatch(args)
    except HarnessError as exc:
        print(f"harness: {exc.what}{exc}", file=sys.stderr)
    except BrokenPipeError:  # `harness list | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 141
    except KeyboardInterrupt:
        print("harness: interrupted; namespaces and peers are gone with the run",
              file=sys.stderr)
        return 130
    except Exception as exc:  # a bug of ours: said in one line, the traceback on request
        if os.environ.get("HARNESS_TRACEBACK", "") not in ("", "0"):
            raise
        text = " ".join(str(exc).split())[:200]
        print(f"harness: internal error ({type(exc).__name__}: {text}); this is a bug of the "
              "harness: run it again with HARNESS_TRACEBACK=1 and report what it shows",
              file=sys.stderr)
        return 70
    return 2


if __name__ == "__main__":
    sys.exit(main())
