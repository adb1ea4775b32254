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
    NUMBER,
    Arg,
    CallSpec,
    Emits,
    Moves,
    Opens,
    Runner,
    Setting,
    Target,
    payload,
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
_SIZE = ("size", "bytes", "the table names it as scenarios do")


def _spec(name: str, doc: str, *args: Arg, **how: Any) -> CallSpec:
    if how.get("blocking"):
        args = (*args, DEADLINE)
    return CallSpec(name, doc, args, **how)


#: Every call, by name, in the order the README lists them.
CALLS: Mapping[str, CallSpec] = MappingProxyType({spec.name: spec for spec in (
    _spec("socket", "socket(): make the socket now, so that options can be set before "
          "connect()", addressed=("family",)),
    _spec("listen", "bind() to the lab's address and port, then listen()",
          Arg("backlog", (int,), default=16, low=0, high=INT_MAX), addressed=ADDRESS_ARGS),
    _spec("connect", "connect() to the server's address and port (`as` names a second "
          "connection)", Arg("as", (str,)), addressed=ADDRESS_ARGS, blocking=True,
          emits=frozenset({Emits.HANDSHAKE}), opens=Opens.ITSELF, names_by="as"),
    _spec("accept", "accept(); the connection it returns gets a name of its own (`as`, conn "
          "by default)", Arg("as", (str,), default="conn", agent="into"), blocking=True,
          opens=Opens.RETURNED, names_by="as"),
    _spec("send", "one send() of `bytes` bytes of b\"x\" (or of those bytes, or of `text`)",
          Arg("bytes", (int, bytes), default=1, low=0, high=MAX_BUFFER),
          Arg("text", (str,), keyword=True), blocking=True, emits=frozenset({Emits.DATA}),
          moves=Moves.WRITES, payload=True, reports=("signal",)),
    _spec("recv", "one recv() of at most `bytes` bytes",
          Arg("bytes", (int,), required=True, agent="size", low=0, high=MAX_BUFFER),
          blocking=True, emits=frozenset({Emits.WINDOW}), moves=Moves.READS, renamed=(_SIZE,)),
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
    _spec("shutdown", "shutdown(how)", Arg("how", (str,), required=True, choices=SHUTDOWN_HOW),
          emits=_ENDS, heed_settings=True),
    _spec("close", "close(2) itself (Python's socket.close() would hide ECONNRESET)",
          blocking=True, emits=_ENDS, heed_settings=True),
    _spec("exit", "the peer process calls _exit(code) with its sockets open; it lasts until "
          "the process is reaped", Arg("code", (int,), default=0, low=0, high=255),
          runner=Runner.PROCESS, emits=_ENDS, heed_settings=True),
    _spec("kill", "SIGKILL to the peer process, its sockets open; it lasts until the process "
          "is reaped", runner=Runner.PROCESS, emits=_ENDS, heed_settings=True),
    _spec("collect", "the outcome of this peer's call that was still blocked at its deadline"),
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
    if spec.payload:
        return {"data": payload(args)}
    out = {}
    for arg in spec.args:
        if arg.name in (DEADLINE.name, WITHIN.name):
            continue
        if arg.name == spec.names_by and spec.opens is Opens.ITSELF:
            continue  # the socket itself carries that name
        value = args.get(arg.name, arg.default)
        if value is not None:
            out[arg.agent_name] = value
    return out
