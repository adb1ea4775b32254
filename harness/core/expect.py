"""What one system call should return, and how a call's outcome differs from it."""

from __future__ import annotations

import errno
import signal
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from harness.core.errors import closest, quoted
from harness.core.socket_names import TCP_INFO_FIELDS, revents_problem
from harness.core.timing import tolerance
from harness.core.vocabulary import CLOSED, TCP_STATES

if TYPE_CHECKING:
    from harness.core.result import Call

# EWOULDBLOCK and EAGAIN are one value on Linux; errno.errorcode names it EAGAIN.
_SAME_ERRNO = {"EWOULDBLOCK": "EAGAIN"}
#: What tcp_info reports, each an expectation of its own: the state (a name) and counters.
_TCP_INFO = {name: str if name == "state" else int for name, _format, _offset in TCP_INFO_FIELDS}
# The expectation keys a scenario file may use, with their types.
EXPECT_KEYS: dict[str, type | tuple[type, ...]] = {
    "ret": int, "errno": str, "max_elapsed": (int, float), "min_elapsed": (int, float),
    "elapsed": (int, float), "blocked": bool, "signal": str, "ended_by": str,
    "value": (int, str), "effective": int, **_TCP_INFO, "revents": list, "revents_include": list,
}
#: The expectations on what a call reports besides its return value: the key of its report
#: each reads (a call that reports no such key cannot be expected to; harness.core.
#: step_checks), and how it compares: "is" the same value, "exactly" the same set of names,
#: "include" at least those names.
REPORTED_EXPECTATIONS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "signal": ("signal", "is"), "ended_by": ("ended_by", "is"), "value": ("value", "is"),
    "effective": ("effective", "is"), **{key: (key, "is") for key in _TCP_INFO},
    "revents": ("revents", "exactly"), "revents_include": ("revents", "include")})

#: Every errno name Linux has (EWOULDBLOCK and EAGAIN both), as Python's errno module knows them.
ERRNO_NAMES = tuple(sorted(name for name in dir(errno)
                           if name.startswith("E") and name.isupper()
                           and isinstance(getattr(errno, name), int)))
#: Every signal's name (SIGPIPE, ...), as the signal module knows them.
SIGNAL_NAMES = tuple(sig.name for sig in signal.Signals)
#: The names a string-valued expectation may take, and how a message calls them.
NAMED_VALUES: dict[str, tuple[tuple[str, ...], str]] = {
    "errno": (ERRNO_NAMES, "an errno name"),
    "signal": (("none", *SIGNAL_NAMES), "a signal name or \"none\""),
    "ended_by": (("EOF", *ERRNO_NAMES), "\"EOF\" or an errno name"),
    "value": (ERRNO_NAMES, "an errno name (SO_ERROR's value), or a number"),
    "state": (TCP_STATES[1:], "a TCP state as the kernel keeps it"),
}


def named_value_problem(key: str, value: object) -> str | None:
    """Why value cannot be the expectation key's (an errno, a signal, what ends a drain, a
    TCP state, poll events), with the closest valid names; None if it can (or key takes no
    name)."""
    if key in ("revents", "revents_include") and isinstance(value, list | tuple):
        problem = revents_problem(value)
        return f"{key}: {problem}" if problem else None
    if key not in NAMED_VALUES or not isinstance(value, str):
        return None
    names, what = NAMED_VALUES[key]
    if value in names:
        return None
    if key == "state" and value == CLOSED:
        return ("state = 'CLOSED' is not a state tcp_info reads: a socket its descriptor "
                "still holds is in CLOSE (CLOSED is a side's socket that is gone)")
    near = closest(value, list(names), 3)
    hint = f"; did you mean {' or '.join(near)}?" if near else ""
    return f"{key} = {quoted(value)} is not {what}{hint}"


@dataclass(frozen=True)
class Expect:
    """What one call should return; None means not checked.

    `signal` is a signal the call raised ("SIGPIPE") or "none"; `ended_by` is what ended a
    drain() ("EOF" or an errno name).
    """

    ret: int | None = None
    errno: str | None = None
    max_elapsed: float | None = None
    min_elapsed: float | None = None
    elapsed: float | None = None
    blocked: bool | None = None
    signal: str | None = None
    ended_by: str | None = None
    value: int | str | None = None
    effective: int | None = None
    state: str | None = None
    unacked: int | None = None
    retransmits: int | None = None
    probes: int | None = None
    backoff: int | None = None
    lost: int | None = None
    retrans: int | None = None
    snd_mss: int | None = None
    rcv_mss: int | None = None
    revents: tuple[str, ...] | None = None
    revents_include: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("revents", "revents_include"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))

    def given(self) -> dict[str, Any]:
        """The expectations set (not None), by key."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}


def same_errno(a: str | None, b: str | None) -> bool:
    """True when two errno names mean the same value (EWOULDBLOCK is EAGAIN)."""
    return _SAME_ERRNO.get(a or "", a) == _SAME_ERRNO.get(b or "", b)


def check_call(expect: Expect, call: Call) -> list[str]:
    """Each way call differs from expect, in words; empty when it matches."""
    got = call.describe()
    problems = _check_outcome(expect, call, got) + _check_timing(expect, call)
    if expect.signal is not None and call.info.get("signal", "none") != expect.signal:
        want = "no signal" if expect.signal == "none" else expect.signal
        problems.append(f"{call.signature()}: expected {want}; got {got}")
    if expect.ended_by is not None and not same_errno(call.info.get("ended_by"),
                                                      expect.ended_by):
        problems.append(f"{call.signature()}: expected to end with {expect.ended_by}; got {got}")
    return problems + _check_reported(expect, call, got)


def _check_reported(expect: Expect, call: Call, got: str) -> list[str]:
    """How what the call reported differs from the expectations on it (value, state, revents
    and the rest; signal and ended_by are worded apart, above)."""
    problems = []
    for key, want in expect.given().items():
        if key not in REPORTED_EXPECTATIONS or key in ("signal", "ended_by"):
            continue
        reported, how = REPORTED_EXPECTATIONS[key]
        have = call.info.get(reported)
        if how == "is" and not (have == want or (isinstance(want, str) and isinstance(have, str)
                                                 and same_errno(have, want))):
            problems.append(f"{call.signature()}: expected {key} {want}; got {got}")
        elif how != "is" and not _events_fit(how, want, have):
            what = "exactly" if how == "exactly" else "to include"
            problems.append(f"{call.signature()}: expected revents {what} "
                            f"{'|'.join(want) or 'none'}; got {got}")
    return problems


def _events_fit(how: str, want: tuple[str, ...], have: Any) -> bool:
    """Whether the reported poll events are exactly, or include, those wanted."""
    events = set(have or ())
    return events == set(want) if how == "exactly" else set(want) <= events


def _check_outcome(expect: Expect, call: Call, got: str) -> list[str]:
    problems: list[str] = []
    if expect.blocked is not None and call.blocked != expect.blocked:
        want = "to still block at its deadline" if expect.blocked else "to return"
        problems.append(f"{call.signature()}: expected {want}; got {got}")
    if expect.errno is not None and not same_errno(call.errno, expect.errno):
        problems.append(f"{call.signature()}: expected errno {expect.errno}; got {got}")
    if expect.ret is not None:
        if call.ret != expect.ret:
            problems.append(f"{call.signature()}: expected = {expect.ret}; got {got}")
        elif expect.errno is None and call.errno is not None:
            problems.append(f"{call.signature()}: expected no error; got {got}")
    return problems


def _check_timing(expect: Expect, call: Call) -> list[str]:
    problems: list[str] = []
    if expect.max_elapsed is not None and call.elapsed > expect.max_elapsed:
        problems.append(f"{call.signature()}: expected to return within "
                        f"{expect.max_elapsed:.3f} s; it took {call.elapsed:.3f} s")
    if expect.min_elapsed is not None and call.elapsed < expect.min_elapsed:
        problems.append(f"{call.signature()}: expected to block at least "
                        f"{expect.min_elapsed:.3f} s; it returned after {call.elapsed:.3f} s")
    if expect.elapsed is not None:
        slack = tolerance(expect.elapsed)
        if abs(call.elapsed - expect.elapsed) > slack:
            problems.append(f"{call.signature()}: expected to take {expect.elapsed:.3f} s "
                            f"± {slack:.3f}; it took {call.elapsed:.3f} s")
    return problems
