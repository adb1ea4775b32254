"""`harness probe`: the user's own server and client programs as the peers of a lab, the
server first and the client once it listens, then the capture matched against a pattern and
written with the story in it (each program's start and end, each packet's pattern place; the
commands and the verdict in the section comments)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from harness.core.conversation import Conversation, split_conversations
from harness.core.errors import UsageError
from harness.core.link import Link
from harness.core.listing import tcpdump_lines
from harness.core.pattern import Match, Pattern, compile_pattern
from harness.core.result import RunResult
from harness.core.vocabulary import CLOSED, SERVER_PORT, SIDES, endpoint_text
from harness.lab.lab import Lab
from harness.lab.programs import Program, ProgramError, command_argv, describe_status, resolve
from harness.lab.waiting import WaitTimeout, wait_until
from harness.orchestration.plan import check_link, require_capture
from harness.pcap.annotate import event_comments, frame_comments


def cmd_probe(server: str, client: str, pattern: str, family: str = "ipv4",
              topology: str = "loopback", pcap: str = "pcaps/probe.pcapng",
              timeout: float = 10.0, shell: bool = False, port: int = SERVER_PORT,
              link: Link | None = None) -> int:
    """Run the user's own server, then client, in the lab's namespace(s) (the server on port,
    the veth link impaired as link says); match the capture: 0 if the first connection
    matches, 1 if not, 2 when it cannot run (a UsageError, or the lab's error)."""
    compiled = compile_pattern(pattern)  # before anything starts
    if not 0 < timeout <= 86_400:
        raise UsageError(f"--timeout {timeout:g}: give a positive number of seconds (at most "
                         "a day)")
    if not 0 < port < 65536:
        raise UsageError(f"--port {port}: give a port from 1 to 65535")
    if link is not None and topology != "veth":
        raise UsageError("--netem impairs the link between two namespaces: add --topology "
                         "veth")
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
    require_capture()
    check_link(link, topology)
    with Lab(family, "probe", pcap, topology, link, port) as lab:
        return _probe(lab, commands, compiled, timeout, shell)


def _start(lab: Lab, commands: dict[str, str], shell: bool, began: float,
           timeout: float) -> dict[str, Program]:
    """The server, then (once it listens) the client; UsageError if the server never does."""
    host, port = lab.server_address
    left = max(began + timeout - time.monotonic(), 0.0)
    try:
        server = lab.spawn_server(commands["server"], shell)
        lab.wait_listening(port, within=left)
        print(f"   server: {server.command}  (listening after "
              f"{time.monotonic() - began:.3f} s)", flush=True)
        client = lab.spawn_client(commands["client"], shell)
    except WaitTimeout:
        raise UsageError(f"the server did not listen on port {port} within {timeout:g} s; "
                         f"it must listen on {host} port {port} (write {{host}} and {{port}} "
                         "in its command)") from None
    print(f"   client: {client.command}", flush=True)
    return {"server": server, "client": client}


def _probe(lab: Lab, commands: dict[str, str], compiled: Pattern, timeout: float,
           shell: bool) -> int:
    """Run the programs, match the first connection, write the pcap and tell it all: the
    exit status."""
    print(f"== probe ({lab.family}, {lab.topology_name}): your server and client on "
          f"{endpoint_text(lab.server_address)}")
    if lab.link is not None:
        print(f"   link: {lab.link.describe()}")
    print(f"   expect {compiled.text}", flush=True)
    programs, late = _run_programs(lab, commands, shell, timeout)
    lab.wire.wait_quiet()
    conversations = split_conversations(lab.segments())
    states = _states(lab, conversations[0] if conversations else None)
    result = lab.finish(write=False)
    conversations = split_conversations(result.segments)
    conv = conversations[0] if conversations else None
    tokens = conv.tokens() if conv else []
    match = compiled.match(conv.packets() if conv else [])
    status = "ERROR" if result.error else "PASS" if match.ok else "FAIL"
    _write_pcap(lab, result, match, programs, [
        f"probe: your server and client on {endpoint_text(lab.server_address)}",
        *(f"{side}: {programs[side].command}" for side in ("server", "client")),
        f"pattern: {compiled.text}", f"verdict: {status}",
        *([f"- {result.error or match.sentence()}"] if status != "PASS" else []),
        *([f"final states: {states}"] if states else [])])
    _tell_wire(match, tcpdump_lines(list(conv.segments) if conv else []))
    if len(conversations) > 1:
        print(f"   (the capture holds {len(conversations)} connections; the first was "
              f"matched; `harness show {result.pcap}` lists them all)")
    _tell_programs(programs, late, timeout)
    if states:
        print(f"   final states: {states}")
    _tell_kernel(result)
    print(f"   pcap: {result.pcap}")
    summary = ", ".join(f"{side} {describe_status(programs[side].poll())}"
                        + (" (stopped at the timeout)" if side in late else "")
                        for side in ("server", "client"))
    topology = "" if lab.topology_name == "loopback" else f" {lab.topology_name}"
    print(f"{status:<5} probe  {lab.family}{topology}  {' '.join(tokens) or 'no packets'} "
          f"({len(tokens)} packets)  {summary}")
    if status != "PASS":
        print(f"   - {result.error or match.sentence()}")
    return {"PASS": 0, "FAIL": 1}.get(status, 2)


def _run_programs(lab: Lab, commands: dict[str, str], shell: bool, timeout: float
                  ) -> tuple[dict[str, Program], list[str]]:
    """Start the programs and wait for both to exit, stopping whoever still runs at the
    timeout: the programs, and the sides that had to be stopped."""
    began = time.monotonic()
    programs = _start(lab, commands, shell, began, timeout)
    with contextlib.suppress(WaitTimeout):  # whoever still runs is stopped below
        wait_until(lambda: all(p.poll() is not None for p in programs.values()),
                   max(began + timeout - time.monotonic(), 0.0), "both programs to exit")
    late = [side for side in SIDES if programs[side].poll() is None]
    for side in late:
        programs[side].stop()
    return programs, late


def _tell_wire(match: Match, lines: list[str]) -> None:
    """The first connection's packets, token and tcpdump line each; on a mismatch the listing
    with an arrow at the packet that broke it."""
    if match.ok:
        for tok, line in zip(match.observed, lines, strict=True):
            stamp, rest = line.split(" ", 1)
            print(f"   {stamp}  {tok:<5}  {rest}")
    else:
        print("\n".join(f"   {row}" for row in match.explain(lines).splitlines()[:-1]))


def _write_pcap(lab: Lab, result: RunResult, match: Match, programs: dict[str, Program],
                told: list[str]) -> None:
    """The pcap, each program's start and end on the packet nearest after it, each packet's
    place in the pattern, and told in the section comments."""
    if lab.unwritten is None:
        return
    events = []
    for side in ("server", "client"):
        program = programs[side]
        events.append((program.started_at, f"{side}: {program.command} started (pid "
                                            f"{program.pid})"))
        if program.ended_at is not None:
            events.append((program.ended_at, f"{side}: {program.command} "
                                             f"{program.status_text()}"))
    started = event_comments(result.segments, events)
    packets = frame_comments(result, match)
    lab.unwritten.write({index: started.get(index, []) + packets.get(index, [])
                         for index in sorted(set(started) | set(packets))}, told)


def _tell_programs(programs: dict[str, Program], late: list[str], timeout: float) -> None:
    """How each program ended, with the last lines it wrote."""
    for side in ("server", "client"):
        program = programs[side]
        late_text = f"still running at the {timeout:g} s timeout; " if side in late else ""
        print(f"   {side}: {late_text}{program.status_text()}")
        for name in ("stdout", "stderr"):
            for row in program.tail(name, 3):
                print(f"     {name}: {row}")


def _states(lab: Lab, conv: Conversation | None) -> str:
    """`client TIME-WAIT, server CLOSED` for the first connection, as sock_diag sees it."""
    if conv is None:
        return ""
    parts = []
    for side, local, remote in (("client", conv.client, conv.server),
                                ("server", conv.server, conv.client)):
        found = [s.state for s in lab.tcp_sockets(side)
                 if s.local == tuple(local) and s.remote == tuple(remote)]
        parts.append(f"{side} {found[0] if found else CLOSED}")
    return ", ".join(parts)


def _tell_kernel(result: RunResult) -> None:
    """The kernel's RSTs with their reasons (the pcap's comments have every event), or why
    its events were not recorded."""
    record = result.kernel
    if record is None:
        return
    if not record.traced:
        print(f"   kernel events: not recorded here ({record.missing})")
        return
    for event in record.resets():
        print(f"   kernel: {event.side} {event.text()}")
