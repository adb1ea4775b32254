"""A judged run as its entry in results.json: the typed values of harness.core.document, made
from the scenario, what the run observed and its verdict."""

from __future__ import annotations

import os
from pathlib import Path

from harness.core.crosscheck import our_frames
from harness.core.document import RunEntry
from harness.core.entries import (
    OPTIONAL_CALL_KEYS,
    CallEntry,
    ClaimEntry,
    MatchEntry,
    PacketEntry,
)
from harness.core.notation import ACK, flags_to_str, token
from harness.core.result import RunResult
from harness.core.scenario import Scenario
from harness.core.values import FrozenMap
from harness.core.verdict import Verdict
from harness.core.vocabulary import endpoint_text
from harness.pcap.annotate import frame_comments, step_texts
from harness.report.ladder import packet_label
from harness.report.terminal import render_run


def _relative(path: str | None, root: Path) -> str | None:
    if path is None:
        return None
    try:
        return os.path.relpath(Path(path).resolve(), root.resolve())
    except ValueError:
        return str(path)


def origin(result: RunResult) -> float:
    """The moment a run's times count from: its first call or packet."""
    moments = [c.start for c in result.calls] + [s.time for s in result.segments]
    return min(moments, default=0.0)


def packet_entries(result: RunResult, verdict: Verdict) -> tuple[PacketEntry, ...]:
    """Each packet of a run: frame number, time from the run's origin, stream, direction,
    token, relative seq/ack, length, window, label and its comments."""
    start = origin(result)
    comments = frame_comments(result, verdict.match)
    server = tuple(result.server) if result.server else None
    packets = []
    for seg, view in zip(result.segments, our_frames(result.segments), strict=True):
        direction = "<" if (seg.src, seg.sport) == server else ">"
        tok = token(direction, seg.flags)
        ack = view.ack if seg.flags & ACK else None
        packets.append(PacketEntry(
            frame=seg.index, t=round(seg.time - start, 6), stream=view.stream, dir=direction,
            token=tok, flags=flags_to_str(seg.flags), seq=view.seq, ack=ack, len=seg.length,
            win=seg.win, label=packet_label(tok[1:], view.seq, ack, seg.length, seg.win),
            comments=tuple(comments.get(seg.index, []))))
    return tuple(packets)


def call_entries(result: RunResult) -> tuple[CallEntry, ...]:
    """Each call of a run, with its time from the run's origin and its story text."""
    start = origin(result)
    entries = []
    for call, text in zip(result.calls, step_texts(result.calls), strict=True):
        raw = call.to_json()
        extra = {k: raw[k] for k in OPTIONAL_CALL_KEYS if k in raw}
        entries.append(CallEntry(
            peer=call.peer, call=call.call, sock=call.sock, args=FrozenMap(raw["args"]),
            ret=call.ret, errno=call.errno, elapsed=raw["elapsed"], blocked=call.blocked,
            extra=FrozenMap(extra), t=round(call.start - start, 6), text=text))
    return tuple(entries)


def _match(verdict: Verdict) -> MatchEntry | None:
    match = verdict.match
    if match is None:
        return None
    return MatchEntry(ok=match.ok, failed_at=match.failed_at, expected=match.expected,
                      sentence=match.sentence(), columns=match.columns)


def run_entry(scenario: Scenario, result: RunResult, verdict: Verdict, root: Path) -> RunEntry:
    """One run, shaped for results.json (a stable shape: CI users parse it); pcap paths are
    written relative to root."""
    claims = tuple(ClaimEntry(id=o.claim.id, text=o.claim.text, source=o.claim.source,
                              verdict=o.verdict, linux=o.claim.linux, evidence=o.evidence)
                   for o in verdict.claims)
    return RunEntry(
        id=scenario.id, title=scenario.title, statement=scenario.statement,
        source=scenario.source, family=result.family, topology=result.topology,
        verdict=verdict.status.value, pattern=scenario.pattern,
        observed=verdict.match.observed if verdict.match is not None else (),
        pcap=_relative(result.pcap, root), calls=call_entries(result),
        client_address=endpoint_text(result.client) if result.client else None,
        server_address=endpoint_text(result.server) if result.server else None,
        origin=origin(result), packets=packet_entries(result, verdict), match=_match(verdict),
        states=result.states, capture=result.capture, phases=result.phases, claims=claims,
        crosscheck=verdict.crosscheck,
        story=tuple(render_run(scenario, result, verdict).splitlines()),
        reason=None if verdict.ok else "; ".join(verdict.reasons),
        reasons=() if verdict.ok else verdict.reasons, display_filters=verdict.filters,
        kernel=result.kernel.shifted(-origin(result)) if result.kernel is not None else None)

