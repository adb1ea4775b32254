"""What a run produced, as plain data: each system call's outcome, the segments, the states."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.core.segment import Segment

# TCP states as `ss` names them, indexed by the kernel's enum tcp_state (1 is ESTABLISHED).
TCP_STATES = (
    "", "ESTABLISHED", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT",
    "CLOSE", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING", "NEW-SYN-RECV",
)
# The state we report for a side whose socket is in no kernel table any more (RFC 793).
CLOSED = "CLOSED"
STATE_NAMES = (*TCP_STATES[1:], CLOSED)
# Arguments the listing leaves out: the same for every call of a run, or bulky.
_UNSHOWN = ("data", "deadline", "family", "host", "port", "within")


@dataclass(frozen=True)
class Call:
    """One system call made by a peer, and what it returned."""

    peer: str
    sock: str
    call: str
    args: dict[str, Any] = field(default_factory=dict)
    ret: int | None = None
    errno: str | None = None
    start: float = 0.0
    elapsed: float = 0.0
    blocked: bool = False
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def signature(self) -> str:
        """The call as written: `conn.recv(100)`, `client.set_linger(1, 0)`."""
        shown = [str(v) for k, v in self.args.items() if k not in _UNSHOWN]
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
        return f"{self.signature()} = {self.ret}{err} ({self.elapsed:.3f} s)"

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
            **{k: self.info[k] for k in ("signal", "ended_by", "queued", "unsent")
               if k in self.info},
            **({"error": self.error} if self.error else {}),
        }


@dataclass
class RunResult:
    """Everything one run observed; judged afterwards by harness.core.verdict."""

    scenario: str
    family: str
    topology: str = "loopback"
    segments: list[Segment] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    client: tuple[str, int] | None = None
    server: tuple[str, int] | None = None
    capture: dict[str, int] = field(default_factory=dict)
    pcap: str | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase

    def state_of(self, side: str) -> str:
        """The final TCP state of one side's connection socket ("CLOSED" if gone)."""
        return str(self.states.get(side, {}).get("state", CLOSED))
