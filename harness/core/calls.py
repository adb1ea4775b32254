"""The one table of calls a step can make: each call's arguments and their types, what it runs
on, who carries it out, which packets it can put on the wire, whether it moves data, what it
reports and what it sets (the words are those of harness.core.call_spec).

Everything else reads this table: the scenario loader checks steps against it, the runner
dispatches by it, the peer handle's methods are made from it, the peer agent answers its
calls (one `op_<name>` each), the annotator attributes packets and names settings by it,
results.json records what it says calls report, claims refer to steps by its names. Adding
a call is one entry here plus the agent's operation.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from harness.core.call_spec import (
    HELD,
    NUMBER,
    Arg,
    CallSpec,
    Emits,
    Moves,
    Needs,
    Opens,
    Phase,
    Runner,
    Setting,
    Target,
    payload,
)
from harness.core.socket_names import (
    LEVELS,
    STORY_OPTIONS,
    TCP_INFO_FIELDS,
    address_problem,
    events_problem,
    flags_problem,
    level_problem,
    option_problem,
)
from harness.core.vocabulary import SIDES, STATE_NAMES

INT_MAX = 2**31 - 1
#: The most bytes one send() writes or one recv() asks for (its buffer is made up front).
MAX_BUFFER = 16 * 1024 * 1024
#: The longest a call may block or wait, in seconds (a day).
LONGEST = 86_400
#: The most payload bytes an injected segment carries (within any link's MTU).
INJECT_MAX = 1400
#: Arguments the peer handle adds for the agent on calls that need the lab's addresses.
ADDRESS_ARGS = ("family", "host", "port")
SHUTDOWN_HOW = ("SHUT_RD", "SHUT_WR", "SHUT_RDWR")
DEADLINE = Arg("deadline", NUMBER, low=0, high=LONGEST, shown=False, keyword=True)
WITHIN = Arg("within", NUMBER, default=5.0, low=0, high=LONGEST, shown=False, keyword=True)
_ENDS = frozenset({Emits.FIN, Emits.RST})
_RST = frozenset({Emits.RST})
_SIZE = ("size", "bytes", "the table names it as scenarios do")
_PAYLOAD = ("bytes", "text")  # what a payload call's `data` is made of
#: What tcp_info reports, in the order results record it.
TCP_INFO_KEYS = tuple(name for name, _format, _offset in TCP_INFO_FIELDS)
#: Where a socket name may stand for a call that makes its socket when there is none.
_MAKES = frozenset({Phase.ABSENT, *HELD})
_LEVEL = Arg("level", (str,), keyword=True, choices=tuple(LEVELS))


def _spec(name: str, doc: str, *args: Arg, **how: Any) -> CallSpec:
    if how.get("blocking"):
        args = (*args, DEADLINE)
    if any(arg.name == WITHIN.name for arg in args):
        how.setdefault("lasts", WITHIN.name)
    return CallSpec(name, doc, args, **how)


def _flags(call: str) -> Arg:
    """The `flags` of send or recv: MSG flag names (harness.core.socket_names.MSG_FLAGS)."""
    return Arg("flags", (list,), items=(str,), keyword=True, check=flags_problem(call))


def _option(call: str) -> Arg:
    """The option setsockopt or getsockopt names (the agent's `name` is the socket's)."""
    return Arg("name", (str,), required=True, agent="option",
               check=lambda name: option_problem(name, call))


#: Every call, by name, in the order the README lists them.
CALLS: Mapping[str, CallSpec] = MappingProxyType({spec.name: spec for spec in (
    _spec("socket", "socket(): make the socket now, so that options can be set before "
          "connect()", addressed=("family",), phases=frozenset({Phase.ABSENT}),
          leaves=Phase.MADE),
    _spec("bind", "bind() to `port` and `address` (the family's wildcard address unless "
          "given), before listen() or connect(); makes the socket if there is none yet",
          Arg("port", (int,), required=True, low=0, high=65535, agent="local_port"),
          Arg("address", (str,), check=address_problem), addressed=("family",),
          phases=frozenset({Phase.ABSENT, Phase.MADE}), leaves=Phase.BOUND),
    _spec("listen", "listen(), after a bind() to the lab's address and port unless the "
          "socket is bound already", Arg("backlog", (int,), default=16, low=0, high=INT_MAX),
          addressed=ADDRESS_ARGS, phases=_MAKES, leaves=Phase.LISTENING),
    _spec("connect", "connect() to the server's address and port (`as` names a second "
          "connection)", Arg("as", (str,)), addressed=ADDRESS_ARGS, blocking=True,
          emits=frozenset({Emits.HANDSHAKE}), opens=Opens.ITSELF, names_by="as",
          phases=_MAKES, leaves=Phase.CONNECTED),
    _spec("accept", "accept(); the connection it returns gets a name of its own (`as`, conn "
          "by default)", Arg("as", (str,), default="conn", agent="into"), blocking=True,
          opens=Opens.RETURNED, names_by="as"),
    _spec("dup", "dup(): a second descriptor, named `as`, for the same socket; a close() of "
          "one leaves the socket open while the other is", Arg("as", (str,), required=True,
                                                                agent="into"),
          opens=Opens.ALIAS, names_by="as"),
    _spec("send", "one send() of `bytes` bytes of b\"x\" (or of those bytes, or of `text`), "
          "with MSG `flags`", Arg("bytes", (int, bytes), default=1, low=0, high=MAX_BUFFER),
          Arg("text", (str,), keyword=True), _flags("send"), blocking=True,
          emits=frozenset({Emits.DATA}), moves=Moves.WRITES, payload=True, reports=("signal",)),
    _spec("recv", "one recv() of at most `bytes` bytes, with MSG `flags`",
          Arg("bytes", (int,), required=True, agent="size", low=0, high=MAX_BUFFER),
          _flags("recv"), blocking=True, emits=frozenset({Emits.WINDOW}), moves=Moves.READS,
          renamed=(_SIZE,)),
    _spec("drain", "recv() until end of file or an error: the byte count, and what ended it",
          blocking=True, emits=frozenset({Emits.WINDOW}), moves=Moves.READS,
          reports=("ended_by",)),
    _spec("fill", "write without blocking until the peer's window is shut and the send "
          "buffer full", WITHIN, margin=5.0, emits=frozenset({Emits.DATA}),
          moves=Moves.WRITES, reports=("queued", "unsent")),
    _spec("set_linger", "setsockopt(SO_LINGER, {onoff, linger})",
          Arg("onoff", (int,), required=True, low=0, high=INT_MAX),
          Arg("linger", (int,), required=True, low=0, high=INT_MAX),
          setting=Setting("SO_LINGER", values=("onoff", "linger"), inherited=True)),
    _spec("set_nonblocking", "fcntl(F_SETFL) with O_NONBLOCK set (enabled = false clears it)",
          Arg("enabled", (bool,), default=True),
          setting=Setting("O_NONBLOCK", flag="enabled", on_every_call=True),
          renamed=(("on", "enabled", "in a scenario `on` names the step's socket"),)),
    _spec("set_rcvbuf", "setsockopt(SO_RCVBUF); the kernel's answer is in info[\"effective\"]",
          Arg("size", (int,), required=True, low=0, high=INT_MAX)),
    _spec("set_sndbuf", "setsockopt(SO_SNDBUF); the kernel's answer is in info[\"effective\"]",
          Arg("size", (int,), required=True, low=0, high=INT_MAX)),
    _spec("setsockopt", "setsockopt() of an integer option (`level` follows from `name` "
          "unless given); what getsockopt() then reads back is in info[\"effective\"]",
          _option("setsockopt"), Arg("value", (int,), required=True, low=-INT_MAX - 1,
                                     high=INT_MAX), _LEVEL,
          check=level_problem, reports=("effective",), told=("effective",),
          setting=Setting("socket option", values=("value",), named_by="name",
                          only=STORY_OPTIONS, read_back="effective")),
    _spec("getsockopt", "getsockopt() of an integer option: its value (SO_ERROR's as an "
          "errno name, or 0)", _option("getsockopt"), _LEVEL, check=level_problem,
          reports=("value",), told=("value",)),
    _spec("tcp_info", "getsockopt(TCP_INFO): the connection's state and counters as the "
          "kernel keeps them", reports=TCP_INFO_KEYS, told=TCP_INFO_KEYS),
    _spec("poll", "poll() for `events`, at most `timeout` seconds: the events that came "
          "(POLLERR, POLLHUP and POLLNVAL come unasked)",
          Arg("events", (list,), required=True, items=(str,), check=events_problem),
          Arg("timeout", NUMBER, default=0, low=0, high=LONGEST, agent="seconds"),
          lasts="timeout",
          margin=2.0, reports=("revents",), told=("revents",)),
    _spec("shutdown", "shutdown(how)", Arg("how", (str,), required=True, choices=SHUTDOWN_HOW),
          emits=_ENDS, heed_settings=True),
    _spec("close", "close(2) itself (Python's socket.close() would hide ECONNRESET)",
          blocking=True, emits=_ENDS, heed_settings=True, leaves=Phase.CLOSED),
    _spec("disconnect", "connect() with AF_UNSPEC: the connection is dropped (or the "
          "listener stops) and the descriptor stays open", emits=_RST, leaves=Phase.MADE),
    _spec("destroy", "sock_diag SOCK_DESTROY of the socket, as `ss -K` does it, from inside "
          "its namespace", emits=_RST, needs=Needs.SOCK_DESTROY),
    _spec("exit", "the peer process calls _exit(code) with its sockets open; it lasts until "
          "the process is reaped", Arg("code", (int,), default=0, low=0, high=255),
          runner=Runner.PROCESS, emits=_ENDS, heed_settings=True),
    _spec("kill", "SIGKILL to the peer process, its sockets open; it lasts until the process "
          "is reaped", runner=Runner.PROCESS, emits=_ENDS, heed_settings=True),
    _spec("collect", "the outcome of this peer's call that was still blocked at its deadline",
          phases=frozenset(Phase)),
    _spec("wait_acked", "wait until every byte written has been acknowledged (the send queue "
          "is empty)", WITHIN, margin=2.0, reports=("queued",)),
    _spec("wait_inq", "wait until at least `bytes` unread bytes sit in the receive queue",
          Arg("bytes", (int,), required=True, agent="size", low=0, high=INT_MAX), WITHIN,
          margin=2.0, reports=("queued",), renamed=(_SIZE,)),
    _spec("wait_state", "wait until a side's connection reaches a TCP state (read with "
          "sock_diag; `connection` names a second connection)",
          Arg("state", (str,), required=True, choices=STATE_NAMES),
          Arg("connection", (str,), default="client", names=True), WITHIN,
          target=Target.SIDE, runner=Runner.LAB),
    _spec("wait_wire", "wait until the capture begins with `pattern`",
          Arg("pattern", (str,), required=True, pattern=True), WITHIN, target=Target.WIRE,
          runner=Runner.LAB),
    _spec("inject", "a segment crafted with scapy, sent as if `from` had sent it: `seq` "
          "counts from the next sequence number the capture has seen from that side, `ack` "
          "from the next seen from the other (when flags has an ACK), `win` is the side's "
          "last unless given; `len` bytes of b\"x\" or `text`",
          Arg("from", (str,), required=True, choices=SIDES),
          Arg("flags", (str,), required=True, letters=True),
          Arg("seq", (int,), default=0, low=-INT_MAX, high=INT_MAX),
          Arg("ack", (int,), default=0, low=-INT_MAX, high=INT_MAX),
          Arg("len", (int,), default=0, low=0, high=INJECT_MAX),
          Arg("text", (str,), keyword=True),
          Arg("win", (int,), low=0, high=65535),
          Arg("connection", (str,), default="client", names=True),
          target=Target.WIRE, runner=Runner.LAB),
)})

#: What calls report besides their return value, in the order results.json writes it.
REPORTED: tuple[str, ...] = tuple(dict.fromkeys(key for spec in CALLS.values()
                                                for key in spec.reports))


def calls_that(moves: Moves) -> frozenset[str]:
    """The names of the calls that move data the given way."""
    return frozenset(name for name, spec in CALLS.items() if spec.moves is moves)


def emitting() -> frozenset[str]:
    """The names of the calls whose own work can put a packet on the wire."""
    return frozenset(name for name, spec in CALLS.items() if spec.emits)


def agent_args(spec: CallSpec, args: Mapping[str, Any]) -> dict[str, Any]:
    """A step's arguments (by their scenario names) as the agent takes them, defaults filled
    in; `deadline` and `within` are the caller's to pass."""
    out: dict[str, Any] = {"data": payload(args)} if spec.payload else {}
    for arg in spec.args:
        if arg.name in (DEADLINE.name, WITHIN.name) or (spec.payload and arg.name in _PAYLOAD):
            continue
        if arg.name == spec.names_by and spec.opens is Opens.ITSELF:
            continue  # the socket itself carries that name
        value = args.get(arg.name, arg.default)
        if value is not None:
            out[arg.agent_name] = value
    return out
