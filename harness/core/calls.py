"""The one table of calls a step can make: each call's arguments and their types, what it runs
on, who carries it out, which packets it can put on the wire and whether it moves data.

Everything else reads this table: the scenario loader checks steps against it, the runner
dispatches by it, the peer handle's methods are made from it, the peer agent answers its
calls (one `op_<name>` each), the annotator attributes packets by it and claims refer to
steps by its names. Adding a call is one entry here plus the agent's operation.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.core.vocabulary import STATE_NAMES

INT_MAX = 2**31 - 1
#: The most bytes one send() writes or one recv() asks for (its buffer is made up front).
MAX_BUFFER = 16 * 1024 * 1024
#: Arguments the peer handle adds for the agent on calls that need the lab's addresses.
ADDRESS_ARGS = ("family", "host", "port")
SHUTDOWN_HOW = ("SHUT_RD", "SHUT_WR", "SHUT_RDWR")
_NUMBER = (int, float)


class Target(enum.Enum):
    """What a step's `on` names."""

    SOCKET = "a socket of a peer"
    SIDE = "a side (client or server)"
    WIRE = "the wire"


class Runner(enum.Enum):
    """Who carries a call out."""

    AGENT = "the peer agent, in a thread of its own"
    PROCESS = "the peer process itself, which ends"
    LAB = "the lab, watching the kernel or the capture"


class Emits(enum.Enum):
    """A kind of packet a call's own work can put on the wire."""

    HANDSHAKE = "a SYN, or the handshake's ACK"
    DATA = "a segment carrying data"
    WINDOW = "an ACK that acknowledges nothing new (a window update)"
    FIN = "a FIN"
    RST = "an RST"


class Moves(enum.Enum):
    """Whether a call moves payload bytes, and which way."""

    NOTHING = "nothing"
    WRITES = "bytes written"
    READS = "bytes read"


class Opens(enum.Enum):
    """How a call gives a new name to a socket."""

    NOTHING = "no new socket"
    ITSELF = "the socket it makes is named by its `as`"
    ACCEPTED = "the connection it returns is named by its `as` (conn by default)"


@dataclass(frozen=True)
class Arg:
    """One argument of a call: its name in a scenario file, its types, and its bounds.

    `agent` is the name the peer agent takes it by when that differs; `choices` the values
    it may take; `low`..`high` the range of a number; `pattern` marks a pattern text, `names`
    the name of a client socket made earlier; `shown` whether the step's text shows it.
    """

    name: str
    kind: tuple[type, ...]
    required: bool = False
    default: Any = None
    agent: str | None = None
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    pattern: bool = False
    names: bool = False
    shown: bool = True

    @property
    def agent_name(self) -> str:
        """The name the peer agent takes this argument by."""
        return self.agent or self.name

    def type_text(self) -> str:
        """`int`, `int/float`: the types a value may have, as a message names them."""
        return "/".join(kind.__name__ for kind in self.kind)


#: The longest a call may block or wait, in seconds (a day).
LONGEST = 86_400
DEADLINE = Arg("deadline", _NUMBER, low=0, high=LONGEST, shown=False)
WITHIN = Arg("within", _NUMBER, default=5.0, low=0, high=LONGEST, shown=False)


@dataclass(frozen=True)
class CallSpec:
    """One call: what it does, its arguments and how every part of the harness treats it.

    `addressed` names what of the lab's address the agent needs (family, host, port);
    `blocking` calls take a `deadline` past which they are reported as still blocked;
    `waits` take a `within` and answer -1 with the condition that did not come; `margin`
    is how long past that the agent may take to answer; `context` is the socket setting a
    successful call makes, which the story names on later calls that `heed_settings`; a
    `payload` call's `bytes` (a count of b"x", or the bytes themselves) or `text` reach the
    agent as its `data`; `renamed` pairs an argument's old name with its new one.
    """

    name: str
    doc: str
    args: tuple[Arg, ...] = ()
    target: Target = Target.SOCKET
    runner: Runner = Runner.AGENT
    emits: frozenset[Emits] = frozenset()
    moves: Moves = Moves.NOTHING
    opens: Opens = Opens.NOTHING
    addressed: tuple[str, ...] = ()
    blocking: bool = False
    margin: float = 0.0
    context: str | None = None
    heed_settings: bool = False
    payload: bool = False
    renamed: tuple[tuple[str, str], ...] = ()

    def arg(self, name: str) -> Arg | None:
        """The argument called name, None if the call takes none of that name."""
        return next((a for a in self.args if a.name == name), None)

    @property
    def arg_names(self) -> tuple[str, ...]:
        """The names its arguments are written with."""
        return tuple(a.name for a in self.args)


_ENDS = frozenset({Emits.FIN, Emits.RST})


def _spec(name: str, doc: str, *args: Arg, **how: Any) -> CallSpec:
    if how.get("blocking"):
        args = (*args, DEADLINE)
    return CallSpec(name, doc, args, **how)


#: Every call, by name, in the order the README lists them.
CALLS: dict[str, CallSpec] = {spec.name: spec for spec in (
    _spec("socket", "socket(): make the socket now, so that options can be set before "
          "connect()", addressed=("family",)),
    _spec("listen", "bind() to the lab's address and port, then listen()",
          Arg("backlog", (int,), default=16, low=0, high=INT_MAX), addressed=ADDRESS_ARGS),
    _spec("connect", "connect() to the server's address and port (`as` names a second "
          "connection)", Arg("as", (str,)), addressed=ADDRESS_ARGS, blocking=True,
          emits=frozenset({Emits.HANDSHAKE}), opens=Opens.ITSELF),
    _spec("accept", "accept(); the connection it returns gets a name of its own (`as`, conn "
          "by default)", Arg("as", (str,), default="conn", agent="into"), blocking=True,
          opens=Opens.ACCEPTED),
    _spec("send", "one send() of `bytes` bytes of b\"x\" (or of `text`)",
          Arg("bytes", (int, bytes), default=1, low=0, high=MAX_BUFFER), Arg("text", (str,)),
          blocking=True, emits=frozenset({Emits.DATA}), moves=Moves.WRITES, payload=True),
    _spec("recv", "one recv() of at most `bytes` bytes",
          Arg("bytes", (int,), required=True, agent="size", low=0, high=MAX_BUFFER),
          blocking=True, emits=frozenset({Emits.WINDOW}), moves=Moves.READS),
    _spec("drain", "recv() until end of file or an error: the byte count, and what ended it",
          blocking=True, emits=frozenset({Emits.WINDOW}), moves=Moves.READS),
    _spec("fill", "write without blocking until the peer's window is shut and the send "
          "buffer full", WITHIN, margin=5.0, emits=frozenset({Emits.DATA}),
          moves=Moves.WRITES),
    _spec("set_linger", "setsockopt(SO_LINGER, {onoff, linger})",
          Arg("onoff", (int,), required=True, low=0, high=INT_MAX),
          Arg("linger", (int,), required=True, low=0, high=INT_MAX), context="SO_LINGER"),
    _spec("set_nonblocking", "fcntl(F_SETFL) with O_NONBLOCK set (enabled = false clears it)",
          Arg("enabled", (bool,), default=True), context="O_NONBLOCK",
          renamed=(("on", "enabled"),)),
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
          "is empty)", WITHIN, margin=2.0),
    _spec("wait_inq", "wait until at least `bytes` unread bytes sit in the receive queue",
          Arg("bytes", (int,), required=True, agent="size", low=0, high=INT_MAX), WITHIN,
          margin=2.0),
    _spec("wait_state", "wait until a side's connection reaches a TCP state (read with "
          "sock_diag; `connection` names a second connection)",
          Arg("state", (str,), required=True, choices=STATE_NAMES),
          Arg("connection", (str,), default="client", names=True), WITHIN,
          target=Target.SIDE, runner=Runner.LAB),
    _spec("wait_wire", "wait until the capture begins with `pattern`",
          Arg("pattern", (str,), required=True, pattern=True), WITHIN, target=Target.WIRE,
          runner=Runner.LAB),
)}


def renamed_hint(spec: CallSpec, old: str) -> str | None:
    """What to write instead of an argument's old name, None if it never had one."""
    new = dict(spec.renamed).get(old)
    if new is None:
        return None
    return (f"{spec.name} takes {new} (its argument {old} was renamed: in a scenario `on` "
            "names the step's socket)")


def spec_of(name: str) -> CallSpec:
    """The spec of a known call; KeyError for any other name."""
    return CALLS[name]


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
        if arg.name == "as" and spec.opens is Opens.ITSELF:
            continue  # the socket itself carries that name
        value = args.get(arg.name, arg.default)
        if value is not None:
            out[arg.agent_name] = value
    return out


def payload(args: Mapping[str, Any]) -> bytes:
    """The bytes a send() writes: its `text`, its `bytes` as given, or that many b"x"."""
    if args.get("text") is not None:
        return str(args["text"]).encode()
    count = args.get("bytes", 1)
    return count if isinstance(count, bytes) else b"x" * int(count)
