"""One run: a fresh namespace, a running capture, a client and a server peer -> a RunResult.

Every resource is registered for release where it is made and released newest-first on
every path out (success, failure, timeout, Ctrl-C). The namespace is anonymous, so even a
SIGKILL of this process leaves nothing behind: the peers die with us (PR_SET_PDEATHSIG) and
the namespace with its last holder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import os
import platform
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.core.conversation import Conversation, pick, split_conversations
from harness.core.listing import tcpdump_lines
from harness.core.pattern import Match, compile_pattern
from harness.core.result import CLOSED, Call, RunResult
from harness.core.segment import LINKTYPE_ETHERNET, Segment, segment_from_frame
from harness.lab.capture import Capture
from harness.lab.peer import PeerProcess, SocketHandle
from harness.lab.programs import Program, ProgramError
from harness.lab.sockdiag import SockDiag, SocketState
from harness.lab.topology import Link, make_topology
from harness.lab.waiting import WaitTimeout, wait_until
from harness.orchestration.timing import Phases
from harness.pcap.model import Interface, Record, Section
from harness.pcap.writer import write_pcapng

ADDRESSES = {"ipv4": "127.0.0.1", "ipv6": "::1"}
SERVER_PORT = 5000


def harness_version() -> str:
    """`tcp-close-harness 0.1.0 (scapy 2.8.0, Python 3.11.7)`, for the pcapng header."""
    try:
        mine = importlib.metadata.version("tcp-close-harness")
    except importlib.metadata.PackageNotFoundError:
        mine = "unknown version"
    return (f"tcp-close-harness {mine} (scapy {importlib.metadata.version('scapy')}, "
            f"Python {platform.python_version()})")


def _endpoint(end: tuple[str, int]) -> str:
    return f"[{end[0]}]:{end[1]}" if ":" in end[0] else f"{end[0]}:{end[1]}"


@dataclass
class UnwrittenPcap:
    """A run's capture, to be written as pcapng once its story is known."""

    path: Path
    records: list[Record]
    section: Section
    interface: Interface

    def write(self, comments: Mapping[int, Sequence[str]] | None = None,
              told: Sequence[str] = ()) -> None:
        """Write it, with comments on frames by number (from 1) and told in the section."""
        comments = comments or {}
        records = [dataclasses.replace(record, comments=(*record.comments,
                                                         *comments.get(number, ())))
                   if number in comments else record
                   for number, record in enumerate(self.records, 1)]
        section = dataclasses.replace(self.section, comments=(*self.section.comments, *told))
        write_pcapng(self.path, records, section, self.interface)


def _signal_kill(*peers: PeerProcess) -> None:
    for peer in peers:
        peer.signal_kill()


class Lab:
    """A client and a server in their own namespace(s), with every packet between them
    captured: both on one namespace's `lo`, or each in its own joined by a veth pair."""

    def __init__(self, family: str = "ipv4", scenario: str = "lab",
                 pcap_path: str | os.PathLike | None = None, topology: str = "loopback",
                 link: Link | None = None) -> None:
        if family not in ADDRESSES:
            raise ValueError(f"unknown family {family!r}: use ipv4 or ipv6")
        self.family = family
        self.topology_name = topology
        self.link = link
        self.scenario = scenario
        self.pcap_path = Path(pcap_path) if pcap_path else None
        self.calls: list[Call] = []
        self.unwritten: UnwrittenPcap | None = None
        self.notes: list[str] = []
        self._segments: list[Segment] = []
        self._dissected = 0  # frames already turned into segments
        self._arrived = threading.Condition()
        self._stack = contextlib.ExitStack()
        self.phases = Phases()
        try:
            self._open()
        except BaseException:
            self._stack.close()
            raise

    def _open(self) -> None:
        with self.phases.timed("namespace"):
            topology = make_topology(self.topology_name, self.link)
            self._stack.callback(topology.close)
            self.topology = topology
            self.namespace_inode = topology.capture_ns.inode
            self._diags = {side: topology.ns_of(side).run(SockDiag)
                           for side in ("client", "server")}
            for diag in self._diags.values():
                self._stack.callback(diag.close)
        with self.phases.timed("capture start"):
            self._capture = Capture(topology.capture_ns, on_packet=lambda _pkt: self._notify(),
                                    ifname=topology.capture_if,
                                    keep_outgoing=topology.keep_outgoing)
            self._stack.callback(self._capture.close)
            self._capture.start()
        with self.phases.timed("peers start"):
            server = PeerProcess(topology.server_ns, "server", self.calls.append)
            self._stack.callback(server.kill)
            client = PeerProcess(topology.client_ns, "client", self.calls.append)
            self._stack.callback(client.kill)
            self._stack.callback(_signal_kill, server, client)  # both die at once, then reaped
            server.wait_ready()
            client.wait_ready()
        host = topology.server_ip(self.family)
        self.server = SocketHandle(server, "server", self.family, SERVER_PORT, host)
        self.client = SocketHandle(client, "client", self.family, SERVER_PORT, host)

    def _notify(self) -> None:
        with self._arrived:
            self._arrived.notify_all()

    # -- what the kernel says ------------------------------------------------------------
    @property
    def server_address(self) -> tuple[str, int]:
        """The address and port the server listens on."""
        return self.topology.server_ip(self.family), SERVER_PORT

    @property
    def client_address(self) -> tuple[str, int] | None:
        """The client's address and port, once connect() has run."""
        return self.connection_address("client")

    def connection_address(self, sock: str) -> tuple[str, int] | None:
        """The local address of the client socket named sock, once its connect() has run."""
        for call in self.calls:
            if (call.peer == "client" and call.sock == sock and call.call == "connect"
                    and "local" in call.info):
                addr, port = call.info["local"]
                return str(addr), int(port)
        return None

    def socket_state(self, side: str, connection: str = "client") -> SocketState | None:
        """The kernel's view of one side of a connection (by default the first: the one the
        client socket `client` made; None once it is in no table."""
        client, server = self.connection_address(connection), self.server_address
        if client is None:
            return None
        local, remote = (client, server) if side == "client" else (server, client)
        for sock in self._diags[side].tcp_sockets():
            if sock.local == local and sock.remote == remote:
                return sock
        return None

    def state(self, side: str, connection: str = "client") -> str:
        """One side's TCP state by name, as ss prints it ("CLOSED" when gone)."""
        sock = self.socket_state(side, connection)
        return sock.state if sock else CLOSED

    def wait_state(self, side: str, state: str, within: float = 5.0,
                   connection: str = "client") -> None:
        """Wait until one side of a connection reaches state; WaitTimeout names it otherwise."""
        which = "" if connection == "client" else f" (connection {connection})"
        wait_until(lambda: self.state(side, connection) == state, within,
                   f"the {side}{which} to reach {state}")

    # -- what the wire says --------------------------------------------------------------
    def segments(self) -> list[Segment]:
        """Every TCP segment captured so far; each frame is dissected once."""
        frames = self._capture.frames()
        for number in range(self._dissected + 1, len(frames) + 1):
            frame = frames[number - 1]
            seg = segment_from_frame(frame.data, LINKTYPE_ETHERNET, frame.time, number)
            if seg is not None:
                self._segments.append(seg)
        self._dissected = len(frames)
        return list(self._segments)

    def conversation(self) -> Conversation | None:
        """The first connection in the capture, None before any packet."""
        conversations = split_conversations(self.segments())
        return pick(conversations, None) if conversations else None

    def observed(self) -> list[str]:
        """The tokens of the first connection, `>S <S. ...`."""
        conv = self.conversation()
        return conv.tokens() if conv else []

    def wait_pattern(self, pattern: str, within: float = 2.0) -> Match:
        """Wait until the capture matches pattern or within seconds pass; the last match."""
        compiled = compile_pattern(pattern)
        with self._arrived:
            match = compiled.match(self.observed())
            end = time.monotonic() + within
            while not match.ok and time.monotonic() < end:
                self._arrived.wait(end - time.monotonic())
                match = compiled.match(self.observed())
        return match

    def wait_wire(self, pattern: str, within: float = 5.0) -> None:
        """Wait until the packets so far begin with pattern; WaitTimeout names it otherwise."""
        compiled = compile_pattern(pattern)

        def seen() -> bool:
            tokens = self.observed()
            return any(compiled.match(tokens[:n]).ok for n in range(len(tokens), -1, -1))

        with self._arrived:
            end = time.monotonic() + within
            while not seen():
                left = end - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(f"the wire to show {pattern} (it shows "
                                      f"{' '.join(self.observed()) or 'nothing'})", within)
                self._arrived.wait(left)

    def expect(self, pattern: str, within: float = 2.0) -> Match:
        """Assert that the first connection on the wire matches pattern (tcpdump notation)."""
        match = self.wait_pattern(pattern, within)
        if not match.ok:
            raise AssertionError(self.explain(match))
        return match

    def explain(self, match: Match) -> str:
        """A failed match with the tcpdump listing beside it, then the calls and the pcap."""
        conv = self.conversation()
        lines = tcpdump_lines(list(conv.segments)) if conv else []
        return "\n".join([match.explain(lines), "", *self._calls_and_pcap()])

    def story(self) -> str:
        """The wire (token and tcpdump line per packet), the calls and the pcap path."""
        conv = self.conversation()
        wire = [f"{token:<5} {line}" for token, line in zip(
            conv.tokens(), tcpdump_lines(list(conv.segments)), strict=True)] if conv else []
        return "\n".join(["wire:", *wire, *self._calls_and_pcap()])

    def _calls_and_pcap(self) -> list[str]:
        lines = ["calls:", *(f"  {c.peer:<6} {c.describe()}" for c in self.calls)]
        pcap = self.save_pcap()
        return [*lines, f"pcap: {pcap}"] if pcap else lines

    def save_pcap(self) -> Path | None:
        """Write what was captured so far to the lab's pcap path, if it has one."""
        if self.pcap_path is None:
            return None
        write_pcapng(self.pcap_path, self._capture.frames(), *self._pcap_header())
        return self.pcap_path

    def _link_text(self) -> str:
        if self.link is None:
            return ""
        return f", link: {self.topology.link_text()}"

    def _pcap_header(self) -> tuple[Section, Interface]:
        """Where the capture was made, for the pcapng's section header and interface block."""
        section = Section(hardware=platform.machine(), os=f"Linux {platform.release()}",
                          application=harness_version(),
                          comments=(f"scenario {self.scenario}, {self.family}, topology "
                                    f"{self.topology.name}{self._link_text()}",))
        where = (f"{self.topology.describe()}; server {_endpoint(self.server_address)}, client "
                 f"{_endpoint(self.client_address) if self.client_address else 'not connected'}")
        return section, Interface(name=self.topology.capture_if, description=where,
                                  os=f"Linux {platform.release()}")

    # -- the end of a run ----------------------------------------------------------------
    def settle(self, states: dict[str, str], within: float = 5.0) -> None:
        """Wait until each side is in its expected final state; note it if one never gets there.

        A TCP state change follows the packet that caused it, and the capture sees each packet
        before TCP does, so once the states are reached every packet that led there is queued
        in the capture socket.
        """
        for side, state in states.items():
            try:
                self.wait_state(side, state, within)
            except WaitTimeout as exc:
                self.notes.append(str(exc))

    def finish(self, write: bool = True) -> RunResult:
        """Stop the capture (draining it), read the final states, write the pcap (or, with
        write=False, leave it in `self.unwritten` to be written once with its story)."""
        with self.phases.timed("drain"):
            states = {side: self._state_json(side) for side in ("client", "server")}
            frames = self._capture.stop()
            stats = self._capture.stats
            segments = self.segments()
        result = RunResult(scenario=self.scenario, family=self.family,
                           topology=self.topology.name, segments=segments,
                           calls=list(self.calls), states=states, client=self.client_address,
                           server=self.server_address, notes=list(self.notes),
                           phases=self.phases)
        if stats is not None:
            result.capture = {"frames": stats.frames, "kernel_packets": stats.kernel_packets,
                              "kernel_drops": stats.kernel_drops}
            if stats.kernel_drops:
                result.error = (f"the kernel dropped {stats.kernel_drops} packets before the "
                                "capture read them; the listing is incomplete")
        if self.pcap_path is not None:
            self.unwritten = UnwrittenPcap(self.pcap_path, list(frames),
                                           *self._pcap_header())
            result.pcap = str(self.pcap_path)
            if write:
                with self.phases.timed("pcapng write"):
                    self.unwritten.write()
        return result

    def _state_json(self, side: str) -> dict:
        sock = self.socket_state(side)
        return sock.to_json() if sock else {"state": CLOSED}

    def close(self) -> None:
        """Kill the peers, stop the capture, drop the namespace: newest first."""
        self._stack.close()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the user's own programs as peers ------------------------------------------------
    def spawn_server(self, argv: str | Sequence[str], shell: bool = False,
                     stdin: bool = False) -> Program:
        """Start a program of your own in the server's namespace, next to the driven peers.

        `{host}` and `{port}` in its arguments become the server's address and port; with
        shell=True the command runs through /bin/sh -c; with stdin=True, `feed()` writes to
        it. It is stopped (SIGTERM, then SIGKILL) when the lab closes. NoSuchProgram (a
        FileNotFoundError) if the executable does not exist.
        """
        return self._spawn("server", argv, shell, stdin)

    def spawn_client(self, argv: str | Sequence[str], shell: bool = False,
                     stdin: bool = False) -> Program:
        """Start a program of your own in the client's namespace (see spawn_server)."""
        return self._spawn("client", argv, shell, stdin)

    def _spawn(self, side: str, argv: str | Sequence[str], shell: bool, stdin: bool) -> Program:
        host, port = self.server_address
        program = Program(self.topology.ns_of(side), side, argv, shell=shell, stdin=stdin,
                          host=host, port=port)
        self._stack.callback(program.close)
        self.programs.append(program)
        return program

    @property
    def programs(self) -> list[Program]:
        """The user programs started in this lab, oldest first."""
        if "_programs" not in self.__dict__:
            self.__dict__["_programs"] = []
        return self.__dict__["_programs"]

    def tcp_sockets(self, side: str) -> list[SocketState]:
        """Every TCP socket in a side's namespace now, as sock_diag reports them."""
        return self._diags[side].tcp_sockets()

    def listening(self, port: int = SERVER_PORT) -> bool:
        """True when a socket in the server's namespace listens on port (any address, either
        family)."""
        return any(sock.state == "LISTEN" and sock.local[1] == port
                   for sock in self.tcp_sockets("server"))

    def wait_listening(self, port: int = SERVER_PORT, within: float = 5.0) -> None:
        """Wait until a socket in the server's namespace listens on port, read with sock_diag;
        WaitTimeout otherwise. ProgramError at once if every server program started with
        spawn_server has exited without it listening."""
        servers = [p for p in self.programs if p.side == "server"]

        def ready() -> bool:
            if self.listening(port):
                return True
            if servers and all(p.poll() is not None for p in servers):
                last = servers[-1]
                said = "; ".join(last.tail("stderr", 2))
                raise ProgramError(f"the server program {last.status_text()} without "
                                   f"listening on port {port}"
                                   + (f" (stderr: {said})" if said else ""))
            return False

        wait_until(ready, within, f"a socket listening on port {port} in the server's "
                                  "namespace")

    def wait_quiet(self, period: float = 0.2, within: float = 2.0) -> bool:
        """Wait until no packet has been captured for period seconds (at most within
        seconds); False if packets kept coming until then."""
        seen = {"count": -1, "since": 0.0}

        def quiet() -> bool:
            count, now = len(self._capture.frames()), time.monotonic()
            if count != seen["count"]:
                seen.update(count=count, since=now)
            return now - seen["since"] >= period

        try:
            wait_until(quiet, within, f"{period:.2f} s without a packet")
        except WaitTimeout:
            return False
        return True

