"""The kernel's own account of a run, from its TCP tracepoints: the text tracefs prints, read
into events, and the events of one run's connections told apart by side.

Lines look like (tracefs, `trace_clock` mono, `record-tgid` on: the thread, then its process):

    python-25717 ( 25715) [001] ..... 14799.856391: tcp_send_reset: skbaddr=... skaddr=...
        src=127.0.0.1:5000 dest=127.0.0.1:53288 state=TCP_CLOSE reason=TCP_STATE

`inet_sock_set_state` prints both an IPv4 and an IPv6 pair of addresses and says by `family`
which is the socket's; a connecting socket's first change (CLOSE to SYN-SENT) is printed
before it has a port (sport=0), and without the socket's address, so it is told by the task
that made it: the run's client process, whose connect() it is.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from harness.core.vocabulary import Endpoint

#: The tracepoints a run records, as tracefs names them (group/event).
TRACEPOINTS = ("tcp/tcp_send_reset", "tcp/tcp_receive_reset", "tcp/tcp_retransmit_skb",
               "tcp/tcp_destroy_sock", "sock/inet_sock_set_state")
_EVENT_NAMES = frozenset(point.split("/")[1] for point in TRACEPOINTS)
#: The kernel's TCP state names (`TCP_FIN_WAIT1`) as ours (`FIN-WAIT-1`).
KERNEL_STATES = {
    "TCP_ESTABLISHED": "ESTABLISHED", "TCP_SYN_SENT": "SYN-SENT", "TCP_SYN_RECV": "SYN-RECV",
    "TCP_FIN_WAIT1": "FIN-WAIT-1", "TCP_FIN_WAIT2": "FIN-WAIT-2", "TCP_TIME_WAIT": "TIME-WAIT",
    "TCP_CLOSE": "CLOSE", "TCP_CLOSE_WAIT": "CLOSE-WAIT", "TCP_LAST_ACK": "LAST-ACK",
    "TCP_LISTEN": "LISTEN", "TCP_CLOSING": "CLOSING", "TCP_NEW_SYN_RECV": "NEW-SYN-RECV"}
#: `enum sk_rst_reason` as 6.18 prints it (include/net/rstreason.h); older kernels have fewer.
RST_REASONS = (
    "NOT_SPECIFIED", "NO_SOCKET", "TCP_INVALID_ACK_SEQUENCE", "TCP_RFC7323_PAWS",
    "TCP_TOO_OLD_ACK", "TCP_ACK_UNSENT_DATA", "TCP_FLAGS", "TCP_OLD_ACK", "TCP_ABORT_ON_DATA",
    "TCP_TIMEWAIT_SOCKET", "INVALID_SYN", "TCP_ABORT_ON_CLOSE", "TCP_ABORT_ON_LINGER",
    "TCP_ABORT_ON_MEMORY", "TCP_STATE", "TCP_KEEPALIVE_TIMEOUT", "TCP_DISCONNECT_WITH_DATA",
    "MPTCP_RST_EUNSPEC", "MPTCP_RST_EMPTCP", "MPTCP_RST_ERESOURCE", "MPTCP_RST_EPROHIBIT",
    "MPTCP_RST_EWQ2BIG", "MPTCP_RST_EBADPERF", "MPTCP_RST_EMIDDLEBOX", "ERROR")

#: The change no tracepoint reports: tcp_time_wait() hands the connection to a new time-wait
#: socket and closes the full one (tcp_done: X -> CLOSE), so a side sock_diag finds in
#: TIME-WAIT got there at its last change to CLOSE (harness.core.kernel_states.with_time_wait).
TIME_WAIT_HANDOFF = "time_wait_handoff"
STATE_EVENTS = ("inet_sock_set_state", TIME_WAIT_HANDOFF)

_LINE = re.compile(r"^\s*(?P<task>.+?)-(?P<tid>\d+)\s+(?:\(\s*(?P<pid>[\d-]+)\)\s+)?"
                   r"\[(?P<cpu>\d+)\]\s+\S+\s+"
                   r"(?P<time>\d+\.\d+):\s+(?P<event>\w+):\s+(?P<fields>.*)$")
_FIELD = re.compile(r"(\w+)=(\S*)")
_NO_SOCKET = re.compile(r"^(0x)?0+$|^\(null\)$")


@dataclass(frozen=True)
class KernelEvent:
    """One tracepoint hit: when (seconds, on the clock of the capture's stamps once placed),
    which socket (`sock`, its kernel address as printed; "" for an RST sent for no socket),
    the socket's own endpoint and its peer's (for an RST: its source and destination), and
    what the event says: a state change (`old`, `new`), the socket's `state`, an RST's
    `reason`. `side` and `connection` are set once the event is attributed to a run."""

    time: float
    event: str
    sock: str = ""
    local: Endpoint | None = None
    remote: Endpoint | None = None
    old: str = ""
    new: str = ""
    state: str = ""
    reason: str = ""
    side: str = ""
    connection: str = ""
    pid: int = 0  # the process the event ran in (a packet's softirq runs in any)

    def text(self) -> str:
        """`FIN-WAIT-1 -> CLOSING`, `RST sent (reason TCP_ABORT_ON_CLOSE, state ESTABLISHED)`."""
        if self.event == "inet_sock_set_state":
            return f"{self.old} -> {self.new}"
        if self.event == "tcp_send_reset":
            reason = f"reason {self.reason}" if self.reason else "no reason given"
            return f"RST sent by tcp_send_reset ({reason}, state {self.state or 'none'})"
        if self.event == TIME_WAIT_HANDOFF:
            return f"{self.old} -> TIME-WAIT (a time-wait socket takes over)"
        return {"tcp_receive_reset": "RST received", "tcp_destroy_sock": "socket destroyed",
                "tcp_retransmit_skb": f"retransmission ({self.state})"}.get(self.event,
                                                                            self.event)


_LOST = re.compile(r"^CPU:\d+ \[LOST (\d+) EVENTS\]$", re.MULTILINE)


def lost_events(text: str) -> int:
    """How many events tracefs's text says the kernel dropped (its buffer was full)."""
    return sum(int(n) for n in _LOST.findall(text))


def parse_trace(text: str, offset: float = 0.0) -> list[KernelEvent]:
    """The events of tracefs's text (lines it cannot read are skipped); offset is added to
    each time (the trace clock's distance from the capture's)."""
    events = (parse_line(line, offset) for line in text.splitlines())
    return [event for event in events if event is not None]


def parse_line(line: str, offset: float = 0.0) -> KernelEvent | None:
    """One line of tracefs's text as an event; None for a line of another kind."""
    m = _LINE.match(line)
    if not m or m["event"] not in _EVENT_NAMES:
        return None
    fields = dict(_FIELD.findall(m["fields"]))
    when = float(m["time"]) + offset
    pid = int(m["pid"]) if m["pid"] and m["pid"].isdigit() else int(m["tid"])
    if m["event"] == "tcp_send_reset":
        return _reset(when, fields, pid)
    local, remote = _pair(fields)
    sock = "" if _NO_SOCKET.match(fields.get("skaddr", "0")) else fields.get("skaddr", "")
    return KernelEvent(when, m["event"], sock, local, remote,
                       old=KERNEL_STATES.get(fields.get("oldstate", ""), ""),
                       new=KERNEL_STATES.get(fields.get("newstate", ""), ""),
                       state=KERNEL_STATES.get(fields.get("state", ""), ""), pid=pid)


def _reset(when: float, fields: Mapping[str, str], pid: int) -> KernelEvent:
    """An RST: 6.10 and later print `src=... dest=...`; older kernels print the socket's
    ports and both address pairs, as inet_sock_set_state does (and only for a socket)."""
    sock = fields.get("skaddr", "")
    local, remote = ((_endpoint(fields.get("src", "")), _endpoint(fields.get("dest", "")))
                     if "src" in fields else _pair(fields))
    return KernelEvent(when, "tcp_send_reset", "" if _NO_SOCKET.match(sock or "0") else sock,
                       local, remote,
                       state=KERNEL_STATES.get(fields.get("state", ""), ""),
                       reason=fields.get("reason", ""), pid=pid)


def _pair(fields: Mapping[str, str]) -> tuple[Endpoint | None, Endpoint | None]:
    """The socket's endpoint and its peer's, from the family's pair of addresses."""
    v6 = fields.get("family") == "AF_INET6"
    saddr, daddr = (fields.get("saddrv6"), fields.get("daddrv6")) if v6 else (
        fields.get("saddr"), fields.get("daddr"))
    try:
        sport, dport = int(fields.get("sport", "")), int(fields.get("dport", ""))
    except ValueError:
        return None, None
    if saddr is None or daddr is None:
        return None, None
    return (_address(saddr), sport), (_address(daddr), dport)


def _endpoint(text: str) -> Endpoint | None:
    """`127.0.0.1:5000` or `[::1]:5000` as an endpoint."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        return None
    return _address(host.strip("[]")), int(port)


@functools.lru_cache(maxsize=1024)  # a run's events name the same few addresses
def _address(text: str) -> str:
    """An address as the capture and getsockname() write it (`::1`, not `0:0:...:1`)."""
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return text


def attribute(events: Iterable[KernelEvent], server: Endpoint,
              connections: Mapping[str, Endpoint], clients: Iterable[int] = (),
              server_rsts: Sequence[tuple[float, Endpoint]] = ()) -> tuple[KernelEvent, ...]:
    """The events of one run's connections, each with its side and connection set: a
    connection is the client socket's name and the endpoint its connect() got; the server
    is the address it listens on. Events of any other socket are left out.

    Two kinds of event do not name their connection. A connect()'s change to SYN-SENT, made
    before the socket had a port, is the connection's whose first event comes next among
    those the run's client processes (pids `clients`) made. An RST the listening socket
    sent (a segment that found no connection but the listener) names the listener only:
    it is the run's when the capture holds an RST from the server soon after it
    (server_rsts: when each was captured, and to whom) that none of the connections' own
    events sent, and that RST's connection's.
    """
    ordered = sorted(events, key=lambda e: e.time)
    ours = []
    for event in ordered:
        who = _whose(event, server, connections)
        if who is not None:
            ours.append(replace(event, side=who[0], connection=who[1]))
    ours += _connects(ordered, ours, server, set(clients))
    ours += _listener_resets(ordered, ours, server, connections, server_rsts)
    return tuple(sorted(ours, key=lambda e: e.time))


def client_endpoints(calls: Sequence[Any], segments: Sequence[Any],
                     server: Endpoint) -> dict[str, Endpoint]:
    """Each client socket that called connect(), by name, with its endpoint: the one
    connect() reported, or, for a connect() that had none yet (a non-blocking one, closed
    in SYN-SENT), the source of the next SYN to the server not already a connection's.
    Without any connect() call (the user's own programs), each SYN's source is one: the
    first is "client"."""
    named = [(c.sock, c.info.get("local")) for c in calls
             if c.peer == "client" and c.call == "connect"]
    known = {(str(a), int(p)) for _, local in named if local for a, p in [local]}
    syns = [(s.src, s.sport) for s in segments if s.flags & 0x02 and not s.flags & 0x10
            and (s.dst, s.dport) == server]
    spare = iter([end for end in dict.fromkeys(syns) if end not in known])
    found: dict[str, Endpoint] = {}
    for sock, local in named:
        end = (str(local[0]), int(local[1])) if local else next(spare, None)
        if end is not None and sock not in found:
            found[sock] = end
    if not named:  # programs of the user's own (harness probe): each SYN's source
        for number, end in enumerate(spare, start=1):
            found["client" if number == 1 else f"connection {number}"] = end
    return found


#: How long after a listener's RST event the capture may see the RST: a link's delay.
LISTENER_RST_WITHIN = 1.0


def _listener_resets(ordered: Sequence[KernelEvent], ours: Sequence[KernelEvent],
                     server: Endpoint, connections: Mapping[str, Endpoint],
                     server_rsts: Sequence[tuple[float, Endpoint]]) -> list[KernelEvent]:
    """The listener's RSTs that sent a captured RST of the server's: each captured RST takes
    the latest RST event not after it (within LISTENER_RST_WITHIN before it), among the
    connection's own and the listener's (as kernel_resets pairs them), so a listener RST of
    another run's does not take an RST the connection's own event sent, and one the link
    dropped does not take the listener's that followed it."""
    names = {end: name for name, end in connections.items()}
    own = [e for e in ours if e.event == "tcp_send_reset" and e.side == "server"]
    listening = [e for e in ordered if e.event == "tcp_send_reset" and e.local == server
                 and e.remote is not None and e.remote[1] == 0]
    found = []
    for when, to in sorted(server_rsts):
        if to not in names:
            continue
        def near(event: KernelEvent, when: float = when) -> bool:
            return when - LISTENER_RST_WITHIN <= event.time <= when + 0.002
        candidates = [(e.time, 0, e) for e in own if e.remote == to and near(e)]
        candidates += [(e.time, 1, e) for e in listening if near(e)]
        if not candidates:
            continue
        _, is_listener, event = max(candidates, key=lambda c: (c[0], c[1]))
        if is_listener:
            listening.remove(event)
            found.append(replace(event, side="server", connection=names[to], remote=to))
        else:
            own.remove(event)
    return found


def _whose(event: KernelEvent, server: Endpoint,
           connections: Mapping[str, Endpoint]) -> tuple[str, str] | None:
    for name, client in connections.items():
        if (event.local, event.remote) == (client, server):
            return "client", name
        if (event.local, event.remote) == (server, client):
            return "server", name
    return None


def _connects(ordered: Sequence[KernelEvent], ours: Sequence[KernelEvent], server: Endpoint,
              clients: set[int]) -> list[KernelEvent]:
    """The run's portless changes to SYN-SENT, each given to the next connection to start."""
    starts: dict[str, float] = {}
    for event in ours:
        if event.side == "client":
            starts.setdefault(event.connection, event.time)
    found = []
    for event in ordered:
        if (event.event != "inet_sock_set_state" or event.new != "SYN-SENT"
                or event.pid not in clients or event.local is None or event.local[1]
                or event.remote != server):
            continue
        later = [(t, name) for name, t in starts.items() if t >= event.time]
        if later:
            name = min(later)[1]
            del starts[name]
            found.append(replace(event, side="client", connection=name))
    return found


@dataclass(frozen=True)
class KernelRecord:
    """What the kernel told of one run: its connections' events, attributed; or, in
    `missing`, why nothing could be recorded (no tracefs, a user namespace). `no_reasons`
    says why RSTs carry no reason where the kernel's tracepoint has none; `covered` lists
    the client endpoints of the connections traced, `untraced` each connection that was not
    (a port the scenario bound itself) and why."""

    events: tuple[KernelEvent, ...] = ()
    missing: str = ""
    no_reasons: str = ""
    covered: tuple[Endpoint, ...] = ()  # the client endpoints whose events were kept
    untraced: tuple[tuple[str, str], ...] = ()  # (connection, why) of those that were not
    states_read: float = 0.0  # when sock_diag read the final states (0: not known)

    @property
    def traced(self) -> bool:
        """Whether the run's events were recorded."""
        return not self.missing

    def transitions(self, side: str, connection: str = "client") -> tuple[KernelEvent, ...]:
        """One side's state changes on a connection, in order."""
        return tuple(e for e in self.events if e.event in STATE_EVENTS
                     and e.side == side and e.connection == connection)

    def entered(self, side: str, connection: str = "client") -> list[str]:
        """The states one side's socket entered, in order (`SYN-SENT`, `ESTABLISHED`, ...).
        A first change out of SYN-RECV says the socket entered it: before Linux 6.15
        (a3a128f611a9) inet_csk_clone_lock traced LISTEN -> SYN-RECV before the child had
        its ports, so that event names only the listener and is no run's."""
        changes = self.transitions(side, connection)
        implied = ["SYN-RECV"] if changes and changes[0].old == "SYN-RECV" else []
        return implied + [e.new for e in changes]

    def why_untraced(self, connection: str) -> str:
        """Why a connection's events were not kept ("" when they were)."""
        return next((why for name, why in self.untraced if name == connection), "")

    def shifted(self, by: float) -> KernelRecord:
        """The record with by seconds added to every time."""
        return replace(self, events=tuple(replace(e, time=e.time + by) for e in self.events),
                       states_read=self.states_read + by if self.states_read else 0.0)

    def resets(self, side: str | None = None) -> tuple[KernelEvent, ...]:
        """The RSTs the kernel sent (from one side, or either), in order."""
        return tuple(e for e in self.events if e.event == "tcp_send_reset"
                     and (side is None or e.side == side))
