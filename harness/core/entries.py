"""The parts of a run's entry in results.json as frozen values: its packets, calls, claims,
match, final states and cross-check (harness.core.document puts them together).

Each has `to_json()`, its stable shape in results.json, and `from_json(raw, where)`, which
reads one back and refuses a value of the wrong type with one line naming `where`; keys a
file leaves out take the values an empty run would have.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from harness.core.calls import REPORTED
from harness.core.display_filter import (
    DisplayFilterError,
    FilterOutcome,
    display_filter,
)
from harness.core.errors import UserError
from harness.core.result import FinalState
from harness.core.values import FrozenMap
from harness.core.verdict import CrossCheck

T = TypeVar("T")
_NUMBER = (int, float)
OPTIONAL_CALL_KEYS = (*REPORTED, "error")  # what a call says besides its return value


class ResultsError(UserError, ValueError):
    """A results document with a value of the wrong type; the message names its place."""


def take(raw: Mapping[str, Any], key: str, kinds: tuple[type, ...], default: Any,
          where: str) -> Any:
    """raw[key] if it is of kinds (None allowed when the default is None), else default."""
    value = raw.get(key, default)
    if value is None and default is None:
        return None
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join(kind.__name__ for kind in kinds)
        raise ResultsError(f"{where}: {key} must be {names}, not {str(value)[:40]!r}")
    return value


def table(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ResultsError(f"{where}: expected an object, not {str(raw)[:40]!r}")
    return raw


def each(raw: Mapping[str, Any], key: str, where: str,
          make: Callable[[Mapping[str, Any], str], T]) -> tuple[T, ...]:
    items = take(raw, key, (list,), [], where)
    return tuple(make(table(item, f"{where}: {key}[{i}]"), f"{where}: {key}[{i}]")
                 for i, item in enumerate(items))


def strings(raw: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    items = take(raw, key, (list,), [], where)
    if not all(isinstance(item, str) for item in items):
        raise ResultsError(f"{where}: {key} must be a list of strings")
    return tuple(items)


@dataclass(frozen=True)
class PacketEntry:
    """One packet of a run: frame number, time from the run's origin, stream, direction,
    token, flags, relative seq/ack, length, window, its ladder label and its comments."""

    frame: int
    t: float
    stream: int
    dir: str
    token: str
    flags: str = ""
    seq: int = 0
    ack: int | None = None
    len: int = 0
    win: int = 0
    label: str = ""
    comments: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"frame": self.frame, "t": self.t, "stream": self.stream, "dir": self.dir,
                "token": self.token, "flags": self.flags, "seq": self.seq, "ack": self.ack,
                "len": self.len, "win": self.win, "label": self.label,
                "comments": list(self.comments)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], where: str) -> PacketEntry:
        return cls(frame=take(raw, "frame", (int,), 0, where),
                   t=take(raw, "t", _NUMBER, 0.0, where),
                   stream=take(raw, "stream", (int,), 0, where),
                   dir=take(raw, "dir", (str,), ">", where),
                   token=take(raw, "token", (str,), "", where),
                   flags=take(raw, "flags", (str,), "", where),
                   seq=take(raw, "seq", (int,), 0, where),
                   ack=take(raw, "ack", (int,), None, where),
                   len=take(raw, "len", (int,), 0, where),
                   win=take(raw, "win", (int,), 0, where),
                   label=take(raw, "label", (str,), "", where),
                   comments=strings(raw, "comments", where))


@dataclass(frozen=True)
class CallEntry:
    """One call of a run as results.json records it, with its time and its story text."""

    peer: str
    call: str
    sock: str = ""
    args: FrozenMap = field(default_factory=FrozenMap)
    ret: int | None = None
    errno: str | None = None
    elapsed: float = 0.0
    blocked: bool = False
    extra: FrozenMap = field(default_factory=FrozenMap)  # signal, ended_by, queued, unsent, error
    t: float | None = None
    text: str = ""

    @property
    def error(self) -> str | None:
        """The harness's error making the call, if any."""
        return self.extra.get("error")

    def to_json(self) -> dict[str, Any]:
        return {"peer": self.peer, "sock": self.sock, "call": self.call,
                "args": self.args.plain(), "return": self.ret, "errno": self.errno,
                "elapsed": self.elapsed, "blocked": self.blocked, **self.extra.plain(),
                **({"t": self.t} if self.t is not None else {}), "text": self.text}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], where: str) -> CallEntry:
        call = take(raw, "call", (str,), "", where)
        return cls(peer=take(raw, "peer", (str,), "lab", where), call=call,
                   sock=take(raw, "sock", (str,), "", where),
                   args=FrozenMap(table(raw.get("args", {}), f"{where}: args")),
                   ret=take(raw, "return", (int,), None, where),
                   errno=take(raw, "errno", (str,), None, where),
                   elapsed=take(raw, "elapsed", _NUMBER, 0.0, where),
                   blocked=take(raw, "blocked", (bool,), False, where),
                   extra=FrozenMap({k: raw[k] for k in OPTIONAL_CALL_KEYS if k in raw}),
                   t=take(raw, "t", _NUMBER, None, where),
                   text=take(raw, "text", (str,), call, where))


@dataclass(frozen=True)
class ClaimEntry:
    """A claim as one run decided it."""

    id: str
    text: str
    source: str
    verdict: str
    linux: str
    evidence: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "source": self.source,
                "verdict": self.verdict, "linux": self.linux, "evidence": list(self.evidence)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], where: str) -> ClaimEntry:
        verdict = take(raw, "verdict", (str,), "undecided", where)
        return cls(id=take(raw, "id", (str,), "", where),
                   text=take(raw, "text", (str,), "", where),
                   source=take(raw, "source", (str,), "", where), verdict=verdict,
                   linux=take(raw, "linux", (str,), verdict, where),
                   evidence=strings(raw, "evidence", where))


@dataclass(frozen=True)
class MatchEntry:
    """How the judged connection stood against the pattern."""

    ok: bool
    failed_at: int | None = None
    expected: tuple[str, ...] = ()
    sentence: str = ""
    columns: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "failed_at": self.failed_at, "expected": list(self.expected),
                "sentence": self.sentence, "columns": list(self.columns)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], where: str) -> MatchEntry:
        columns = take(raw, "columns", (list,), [], where)
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in columns):
            raise ResultsError(f"{where}: columns must be a list of whole numbers")
        return cls(ok=take(raw, "ok", (bool,), False, where),
                   failed_at=take(raw, "failed_at", (int,), None, where),
                   expected=strings(raw, "expected", where),
                   sentence=take(raw, "sentence", (str,), "", where), columns=tuple(columns))


def _endpoint(text: Any, where: str) -> tuple[str, int] | None:
    if not isinstance(text, str):
        return None
    host, _, port = text.rpartition(":")
    if not port.isascii() or not port.isdigit():
        raise ResultsError(f"{where}: {text[:40]!r} is not an address:port")
    return host, int(port)


def final_state(raw: Mapping[str, Any], where: str) -> FinalState:
    return FinalState(state=take(raw, "state", (str,), "CLOSED", where),
                      local=_endpoint(raw.get("local"), where),
                      remote=_endpoint(raw.get("remote"), where),
                      recv_q=take(raw, "recv_q", (int,), 0, where),
                      send_q=take(raw, "send_q", (int,), 0, where),
                      orphan=take(raw, "orphan", (bool,), False, where))


def crosscheck(raw: Any, where: str) -> CrossCheck | None:
    if raw is None:
        return None
    raw = table(raw, where)
    found = strings(raw, "disagreements", where)
    if not found and raw.get("agrees") is False:
        found = ("the decoders disagree",)
    return CrossCheck(by=take(raw, "by", (str,), "?", where),
                      frames=take(raw, "frames", (int,), 0, where), disagreements=found)


def filter_outcome(raw: Mapping[str, Any], where: str) -> FilterOutcome:
    """A display filter's outcome read back from results.json."""
    frames = take(raw, "frames", (list,), [], where)
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in frames):
        raise ResultsError(f"{where}: frames must be a list of frame numbers")
    try:
        wish = display_filter(take(raw, "filter", (str,), "", where),
                              take(raw, "count", (str,), "1", where))
    except DisplayFilterError as exc:
        raise ResultsError(f"{where}: {exc}") from None
    return FilterOutcome(wish, tuple(frames), take(raw, "error", (str,), None, where))
