"""What an entry of the table of calls (harness.core.calls) says: the words the table is
written in, and the checks and conversions every reader of the table shares."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.core.errors import closest, quoted
from harness.core.notation import NotationError, str_to_flags

NUMBER = (int, float)


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
    """How a call gives a new name to a socket (the argument CallSpec.names_by names it)."""

    NOTHING = "no new socket"
    ITSELF = "the socket the call makes is the one it names"
    RETURNED = "the socket the call returns is the one it names"
    ALIAS = "a second descriptor for the socket the call is made on"


class Phase(enum.Enum):
    """Where a socket name stands, step by step, as the loader follows it (harness.core.
    step_checks): a name may hold no socket yet, then one made, bound, listening or
    connected, until its descriptor is closed."""

    ABSENT = "no socket yet"
    MADE = "made"
    BOUND = "bound"
    LISTENING = "listening"
    CONNECTED = "connected"
    CLOSED = "closed"


#: The phases in which a socket name holds a descriptor.
HELD = frozenset({Phase.MADE, Phase.BOUND, Phase.LISTENING, Phase.CONNECTED})


class Needs(enum.Enum):
    """A kernel feature a call needs, which the lab probes for by trying (once) before a run
    that makes the call."""

    SOCK_DESTROY = "sock_diag SOCK_DESTROY (CONFIG_INET_DIAG_DESTROY)"


@dataclass(frozen=True)
class Arg:
    """One argument of a call: its name in a scenario file, its types, and its bounds.

    `agent` is the name the peer agent takes it by when that differs; `choices` the values
    it (or, for a list, each item) may take; `items` the types of a list's items; `low`..
    `high` the range of a number; `pattern` marks a pattern text, `letters` TCP flags in
    tcpdump letters, `names` the name of a client socket made earlier; `shown` whether the
    step's text shows it; `keyword` that Python callers must give it by name; `check` says
    why a value (of the right type) cannot be it, or None (the names of options, events and
    flags: harness.core.socket_names).
    """

    name: str
    kind: tuple[type, ...]
    required: bool = False
    default: Any = None
    agent: str | None = None
    choices: tuple[str, ...] = ()
    items: tuple[type, ...] = ()
    low: float | None = None
    high: float | None = None
    pattern: bool = False
    letters: bool = False
    names: bool = False
    shown: bool = True
    keyword: bool = False
    check: Callable[[Any], str | None] | None = None

    @property
    def agent_name(self) -> str:
        """The name the peer agent takes this argument by."""
        return self.agent or self.name


@dataclass(frozen=True)
class Setting:
    """A socket setting a successful call makes, as later calls' stories name it: `name`
    (SO_LINGER), the arguments shown as its value (`{1,0}`; one value is shown bare), the
    flag argument whose false clears it, whether it is named on every call of its socket or
    only on those that heed settings, and whether an accepted socket inherits it from its
    listener. A call that sets many settings names the one it makes by an argument
    (`named_by`: setsockopt's option), and `only` are the names worth telling; `read_back` is
    what the call reports the kernel made of the value, shown instead of the value asked."""

    name: str
    values: tuple[str, ...] = ()
    flag: str | None = None
    on_every_call: bool = False
    inherited: bool = False
    named_by: str | None = None
    only: frozenset[str] | None = None
    read_back: str | None = None

    def label(self, args: Mapping[str, Any]) -> str | None:
        """The setting's name after a call with args, None when it is not worth telling."""
        name = str(args.get(self.named_by, "")) if self.named_by else self.name
        return name if self.only is None or name in self.only else None

    def shown(self, args: Mapping[str, Any], info: Mapping[str, Any] | None = None
              ) -> str | None:
        """How the setting reads after a call with args (`{1,0}`, `1`, "" for a flag that is
        set), None when the call clears it; info is what the call reported."""
        if self.flag is not None and not args.get(self.flag, True):
            return None
        if self.read_back is not None and info and self.read_back in info:
            return str(info[self.read_back])
        if len(self.values) == 1:
            return str(args[self.values[0]])
        return "{" + ",".join(str(args[v]) for v in self.values) + "}" if self.values else ""


@dataclass(frozen=True)
class CallSpec:
    """One call: what it does, its arguments and how every part of the harness treats it.

    `addressed` names what of the lab's address the agent needs (family, host, port);
    `blocking` calls take a `deadline` past which they are reported as still blocked; a call
    with a `within` waits for a condition and answers -1 when it does not come, `margin` is
    how long past that the agent may take to answer; `names_by` is the argument that names
    the socket a call opens; `setting` what a successful call sets on its socket, named on
    later calls that `heed_settings`; `reports` the keys of what the call says besides its
    return value, which results.json records; a `payload` call's `bytes` (a count of b"x",
    or the bytes themselves) or `text` reach the agent as its `data`; `renamed` gives an
    argument's old name, its new one and why it changed; `told` the reported keys the call's
    text shows (`= 0, value ECONNRESET`); `lasts` the argument giving how long the call itself
    may wait (its caller waits that long, plus `margin`); `check` why the arguments together
    do not fit (an option at the wrong level), or None; `phases` where a socket name must
    stand for the call (None: it holds a socket) and `leaves` where the call leaves it;
    `needs` a kernel feature the call cannot work without.
    """

    name: str
    doc: str
    args: tuple[Arg, ...] = ()
    target: Target = Target.SOCKET
    runner: Runner = Runner.AGENT
    emits: frozenset[Emits] = frozenset()
    moves: Moves = Moves.NOTHING
    opens: Opens = Opens.NOTHING
    names_by: str | None = None
    addressed: tuple[str, ...] = ()
    blocking: bool = False
    margin: float = 0.0
    setting: Setting | None = None
    heed_settings: bool = False
    reports: tuple[str, ...] = ()
    payload: bool = False
    renamed: tuple[tuple[str, str, str], ...] = ()
    told: tuple[str, ...] = ()
    lasts: str | None = None
    check: Callable[[Mapping[str, Any]], str | None] | None = None
    phases: frozenset[Phase] | None = None
    leaves: Phase | None = None
    needs: Needs | None = None

    def arg(self, name: str) -> Arg | None:
        """The argument called name, None if the call takes none of that name."""
        return next((a for a in self.args if a.name == name), None)

    @property
    def arg_names(self) -> tuple[str, ...]:
        """The names its arguments are written with."""
        return tuple(a.name for a in self.args)

    def opened(self, args: Mapping[str, Any]) -> str | None:
        """The name of the socket a call with args opens, None if it opens none."""
        if self.opens is Opens.NOTHING or self.names_by is None:
            return None
        by = self.arg(self.names_by)
        return args.get(self.names_by, by.default if by else None)


def renamed_hint(spec: CallSpec, old: str) -> str | None:
    """What to write instead of an argument's old name, None if it never had one."""
    for was, now, why in spec.renamed:
        if was == old:
            return f"{spec.name} takes {now} (its argument {was} was renamed: {why})"
    return None


def _number(value: float | None) -> str:
    """2147483647, 0.5: a bound as a person writes it."""
    return str(int(value)) if value is not None and value == int(value) else f"{value}"


def bounds_text(spec: CallSpec, arg: Arg) -> str:
    """`onoff and linger from 0 to 2147483647`: the range, with the arguments that share it."""
    names = [a.name for a in spec.args if (a.low, a.high, a.kind) == (arg.low, arg.high, arg.kind)]
    upper = f" to {_number(arg.high)}" if arg.high is not None else " or more"
    return f"{' and '.join(names)} from {_number(arg.low)}{upper}"


def type_problem(name: str, value: Any, kinds: tuple[type, ...]) -> str | None:
    """Why value is not of kinds (a bool is no int), None if it is."""
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        return f"{name} must be a {'/'.join(k.__name__ for k in kinds)}, not {quoted(value)}"
    return None


def value_problem(spec: CallSpec, arg: Arg, value: Any) -> str | None:
    """Why value cannot be arg of spec (its type, its choices, its range), None if it can."""
    problem = type_problem(arg.name, value, arg.kind)
    if problem:
        return problem
    if arg.letters:
        try:
            str_to_flags(value)
        except NotationError as exc:
            return f"{arg.name}: {exc}"
    values = value if isinstance(value, list | tuple) and arg.items else [value]
    for item in values:
        if arg.items:
            problem = type_problem(f"each of {arg.name}", item, arg.items)
            if problem:
                return problem
        if arg.choices and item not in arg.choices:
            near = closest(item, list(arg.choices)) if isinstance(item, str) else []
            hint = f" (did you mean {near[0]}?)" if near else ""
            return (f"{arg.name} must be one of {', '.join(arg.choices)}, not "
                    f"{quoted(item)}{hint}")
        if isinstance(item, int | float) and not isinstance(item, bool):
            low = -float("inf") if arg.low is None else arg.low
            high = float("inf") if arg.high is None else arg.high
            if not low <= item <= high:  # NaN is refused too
                return f"{spec.name} takes {bounds_text(spec, arg)}"
    problem = arg.check(value) if arg.check is not None else None
    return f"{spec.name} {arg.name}: {problem}" if problem else None


def args_problem(spec: CallSpec, args: Mapping[str, Any]) -> str | None:
    """Why a call's arguments (each of its right type and range) do not fit together, None
    if they do."""
    return spec.check(args) if spec.check is not None else None


def payload(args: Mapping[str, Any]) -> bytes:
    """The bytes a send() writes: its `text`, its `bytes` as given, or that many b"x"."""
    if args.get("text") is not None:
        return str(args["text"]).encode()
    count = args.get("bytes", 1)
    return count if isinstance(count, bytes) else b"x" * int(count)
