"""One lab: fresh namespace(s), a running capture, a client and a server peer -> a RunResult.

The Lab owns its resources and little else: it registers each for release where it is made
and releases them newest-first on every path out (success, failure, timeout, Ctrl-C). The
namespaces are anonymous, so even a SIGKILL of this process leaves nothing behind: the peers
die with us (PR_SET_PDEATHSIG) and the namespaces with their last holder. What the capture
shows is read through `lab.wire` (harness.lab.watch); the user's own programs run through
`lab.programs` (harness.lab.programs). The methods of both that tests use are on the Lab too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.core.conversation import Conversation
from harness.core.display_filter import FilterOutcome
from harness.core.errors import UserError
from harness.core.kernel_events import KernelRecord
from harness.core.kernel_states import with_time_wait
from harness.core.link import Link, LinkError
from harness.core.packet import Packet
from harness.core.pattern import Match
from harness.core.result import Call, CaptureCounts, FinalState, Phases, RunResult, dup_origin
from harness.core.segment import Segment
from harness.core.sysctls import describe as describe_sysctls
from harness.core.values import FrozenMap
from harness.core.vocabulary import (
    CLOSED,
    FAMILIES,
    SERVER_PORT,
    SIDES,
    SILENT_STATES,
    endpoint_text,
)
from harness.lab import pcapfile
from harness.lab.capture import Capture
from harness.lab.kernel_expect import expect_kernel, transitions_spec
from harness.lab.peer import PeerProcess, SocketHandle
from harness.lab.programs import Program, Programs
from harness.lab.settling import check_state, settle
from harness.lab.sockdiag import SockDiag, SocketState
from harness.lab.stopwatch import Stopwatch
from harness.lab.sysctl import apply_sysctls
from harness.lab.topology import make_topology
from harness.lab.tracing import open_run_trace, run_record
from harness.lab.waiting import wait_until
from harness.lab.watch import Watch
from harness.lab.wireshark import expect_filter
from harness.pcap.writer import write_pcapng


def _signal_kill(*peers: PeerProcess) -> None:
    for peer in peers:
        peer.signal_kill()


class Lab:
    """A client and a server in their own namespace(s), with every packet between them
    captured: both on one namespace's `lo`, or each in its own joined by a veth pair; the
    server's port is `port` (5000 unless told)."""

    def __init__(self, family: str = "ipv4", scenario: str = "lab",
                 pcap_path: str | os.PathLike | None = None, topology: str = "loopback",
                 link: Link | None = None, port: int = SERVER_PORT,
                 sysctls: Mapping[str, int | str] | None = None) -> None:
        if family not in FAMILIES:
            raise UserError(f"unknown family {family!r}: use {' or '.join(FAMILIES)}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise UserError(f"port {port!r}: the server's port is a number from 1 to 65535")
        self.family = family
        self.port = port
        self.topology_name = topology
        self.link = link
        self.sysctls = dict(sysctls or {})
        self.scenario = scenario
        self.pcap_path = Path(pcap_path) if pcap_path else None
        self.calls: list[Call] = []
        self.unwritten: pcapfile.UnwrittenPcap | None = None
        self.notes: list[str] = []
        self.filter_outcomes: list[FilterOutcome] = []
        self.stopwatch = Stopwatch()
        self.wire = Watch(self.calls, self.save_pcap)
        self._stack = contextlib.ExitStack()
        try:
            self._open()
        except BaseException:
            self._stack.close()
            raise

    def _open(self) -> None:
        with self.stopwatch.timed("kernel events"):
            self._trace, self._untraced = open_run_trace()
        if self._trace is not None:
            self._stack.callback(self._trace.close)
        with self.stopwatch.timed("namespace"):
            topology = make_topology(self.topology_name, self.link)
            self._stack.callback(topology.close)
            self.topology = topology
            self.namespace_inode = topology.capture_ns.inode
            ports = self._trace.sysctls() if self._trace is not None else {}
            apply_sysctls(topology.namespaces(), {**ports, **self.sysctls})
            self._diags = {side: topology.ns_of(side).run(SockDiag) for side in SIDES}
            for diag in self._diags.values():
                self._stack.callback(diag.close)
        with self.stopwatch.timed("capture start"):
            capture = Capture(topology.capture_ns, on_packet=lambda _frame: self.wire.notify(),
                              ifname=topology.capture_if, keep_outgoing=topology.keep_outgoing)
            self._stack.callback(capture.close)
            self.wire.capture = self._capture = capture
            capture.start()
        with self.stopwatch.timed("peers start"):
            server = PeerProcess(topology.server_ns, "server", self.calls.append)
            self._stack.callback(server.kill)
            client = PeerProcess(topology.client_ns, "client", self.calls.append)
            self._stack.callback(client.kill)
            self._stack.callback(_signal_kill, server, client)  # both die at once, then reaped
            server.wait_ready()
            client.wait_ready()
        if self._trace is not None:
            with self.stopwatch.timed("kernel events"):
                self._trace.begin()
        host = topology.server_ip(self.family)
        self.server = SocketHandle(server, "server", self.family, self.port, host)
        self.client = SocketHandle(client, "client", self.family, self.port, host)
        self.programs = Programs(topology.ns_of, self.server_address, self.tcp_sockets,
                                 self._stack.callback)

    # -- what the kernel says ------------------------------------------------------------
    @property
    def server_address(self) -> tuple[str, int]:
        """The address and port the server listens on."""
        return self.topology.server_ip(self.family), self.port

    @property
    def client_address(self) -> tuple[str, int] | None:
        """The client's address and port, once connect() has run."""
        return self.connection_address("client")

    def connection_address(self, sock: str) -> tuple[str, int] | None:
        """The local address of the client socket named sock (or of the socket a dup'd name
        is a descriptor of), once its connect() has run."""
        sock = self._socket_named(sock)
        for call in self.calls:
            if (call.peer == "client" and call.sock == sock and call.call == "connect"
                    and "local" in call.info):
                addr, port = call.info["local"]
                return str(addr), int(port)
        return None

    def _socket_named(self, sock: str) -> str:
        """The client's name that made the socket a name is a descriptor of."""
        return dup_origin(self.calls, sock)

    def tcp_sockets(self, side: str) -> list[SocketState]:
        """Every TCP socket in a side's namespace now, as sock_diag reports them."""
        return self._diags[side].tcp_sockets()

    def kernel(self) -> KernelRecord:
        """What the kernel's tracepoints told of the run's connections so far (harness.lab.
        tracing); `missing` says why, where this machine cannot trace."""
        return run_record(self._trace, self._untraced, self.calls, self.segments(),
                          self.server_address, self.client.process.pid)

    def expect_rst_reason(self, reason: str, side: str | None = None) -> bool | None:
        """Assert that the kernel sent an RST (from side, or either) with reason, one of
        enum sk_rst_reason's names (harness.lab.kernel_expect: None where it cannot tell)."""
        __tracebackhide__ = True
        spec = {"rst_reason": reason, **({"from": side} if side is not None else {})}
        return expect_kernel("expect_rst_reason", spec, self.kernel())

    def expect_transitions(self, side: str, through: Sequence[str] | None = None,
                           exactly: Sequence[str] | None = None,
                           connection: str = "client") -> bool | None:
        """Assert the states the kernel says side's socket entered: `through` in order
        (others between), or `exactly` those (harness.lab.kernel_expect)."""
        __tracebackhide__ = True
        known = {c.sock for c in self.calls if c.peer == "client" and c.call == "connect"}
        spec = transitions_spec(side, through, exactly, connection, known)
        record = with_time_wait(self.kernel(), {s: self.state(s) for s in SIDES})
        return expect_kernel("expect_transitions", spec, record)

    def socket_state(self, side: str, connection: str = "client") -> SocketState | None:
        """The kernel's view of one side of a connection (by default the first: the one the
        client socket `client` made); None once it is in no table."""
        client, server = self.connection_address(connection), self.server_address
        if client is None:
            return None
        local, remote = (client, server) if side == "client" else (server, client)
        for sock in self.tcp_sockets(side):
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
        check_state(side, state)
        which = "" if connection == "client" else f" (connection {connection})"
        wait_until(lambda: self.state(side, connection) == state, within,
                   f"the {side}{which} to reach {state}")

    # -- what the wire says (see harness.lab.watch) --------------------------------------
    def segments(self) -> list[Segment]:
        """Every TCP segment captured so far."""
        return self.wire.segments()

    def conversation(self) -> Conversation | None:
        """The first connection in the capture, None before any packet."""
        return self.wire.conversation()

    def observed(self) -> list[str]:
        """The tokens of the first connection, `>S <S. ...`."""
        return self.wire.observed()

    def packets(self) -> list[Packet]:
        """The packets of the first connection, with the facts a pattern's fields compare."""
        return self.wire.packets()

    def wait_pattern(self, pattern: str, within: float = 2.0) -> Match:
        """Wait until the capture matches pattern, can no longer match it, or nothing more can
        come (both sides silent and the wire quiet), at most within seconds; the last match."""
        return self.wire.wait_pattern(pattern, within, self._nothing_more)

    def wait_wire(self, pattern: str, within: float = 5.0) -> None:
        """Wait until the packets so far begin with pattern; WaitTimeout names it otherwise."""
        self.wire.wait_wire(pattern, within)

    def expect(self, pattern: str, within: float = 2.0) -> Match:
        """Assert that the first connection on the wire matches pattern (tcpdump notation);
        the AssertionError says where it broke, with the listing (see explain)."""
        __tracebackhide__ = True  # pytest shows the test's own line, not the lab's
        return self.wire.expect(pattern, within, self._nothing_more)

    def explain(self, match: Match) -> str:
        """A failed match: where and why it broke, then the pattern and the listing with an
        arrow at the packet that did not fit."""
        return self.wire.explain(match)

    def story(self) -> str:
        """The wire, the calls and the pcap path (written as it is now), for a script's own
        report; the pytest plugin shows a timeline instead (harness.orchestration.testlab)."""
        return self.wire.story()

    def wait_quiet(self, period: float = 0.2, within: float = 2.0) -> bool:
        """Wait until no packet has been captured for period seconds (see Watch)."""
        return self.wire.wait_quiet(period, within)

    def _nothing_more(self) -> bool:
        """True when no packet of the connection can still come: both sides in states that
        send nothing unprompted, and then the wire settled (in that order: a packet sent
        while the states are read is in the capture, or in flight, when the wire is asked)."""
        return all(self.state(side) in SILENT_STATES for side in SIDES) and self.wire_settled()

    def wire_settled(self) -> bool:
        """True when the capture holds every packet sent so far: the wire quiet for longer
        than a packet can be in flight, and the capture caught up (a sniffer that lags under
        load leaves packets in its socket that the quiet time does not see)."""
        return self.wire.quiet_for() >= self.in_flight and self._capture.caught_up()

    @property
    def in_flight(self) -> float:
        """Seconds a packet can be on its way to the capture: 50 ms on a plain link, plus a
        round trip of the link's delay (1 s where the delay cannot be read)."""
        if self.link is None or not self.link.netem:
            return 0.05
        try:
            return 0.05 + 2 * self.link.emulated()[1]
        except LinkError:
            return 1.0

    def inject(self, side: str, flags: str, seq: int = 0, ack: int = 0, payload: bytes = b"",
               win: int | None = None, connection: str = "client") -> Call:
        """Send a crafted segment as if `side` had sent it (harness.lab.inject: seq and ack
        relative to what the capture has seen); the call, with an error if it failed."""
        from harness.lab.inject import inject

        return inject(self, side, flags, seq, ack, payload, win, connection)

    def expect_display_filter(self, text: str, count: int | str = 1) -> FilterOutcome:
        """Assert that Wireshark's display filter matches count frames of the capture so far
        (`count=1`, `">=1"`, `0`), evaluated by Wireshark's dissector through pyshark."""
        __tracebackhide__ = True
        return expect_filter(text, count, self.save_pcap, self.segments, self.filter_outcomes)

    def save_pcap(self) -> Path | None:
        """Write what was captured so far to the lab's pcap path, if it has one."""
        if self.pcap_path is None:
            return None
        write_pcapng(self.pcap_path, self._capture.frames(), *self._pcap_header())
        return self.pcap_path

    def _pcap_header(self) -> tuple[pcapfile.Section, pcapfile.Interface]:
        link = self.topology.link_text() if self.link is not None else ""
        client = endpoint_text(self.client_address) if self.client_address else "not connected"
        where = (f"{self.topology.describe()}; server {endpoint_text(self.server_address)}, "
                 f"client {client}")
        return pcapfile.header(self.scenario, self.family, self.topology.name, link,
                               self.topology.capture_if, where, describe_sysctls(self.sysctls))

    # -- the end of a run ----------------------------------------------------------------
    def settle(self, states: dict[str, str], within: float = 5.0) -> None:
        """Wait until each side is in its expected final state, both sides at once; note each
        that never gets there, or that is in a state from which it never can (decided then;
        harness.lab.settling)."""
        self.notes += settle(self.state, states, within)

    def finish(self, write: bool = True) -> RunResult:
        """Stop the capture (draining it), read the final states, write the pcap (or, with
        write=False, leave it in `self.unwritten` to be written once with its story)."""
        with self.stopwatch.timed("drain"):
            states = FrozenMap({side: self._final_state(side) for side in SIDES})
            states_read = time.time()
            frames = self._capture.stop()
            stats = self._capture.stats
            segments = self.segments()
        with self.stopwatch.timed("kernel events"):
            kernel = dataclasses.replace(
                with_time_wait(self.kernel(), {s: f.state for s, f in states.items()}),
                states_read=states_read)
        error = None
        if stats is not None and stats.kernel_drops:
            error = (f"the kernel dropped {stats.kernel_drops} packets before the capture read "
                     "them; the listing is incomplete")
        if self.pcap_path is not None:
            self.unwritten = pcapfile.UnwrittenPcap(self.pcap_path, tuple(frames),
                                                    *self._pcap_header())
            if write:
                with self.stopwatch.timed("pcapng write"):
                    self.unwritten.write()
        counts = (CaptureCounts(stats.frames, stats.kernel_packets, stats.kernel_drops)
                  if stats is not None else None)
        return RunResult(scenario=self.scenario, family=self.family,
                         topology=self.topology.name, segments=tuple(segments),
                         calls=tuple(self.calls), states=states, client=self.client_address,
                         server=self.server_address, capture=counts,
                         pcap=str(self.pcap_path) if self.pcap_path else None, error=error,
                         notes=tuple(self.notes), phases=self.stopwatch.phases(),
                         kernel=kernel)

    def _final_state(self, side: str) -> FinalState:
        sock = self.socket_state(side)
        if sock is None:
            return FinalState()
        return FinalState(sock.state, sock.local, sock.remote, sock.recv_q, sock.send_q,
                          orphan=sock.inode == 0)

    @property
    def phases(self) -> Phases:
        """Where the lab's time has gone so far, phase by phase."""
        return self.stopwatch.phases()

    def close(self) -> None:
        """Kill the peers, stop the capture, drop the namespaces: newest first."""
        self._stack.close()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the user's own programs as peers (see harness.lab.programs) -----------------------
    def spawn_server(self, argv: str | Sequence[str], shell: bool = False,
                     stdin: bool = False) -> Program:
        """Start a program of your own in the server's namespace, next to the driven peers.

        `{host}` and `{port}` in its arguments become the server's address and port; with
        shell=True the command runs through /bin/sh -c; with stdin=True, `feed()` writes to
        it. It is stopped (SIGTERM, then SIGKILL) when the lab closes. NoSuchProgram (a
        FileNotFoundError) if the executable does not exist.
        """
        return self.programs.spawn("server", argv, shell, stdin)

    def spawn_client(self, argv: str | Sequence[str], shell: bool = False,
                     stdin: bool = False) -> Program:
        """Start a program of your own in the client's namespace (see spawn_server)."""
        return self.programs.spawn("client", argv, shell, stdin)

    def listening(self, port: int | None = None) -> bool:
        """True when a socket in the server's namespace listens on port (any address; by
        default the lab's server port)."""
        return self.programs.listening(self.port if port is None else port)

    def wait_listening(self, port: int | None = None, within: float = 5.0) -> None:
        """Wait until a socket in the server's namespace listens on port (by default the
        lab's server port; see Programs)."""
        self.programs.wait_listening(self.port if port is None else port, within)
