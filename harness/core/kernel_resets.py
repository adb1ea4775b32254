"""Which of the kernel's tcp_send_reset events sent which RST of the capture: the events and
the RSTs of one 4-tuple are paired in order; where the counts differ (an RST lost before the
capture saw it, a link that dropped it), each RST takes the latest event not after it.

An event is stamped when the RST has been handed on (the trace point follows the transmit),
and its clock is mapped onto the capture's, so "not after" allows SLACK seconds.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from harness.core.kernel_events import KernelEvent, KernelRecord
from harness.core.notation import RST
from harness.core.result import Call, RunResult
from harness.core.segment import Segment

SLACK = 0.002
#: How much earlier than its inject call a crafted segment's capture stamp may be (clocks of
#: two processes).
CRAFTED_EARLY = 0.002


def crafted(segments: Sequence[Segment], call: Call) -> Segment | None:
    """The segment an inject call sent, None for any other call (or one that failed)."""
    facts = call.info.get("injected") if call.call == "inject" else None
    if not facts:
        return None
    return next((seg for seg in segments if seg.time >= call.start - CRAFTED_EARLY
                 and (seg.sport, seg.dport, seg.seq, seg.flags)
                 == (facts["sport"], facts["dport"], facts["seq"], facts["flags"])), None)


def crafted_frames(result: RunResult) -> set[int]:
    """The frame numbers of the segments the harness crafted in a run (no kernel sent them)."""
    return {seg.index for call in result.calls
            if (seg := crafted(result.segments, call)) is not None}


def unexplained_resets(result: RunResult) -> list[str]:
    """A line for each RST of the capture that neither the harness crafted nor one of the
    run's tcp_send_reset events sent; none where the events were not recorded, or where the
    tracepoint is an older kernel's (before 6.10, without reasons, it fires only for an RST
    of a socket, not for one answering a segment that found none)."""
    if result.kernel is None or not result.kernel.traced or result.kernel.no_reasons:
        return []
    skip = crafted_frames(result)
    paired = pair_resets(result.segments, result.kernel, skip)
    covered = set(result.kernel.covered)
    return [f"kernel: the RST in frame {seg.index} ({seg.src}.{seg.sport} > {seg.dst}."
            f"{seg.dport}) matches no tcp_send_reset event of the run"
            for seg in result.segments
            if seg.flags & RST and seg.index not in skip and seg.index not in paired
            and covered & set(seg.endpoints)]


def pair_resets(segments: Sequence[Segment], record: KernelRecord | None,
                skip: Collection[int] = ()) -> dict[int, KernelEvent]:
    """Frame number -> the tcp_send_reset event that sent that RST; frames in skip (the
    segments the harness crafted itself) are nobody's."""
    if record is None or not record.traced:
        return {}
    paired: dict[int, KernelEvent] = {}
    by_tuple: dict[tuple, list[KernelEvent]] = {}
    for event in record.resets():
        by_tuple.setdefault((event.local, event.remote), []).append(event)
    for ends, events in by_tuple.items():
        rsts = [s for s in segments if s.flags & RST and s.index not in skip
                and s.endpoints == ends]
        paired.update(_pair(rsts, events))
    return paired


def _pair(rsts: Sequence[Segment], events: Sequence[KernelEvent]) -> dict[int, KernelEvent]:
    if len(rsts) == len(events):
        return {seg.index: event for seg, event in zip(rsts, events, strict=True)}
    paired, left = {}, list(events)
    for seg in rsts:
        before = [e for e in left if e.time <= seg.time + SLACK]
        if not before:
            continue
        event = before[-1]
        paired[seg.index] = event
        left = left[left.index(event) + 1:]
    return paired


def reset_comment(event: KernelEvent) -> str:
    """The pcapng comment of an RST the kernel explained."""
    reason = f"reason {event.reason}" if event.reason else "no reason on this kernel"
    return f"kernel: RST sent by tcp_send_reset, {reason}, state {event.state or 'none'}"
