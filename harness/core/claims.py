"""Claims from the literature, as a scenario file states them: read and checked here,
decided on a run by harness.core.decide.

A claim is a statement from a source text (a seed text, a man page, UNP, an RFC) together
with the observations that decide it. Each observation is a condition on the run: what a
call returned, what the wire showed, which flags a side sent, a side's final state, how many
bytes got through. The claim holds on this kernel when every condition is met; either way
each condition contributes one line of evidence, so a reader sees why.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.core.calls import CALLS
from harness.core.errors import UserError, closest, quoted
from harness.core.expect import EXPECT_KEYS, named_value_problem
from harness.core.kernel_events import RST_REASONS
from harness.core.notation import str_to_flags
from harness.core.pattern import PatternError, compile_pattern
from harness.core.sources import UnknownSeed, expand_source
from harness.core.values import FrozenMap
from harness.core.vocabulary import SIDES, STATE_NAMES


class Answer(enum.StrEnum):
    """How a run answers a claim; the value is what results.json and REPORT.md say."""

    HOLDS = "holds"
    DOES_NOT_HOLD = "does not hold"
    UNDECIDED = "undecided"


HOLDS, DOES_NOT_HOLD, UNDECIDED = Answer.HOLDS, Answer.DOES_NOT_HOLD, Answer.UNDECIDED
_STEP_REF = re.compile(r"^(?P<sock>[A-Za-z_][\w-]*)\.(?P<call>\w+)(?:#(?P<nth>[0-9]+))?$",
                       re.ASCII)
_MAX_NTH = 100_000  # more steps than a scenario may have
# The keys each kind of condition takes; the first key names the kind.
_KINDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "step": {"step": str, "returned_after": str, **EXPECT_KEYS},
    "wire": {"wire": str, "streams": int},
    "flag": {"flag": str, "from": str, "seen": bool},
    "state": {"state": str, "is": str, "min_send_q": int},
    "read_by": {"read_by": str, "written_by": str, "got": str},
    "rst_reason": {"rst_reason": str, "from": str},
    "transitions": {"transitions": str, "through": list, "exactly": list, "connection": str},
}
#: The kinds decided by the kernel's own events (harness.core.kernel_events): undecided
#: where they could not be recorded.
KERNEL_KINDS = ("rst_reason", "transitions")
_CLAIM_KEYS = ("id", "text", "source", "linux", "when")
# States sock_diag reports but no socket is moved to (inet_sock_set_state never says them).
_NEVER_ENTERED = {
    "CLOSED": "CLOSED is what the harness says of a socket that is gone; the kernel's last "
              "change of a closed socket is to CLOSE",
    "NEW-SYN-RECV": "NEW-SYN-RECV is a request socket's, which the kernel does not move "
                    "through inet_sock_set_state; the connection's socket starts in SYN-RECV"}
_RETURNED_AFTER = ("fin-acked",)
_GOT = ("fewer", "all")


class ClaimError(UserError, ValueError):
    """A claim in a scenario file is malformed; the message says where and how."""


@dataclass(frozen=True)
class Condition:
    """One observation a claim depends on: its kind and its settings as written."""

    kind: str
    spec: FrozenMap
    step: int | None = None  # index into the scenario's steps, for kind "step"


@dataclass(frozen=True)
class Claim:
    """A statement from a source, how Linux is expected to answer it, and what decides it."""

    id: str
    text: str
    source: str
    linux: Answer
    when: tuple[Condition, ...]


def parse_claims(where: str, raw: Any, steps: Sequence[tuple[str, str]]) -> tuple[Claim, ...]:
    """The claims of one scenario; steps are its (socket, call) pairs, in order."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ClaimError(f"{where}: claims must be a list of tables ([[claims]])")
    claims = tuple(_claim(f"{where} claim {i}", item, steps) for i, item in enumerate(raw, 1))
    ids = [c.id for c in claims]
    for claim_id in ids:
        if ids.count(claim_id) > 1:
            raise ClaimError(f"{where}: claim id {claim_id!r} is used twice")
    return claims


def _claim(where: str, raw: Any, steps: Sequence[tuple[str, str]]) -> Claim:
    if not isinstance(raw, dict):
        raise ClaimError(f"{where}: a claim is a table with {', '.join(_CLAIM_KEYS)}")
    for key in raw:
        if key not in _CLAIM_KEYS:
            raise ClaimError(f"{where}: unknown key {key!r} (known: {', '.join(_CLAIM_KEYS)})")
    for key in ("id", "text", "source"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ClaimError(f"{where}: {key} is missing or empty")
    where = f"{where} ({raw['id']})"
    if not isinstance(raw.get("linux"), str) or raw["linux"] not in (HOLDS, DOES_NOT_HOLD):
        raise ClaimError(f"{where}: linux must be \"{HOLDS}\" or \"{DOES_NOT_HOLD}\" "
                         "(what this kernel is expected to show)")
    when = raw.get("when")
    if not isinstance(when, list) or not when:
        raise ClaimError(f"{where}: when must be a non-empty list of observations")
    conditions = tuple(_condition(f"{where} observation {i}", item, steps)
                       for i, item in enumerate(when, 1))
    try:
        source = expand_source(raw["source"].strip())
    except UnknownSeed as exc:
        raise ClaimError(f"{where}: {exc}") from None
    return Claim(id=raw["id"].strip(), text=" ".join(raw["text"].split()), source=source,
                 linux=Answer(raw["linux"]), when=conditions)


def _condition(where: str, raw: Any, steps: Sequence[tuple[str, str]]) -> Condition:
    if not isinstance(raw, dict):
        raise ClaimError(f"{where}: an observation is a table such as "
                         "{ step = \"conn.close\", ret = 0 }")
    kind = next((k for k in _KINDS if k in raw), None)
    if kind is None:
        raise ClaimError(f"{where}: an observation starts with one of {', '.join(_KINDS)}")
    for key, value in raw.items():
        if key not in _KINDS[kind]:
            near = closest(key, list(_KINDS[kind]))
            hint = f"; did you mean {near[0]}?" if near else ""
            takes = ("step, returned_after and any key of a step's expect" if kind == "step"
                     else ", ".join(_KINDS[kind]))
            raise ClaimError(f"{where}: a {kind} observation takes no {key!r}{hint} "
                             f"(it takes: {takes})")
        wanted = _KINDS[kind][key]
        kinds = wanted if isinstance(wanted, tuple) else (wanted,)
        if isinstance(value, bool) is not (bool in kinds) or not isinstance(value, kinds):
            raise ClaimError(f"{where}: {key} has the wrong type ({quoted(value)})")
        problem = named_value_problem(key, value) if kind == "step" else None
        if problem:
            raise ClaimError(f"{where}: {problem}")
    _check_condition(where, kind, raw, {sock for sock, _call in steps} | set(SIDES))
    index = _step_index(where, raw["step"], steps) if kind == "step" else None
    return Condition(kind=kind, spec=FrozenMap(raw), step=index)


def _check_condition(where: str, kind: str, raw: dict[str, Any], sockets: set[str]) -> None:
    if kind == "wire":
        try:
            compile_pattern(raw["wire"])
        except PatternError as exc:
            raise ClaimError(f"{where}: wire: {exc}") from None
    checks = {
        "step": lambda: raw.get("returned_after", "fin-acked") in _RETURNED_AFTER,
        "flag": lambda: raw.get("from", "server") in SIDES and _flag_letters(raw["flag"]) > 0,
        "state": lambda: raw["state"] in SIDES and raw.get("is", "CLOSED") in STATE_NAMES,
        "read_by": lambda: (raw.get("got", "fewer") in _GOT and raw["read_by"] in sockets
                            and raw.get("written_by") in sockets),
        "wire": lambda: raw.get("streams", 1) >= 1,
        "rst_reason": lambda: raw.get("from", "client") in SIDES,
        "transitions": lambda: raw["transitions"] in SIDES,
    }
    if not checks[kind]():
        raise ClaimError(f"{where}: {_explain(kind)}")
    if kind in KERNEL_KINDS:
        _check_kernel(where, kind, raw)


def _explain(kind: str) -> str:
    return {
        "step": f"returned_after must be one of {', '.join(_RETURNED_AFTER)}",
        "flag": "flag takes tcpdump letters (\"R\", \"F\") and from = \"client\" or \"server\"",
        "state": f"state names a side (client, server); is names a TCP state "
                 f"({', '.join(STATE_NAMES)})",
        "read_by": f"read_by and written_by name sockets of the scenario; got must be one of "
                   f"{', '.join(_GOT)}",
        "wire": "streams is the number of connections, at least 1",
        "rst_reason": "from names a side: client or server",
        "transitions": "transitions names a side: client or server",
    }[kind]


def kernel_observation(where: str, raw: dict[str, Any]) -> Condition:
    """A rst_reason or transitions observation given outside a scenario file (a test's
    expectation), checked as a claim's is; ClaimError names what is wrong."""
    condition = _condition(where, raw, ())
    if condition.kind not in KERNEL_KINDS:
        raise ClaimError(f"{where}: not an observation of the kernel's events")
    return condition


def _check_kernel(where: str, kind: str, raw: dict[str, Any]) -> None:
    """The names a kernel observation gives: an RST reason the kernel has, TCP states."""
    if kind == "rst_reason":
        if raw["rst_reason"] not in RST_REASONS:
            near = closest(raw["rst_reason"], list(RST_REASONS))
            hint = f"; did you mean {near[0]}?" if near else ""
            raise ClaimError(f"{where}: rst_reason {quoted(raw['rst_reason'])} is no reason the "
                             f"kernel gives{hint} (enum sk_rst_reason: {', '.join(RST_REASONS)})")
        return
    given = [key for key in ("through", "exactly") if key in raw]
    if len(given) != 1:
        raise ClaimError(f"{where}: a transitions observation takes through = [...] (states "
                         "in order, others between) or exactly = [...] (every state entered)")
    states = raw[given[0]]
    for state in states:
        if state in _NEVER_ENTERED:
            raise ClaimError(f"{where}: {given[0]}: {_NEVER_ENTERED[state]}")
        if state not in STATE_NAMES:
            near = closest(str(state), list(STATE_NAMES))
            hint = f"; did you mean {near[0]}?" if near else ""
            raise ClaimError(f"{where}: {given[0]}: {quoted(state)} is no TCP state{hint}")
    if not states:
        raise ClaimError(f"{where}: {given[0]} lists no state")


def _flag_letters(text: str) -> int:
    try:
        return str_to_flags(text)
    except ValueError:
        return 0


def _step_index(where: str, ref: str, steps: Sequence[tuple[str, str]]) -> int:
    m = _STEP_REF.match(ref)
    if not m:
        raise ClaimError(f"{where}: step {ref[:40]!r} should read socket.call, e.g. "
                         "\"conn.close\" (\"client.recv#2\" for the second)")
    if m["call"] not in CALLS:
        close = closest(m["call"], list(CALLS))
        hint = f"; did you mean {m['sock']}.{close[0]}?" if close else ""
        raise ClaimError(f"{where}: step {ref[:40]!r} names no call {m['call'][:30]!r}{hint}")
    nth_text = m["nth"] or "1"
    nth = int(nth_text) if len(nth_text) <= len(str(_MAX_NTH)) else _MAX_NTH + 1
    if not 1 <= nth <= _MAX_NTH:
        raise ClaimError(f"{where}: step {ref[:40]!r}: #N counts that socket's calls of that "
                         f"name from 1, up to {_MAX_NTH:,}")
    found = [i for i, (sock, call) in enumerate(steps) if (sock, call) == (m["sock"], m["call"])]
    if len(found) < nth:
        raise ClaimError(f"{where}: no step {ref[:40]!r} in this scenario "
                         f"({len(found)} {m['sock'][:30]}.{m['call']} step(s))")
    return found[nth - 1]
