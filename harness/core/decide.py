"""Deciding a claim on one run: each of its observations met or not, with a line of
evidence each, so a reader sees why it holds or does not hold on this kernel."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.core.calls import Moves, calls_that
from harness.core.claims import (
    DOES_NOT_HOLD,
    HOLDS,
    KERNEL_KINDS,
    UNDECIDED,
    Answer,
    Claim,
    Condition,
)
from harness.core.conversation import Conversation
from harness.core.expect import EXPECT_KEYS, Expect, check_call
from harness.core.kernel_claims import observe_kernel
from harness.core.notation import str_to_flags
from harness.core.pattern import compile_pattern
from harness.core.result import Call, RunResult

_FLAG_NAMES = {"F": "FIN", "S": "SYN", "R": "RST", "P": "PSH", ".": "ACK", "U": "URG",
               "E": "ECE", "W": "CWR", "e": "AE"}
SEND_CALLS = calls_that(Moves.WRITES)
RECV_CALLS = calls_that(Moves.READS)


@dataclass(frozen=True)
class ClaimOutcome:
    """A claim judged on one run: holds, does not hold, or undecided (the run had an error)."""

    claim: Claim
    verdict: Answer
    evidence: tuple[str, ...] = ()

    @property
    def as_expected(self) -> bool:
        """True when the kernel answered the claim the way the catalog says Linux does."""
        return self.verdict == self.claim.linux

    def to_json(self) -> dict[str, Any]:
        """The outcome for results.json."""
        return {"id": self.claim.id, "text": self.claim.text, "source": self.claim.source,
                "verdict": self.verdict, "linux": self.claim.linux,
                "evidence": list(self.evidence)}



def decide(claim: Claim, result: RunResult, conversations: Sequence[Conversation],
           errored: bool = False) -> ClaimOutcome:
    """Judge one claim on one run's observations."""
    met, evidence = [], []
    for condition in claim.when:
        ok, line = _observe(condition, result, conversations)
        met.append(ok)
        evidence.append(line)
    # One observation not met decides it; one that cannot be told (None: the kernel's events
    # are missing) leaves undecided only a claim whose other observations are all met.
    if errored:
        verdict = UNDECIDED
    elif False in met:
        verdict = DOES_NOT_HOLD
    else:
        verdict = UNDECIDED if None in met else HOLDS
    return ClaimOutcome(claim, verdict, tuple(evidence))


def _observe(condition: Condition, result: RunResult,
             conversations: Sequence[Conversation]) -> tuple[bool | None, str]:
    spec = condition.spec
    if condition.kind in KERNEL_KINDS:
        return observe_kernel(spec, result.kernel)
    if condition.kind == "step":
        return _observe_step(condition, result, conversations)
    if condition.kind == "wire":
        return _observe_wire(spec, conversations)
    if condition.kind == "flag":
        return _observe_flag(spec, conversations)
    if condition.kind == "state":
        return _observe_state(spec, result)
    return _observe_bytes(spec, result)


def _observe_step(condition: Condition, result: RunResult,
                  conversations: Sequence[Conversation]) -> tuple[bool, str]:
    assert condition.step is not None
    if condition.step >= len(result.calls):
        return False, f"{condition.spec['step']} was never reached"
    call = result.calls[condition.step]
    keys = {k: v for k, v in condition.spec.items() if k in EXPECT_KEYS}
    ok = not check_call(Expect(**keys), call)
    line = call.describe()
    if "returned_after" in condition.spec:
        after, how = _returned_after_fin_ack(call, conversations)
        ok, line = ok and after, f"{line}; {how}"
    return ok, line


def _returned_after_fin_ack(call: Call, conversations: Sequence[Conversation]) -> tuple[bool,
                                                                                        str]:
    """Did the call return only once the other side had acknowledged this side's FIN?"""
    side = call.peer
    if not conversations:
        return False, "nothing was captured"
    conv = conversations[0]
    mine = "<" if side == "server" else ">"
    fin = next((s for s in conv.segments if conv.direction(s) == mine and s.flags & 0x01), None)
    if fin is None:
        return False, f"the {side} sent no FIN"
    fin_end = (fin.seq + fin.length + 1) % 2**32
    ack = next((s for s in conv.segments if conv.direction(s) != mine and s.flags & 0x10
                and s.time >= fin.time and (s.ack - fin_end) % 2**32 < 2**31), None)
    returned = call.start + call.elapsed
    if ack is None:
        return False, f"the {side}'s FIN was never acknowledged"
    gap = returned - ack.time
    when = f"{abs(gap) * 1000:.1f} ms {'after' if gap >= 0 else 'before'}"
    # 1 ms of slack: the call's clock is read in another process than the capture's stamps.
    return gap >= -0.001, (f"it returned {when} the ACK of its FIN "
                           f"(FIN to ACK: {(ack.time - fin.time) * 1000:.1f} ms)")


def _observe_wire(spec: dict[str, Any], conversations: Sequence[Conversation]) -> tuple[bool,
                                                                                        str]:
    pattern = compile_pattern(spec["wire"])
    wanted = spec.get("streams")
    chosen = list(conversations) if wanted else list(conversations[:1])
    if not chosen:
        return False, "nothing was captured"
    shown = "; ".join(" ".join(c.tokens()) for c in chosen)
    matches = [pattern.match(c.packets()) for c in chosen]
    ok = all(m.ok for m in matches)
    why = next((f" ({m.sentence()})" for m in matches if not m.ok and m.why), "")
    if wanted:
        ok = ok and len(chosen) == wanted
        return ok, f"{len(chosen)} connection(s) on the wire: {shown}{why}"
    return ok, f"the wire showed {shown}{why}"


def _observe_flag(spec: dict[str, Any], conversations: Sequence[Conversation]) -> tuple[bool,
                                                                                        str]:
    flags = str_to_flags(spec["flag"])
    side = spec.get("from")
    hits, total = [], 0
    for conv in conversations:
        for seg, tok in zip(conv.segments, conv.tokens(), strict=True):
            total += 1
            from_side = "client" if tok.startswith(">") else "server"
            if seg.flags & flags == flags and (side is None or side == from_side):
                hits.append(f"{tok} (packet {seg.index})")
    who = f" from the {side}" if side else ""
    what = "+".join(_FLAG_NAMES.get(letter, letter) for letter in spec["flag"])
    line = (f"{what}{who}: {', '.join(hits)}" if hits
            else f"no {what}{who} among {total} packets")
    return bool(hits) == spec.get("seen", True), line


def _observe_state(spec: dict[str, Any], result: RunResult) -> tuple[bool, str]:
    side = spec["state"]
    state = result.state_of(side)
    queued = result.final(side).send_q
    ok = ("is" not in spec or state == spec["is"]) and queued >= spec.get("min_send_q", 0)
    extra = f" with {queued:,} bytes in its send queue" if queued else ""
    return ok, f"the {side} ended in {state}{extra}"


def _observe_bytes(spec: dict[str, Any], result: RunResult) -> tuple[bool, str]:
    reader, writer = spec["read_by"], spec["written_by"]
    read = _bytes(result.calls, reader, RECV_CALLS)
    written = _bytes(result.calls, writer, SEND_CALLS)
    ok = read < written if spec.get("got", "fewer") == "fewer" else read == written
    return ok, f"{reader} read {read:,} of the {written:,} bytes {writer} wrote"


def _bytes(calls: Sequence[Call], sock: str, kinds: Sequence[str]) -> int:
    return sum(c.ret for c in calls
               if c.sock == sock and c.call in kinds and c.ret is not None and c.ret > 0)
