"""What one system call should return, and how a call's outcome differs from it."""

from __future__ import annotations

import errno
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.core.errors import closest, quoted
from harness.core.timing import tolerance

if TYPE_CHECKING:
    from harness.core.result import Call

# EWOULDBLOCK and EAGAIN are one value on Linux; errno.errorcode names it EAGAIN.
_SAME_ERRNO = {"EWOULDBLOCK": "EAGAIN"}
# The expectation keys a scenario file may use, with their types.
EXPECT_KEYS: dict[str, type | tuple[type, ...]] = {
    "ret": int, "errno": str, "max_elapsed": (int, float), "min_elapsed": (int, float),
    "elapsed": (int, float), "blocked": bool, "signal": str, "ended_by": str,
}

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
}


def named_value_problem(key: str, value: object) -> str | None:
    """Why value cannot be the expectation key's (an errno, a signal, what ends a drain),
    with the closest valid names; None if it can (or key takes no name)."""
    if key not in NAMED_VALUES or not isinstance(value, str):
        return None
    names, what = NAMED_VALUES[key]
    if value in names:
        return None
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
    return problems


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
