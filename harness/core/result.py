"""What a run produced, as frozen values: each call's outcome, the segments, the final states,
what the capture counted and where the run's time went."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.core.call_spec import Opens
from harness.core.calls import ADDRESS_ARGS, CALLS, DEADLINE, REPORTED, WITHIN
from harness.core.kernel_events import KernelRecord
from harness.core.segment import Segment
from harness.core.values import FrozenMap, frozen, spelled
from harness.core.vocabulary import CLOSED, Endpoint, state_endpoint

# Arguments a call's text leaves out: the same for every call of a run, or bulky.
_UNSHOWN = ("data", DEADLINE.name, WITHIN.name, *ADDRESS_ARGS)

#: The phases of one run, in the order they happen. `exchange` is the scenario's own steps
#: (with whatever waits the protocol needs); everything else is the harness's overhead.
#: `kernel events` is the tracing's share (a port slice, reading and attributing the events),
#: timed wherever it happens.
PHASES = ("kernel events", "namespace", "capture start", "peers start", "exchange", "drain",
          "judge", "pcapng write", "teardown", "cross-check")


@dataclass(frozen=True)
class Call:
    """One system call made by a peer (or a wait of the lab), and what it returned."""

    peer: str
    sock: str
    call: str
    args: Mapping[str, Any] = field(default_factory=FrozenMap)
    ret: int | None = None
    errno: str | None = None
    start: float = 0.0
    elapsed: float = 0.0
    blocked: bool = False
    error: str | None = None
    info: Mapping[str, Any] = field(default_factory=FrozenMap)

    def __post_init__(self) -> None:
        for name in ("args", "info"):
            object.__setattr__(self, name, frozen(getattr(self, name)))

    def signature(self) -> str:
        """The call as written: `conn.recv(100)`, `client.set_linger(1, 0)`."""
        shown = [spelled(v) for k, v in self.args.items() if k not in _UNSHOWN]
        if "data" in self.args:
            shown.insert(0, f"<{self.info.get('sent_len', '?')} bytes>")
        return f"{self.sock}.{self.call}({', '.join(shown)})"

    def describe(self) -> str:
        """packetdrill-like: `conn.close() = 0 (0.000 s)`, `client.recv(100) = -1 ECONNRESET`."""
        if self.error:
            return f"{self.signature()}: {self.error}"
        if self.blocked:
            return f"{self.signature()} still blocked after {self.elapsed:.3f} s"
        err = f" {self.errno}" if self.errno else ""
        if "ended_by" in self.info:
            err = f" bytes, then {self.info['ended_by']}"
        if "signal" in self.info:
            err += f", {self.info['signal']} raised"
        return f"{self.signature()} = {self.ret}{err}{self.told()} ({self.elapsed:.3f} s)"

    def told(self) -> str:
        """What the call reported that its text shows (the table's `told`), after its return
        value: `, value ECONNRESET`, `, revents POLLIN|POLLOUT`; "" for most calls."""
        spec = CALLS.get(self.call)
        keys = spec.told if spec is not None else ()
        return "".join(f", {key} {spelled(self.info[key])}" for key in keys if key in self.info)

    def to_json(self) -> dict[str, Any]:
        """The call for results.json."""
        return {
            "peer": self.peer,
            "sock": self.sock,
            "call": self.call,
            "args": {k: v for k, v in self.args.items() if k != "data"},
            "return": self.ret,
            "errno": self.errno,
            "elapsed": round(self.elapsed, 6),
            "blocked": self.blocked,
            **{k: self.info[k] for k in REPORTED if k in self.info},
            **({"error": self.error} if self.error else {}),
        }


@dataclass(frozen=True)
class FinalState:
    """Where one side's connection ended, as sock_diag reported it; CLOSED once it is in no
    kernel table (then it has no endpoints)."""

    state: str = CLOSED
    local: Endpoint | None = None
    remote: Endpoint | None = None
    recv_q: int = 0
    send_q: int = 0
    orphan: bool = False

    def to_json(self) -> dict[str, Any]:
        """The state for results.json (just the name for a side that is gone)."""
        if self.local is None or self.remote is None:
            return {"state": self.state}
        return {"state": self.state, "local": state_endpoint(self.local),
                "remote": state_endpoint(self.remote), "recv_q": self.recv_q,
                "send_q": self.send_q, "orphan": self.orphan}


@dataclass(frozen=True)
class CaptureCounts:
    """What the capture saw: frames kept, and what the kernel counted and dropped."""

    frames: int
    kernel_packets: int
    kernel_drops: int

    def to_json(self) -> dict[str, int]:
        """The counts for results.json."""
        return {"frames": self.frames, "kernel_packets": self.kernel_packets,
                "kernel_drops": self.kernel_drops}


@dataclass(frozen=True)
class Phases(Mapping[str, float]):
    """Seconds a run spent per phase (harness.core.result.PHASES), in the order timed."""

    seconds: tuple[tuple[str, float], ...] = ()

    def __getitem__(self, name: str) -> float:
        for key, value in self.seconds:
            if key == name:
                return value
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self.seconds)

    def __len__(self) -> int:
        return len(self.seconds)

    def plus(self, name: str, seconds: float) -> Phases:
        """These phases with `seconds` more spent in phase name."""
        if name not in self:
            return Phases((*self.seconds, (name, seconds)))
        return Phases(tuple((k, v + seconds if k == name else v) for k, v in self.seconds))

    def to_json(self) -> dict[str, float]:
        """The phases for results.json, to the microsecond."""
        return {name: round(value, 6) for name, value in self.seconds}


@dataclass(frozen=True)
class RunResult:
    """Everything one run observed; judged afterwards by harness.core.verdict."""

    scenario: str
    family: str
    topology: str = "loopback"
    segments: tuple[Segment, ...] = ()
    calls: tuple[Call, ...] = ()
    states: Mapping[str, FinalState] = field(default_factory=FrozenMap)
    client: Endpoint | None = None
    server: Endpoint | None = None
    capture: CaptureCounts | None = None
    pcap: str | None = None
    error: str | None = None
    notes: tuple[str, ...] = ()
    phases: Phases = field(default_factory=Phases)
    kernel: KernelRecord | None = None  # what the kernel's tracepoints told (None: not asked)

    def __post_init__(self) -> None:
        for name in ("segments", "calls", "notes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not isinstance(self.states, FrozenMap):
            object.__setattr__(self, "states", FrozenMap(self.states))

    def final(self, side: str) -> FinalState:
        """Where one side's connection ended (CLOSED if the run recorded nothing)."""
        return self.states.get(side) or FinalState()

    def state_of(self, side: str) -> str:
        """The final TCP state of one side's connection socket ("CLOSED" if gone)."""
        return self.final(side).state


def dup_origin(calls: Sequence[Call], sock: str) -> str:
    """The client's name that made the socket a name is a descriptor of: the name itself,
    or, for a name a dup gave, the name it was dup'd from (followed back)."""
    dups = {}
    for call in calls:
        spec = CALLS.get(call.call)
        by = spec.arg(spec.names_by) if spec and spec.names_by else None
        if call.peer == "client" and spec and spec.opens is Opens.ALIAS and by:
            dups.setdefault(str(call.args.get(by.agent_name)), call.sock)
    seen = {sock}
    while sock in dups and dups[sock] not in seen:
        sock = dups[sock]
        seen.add(sock)
    return sock
