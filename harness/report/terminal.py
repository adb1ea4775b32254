"""Rendering judged runs: a timeline of calls and packets, one-line verdicts, results.json."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.core.crosscheck import our_frames
from harness.core.listing import tcpdump_lines
from harness.core.notation import ACK, flags_to_str, token
from harness.core.result import RunResult
from harness.core.scenario import Scenario
from harness.core.verdict import Verdict
from harness.pcap.annotate import frame_comments, step_texts
from harness.report.ladder import packet_label

LABELS = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}


def _timeline(result: RunResult, verdict: Verdict) -> list[str]:
    """Calls and packets on one clock, packetdrill-style: time, who, what."""
    conv = verdict.conversation
    segments = list(conv.segments) if conv else []
    toks = conv.tokens() if conv else []
    lines = [line.split(" ", 1)[1] for line in tcpdump_lines(segments)]
    events: list[tuple[float, str, str]] = []
    for seg, tok, line in zip(segments, toks, lines, strict=True):
        events.append((seg.time, tok, line))
    for call in result.calls:
        events.append((call.start, call.peer, call.describe()))
    if not events:
        return ["  (no calls, no packets)"]
    origin = min(t for t, _, _ in events)
    events.sort(key=lambda e: e[0])
    return [f"  {t - origin:9.6f}  {who:<6} {what}" for t, who, what in events]


def _states_text(result: RunResult) -> str:
    parts = []
    for side in ("client", "server"):
        state = result.states.get(side, {})
        extra = [f"{k} {state[k]}" for k in ("recv_q", "send_q") if state.get(k)]
        if state.get("orphan"):
            extra.append("orphan")
        parts.append(f"{side} {result.state_of(side)}" + (f" ({', '.join(extra)})" if extra
                                                        else ""))
    return ", ".join(parts)


def claim_lines(verdict: Verdict) -> list[str]:
    """One line per claim: its verdict on this kernel, its statement and the evidence."""
    out = []
    for outcome in verdict.claims:
        mark = "" if outcome.as_expected or outcome.verdict == "undecided" else "  (UNEXPECTED)"
        out.append(f"   claim {outcome.claim.id}: {outcome.verdict.upper()}{mark}")
        out.append(f"     {outcome.claim.text}  [{outcome.claim.source}]")
        out += [f"     - {line}" for line in outcome.evidence]
    return out


def verdict_line(scenario: Scenario, result: RunResult, verdict: Verdict) -> str:
    """`PASS  default-close  ipv4  >S <S. ... (13 packets)  server TIME-WAIT, client CLOSED`."""
    tokens = " ".join(verdict.match.observed) if verdict.match else ""
    count = len(verdict.match.observed) if verdict.match else 0
    return (f"{LABELS[verdict.status]:<5} {scenario.id}  {result.family}  {tokens} "
            f"({count} packets)  {_states_text(result)}")


def render_run(scenario: Scenario, result: RunResult, verdict: Verdict) -> str:
    """The whole story of one run, ending with its verdict line and any reasons."""
    out = [f"== {scenario.id} ({result.family}, {result.topology}): {scenario.title}",
           f"   expect {scenario.pattern}", *_timeline(result, verdict),
           f"   final states: {_states_text(result)}"]
    if result.pcap:
        out.append(f"   pcap: {result.pcap}")
    out += claim_lines(verdict)
    out.append(verdict_line(scenario, result, verdict))
    out += [f"   - {reason}" for reason in verdict.reasons]
    if verdict.match is not None and not verdict.match.ok and verdict.conversation:
        lines = tcpdump_lines(list(verdict.conversation.segments))
        out += ["     " + line for line in verdict.match.explain(lines).splitlines()]
    return "\n".join(out)


def _relative(path: str | None, root: Path) -> str | None:
    if path is None:
        return None
    try:
        return os.path.relpath(Path(path).resolve(), root.resolve())
    except ValueError:
        return str(path)


def _origin(result: RunResult) -> float:
    """The moment a run's times count from: its first call or packet."""
    moments = [c.start for c in result.calls] + [s.time for s in result.segments]
    return min(moments, default=0.0)


def _address(end: tuple[str, int] | None) -> str | None:
    if end is None:
        return None
    host, port = end
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def packets_json(result: RunResult, verdict: Verdict) -> list[dict[str, Any]]:
    """Each packet of a run for results.json: frame number, time from the run's origin,
    stream, direction, token, relative seq/ack, length, window, label and its comments."""
    origin = _origin(result)
    comments = frame_comments(result, verdict.match)
    server = tuple(result.server) if result.server else None
    packets = []
    for seg, view in zip(result.segments, our_frames(result.segments), strict=True):
        direction = "<" if (seg.src, seg.sport) == server else ">"
        tok = token(direction, seg.flags)
        ack = view.ack if seg.flags & ACK else None
        packets.append({
            "frame": seg.index, "t": round(seg.time - origin, 6), "stream": view.stream,
            "dir": direction, "token": tok, "flags": flags_to_str(seg.flags), "seq": view.seq,
            "ack": ack, "len": seg.length, "win": seg.win,
            "label": packet_label(tok[1:], view.seq, ack, seg.length, seg.win),
            "comments": comments.get(seg.index, []),
        })
    return packets


def _calls_json(result: RunResult) -> list[dict[str, Any]]:
    origin = _origin(result)
    return [{**call.to_json(), "t": round(call.start - origin, 6), "text": text}
            for call, text in zip(result.calls, step_texts(result.calls), strict=True)]


def _match_json(verdict: Verdict) -> dict[str, Any] | None:
    match = verdict.match
    if match is None:
        return None
    return {"ok": match.ok, "failed_at": match.failed_at, "expected": list(match.expected),
            "sentence": match.sentence(), "columns": list(match.columns)}


def run_json(scenario: Scenario, result: RunResult, verdict: Verdict, root: Path) -> dict:
    """One run, shaped for results.json (a stable shape: CI users parse it)."""
    entry: dict[str, Any] = {
        "id": scenario.id,
        "title": scenario.title,
        "statement": scenario.statement,
        "source": scenario.source,
        "family": result.family,
        "topology": result.topology,
        "verdict": verdict.status,
        "pattern": scenario.pattern,
        "observed": list(verdict.match.observed) if verdict.match else [],
        "pcap": _relative(result.pcap, root),
        "calls": _calls_json(result),
        "client_address": _address(result.client),
        "server_address": _address(result.server),
        "origin": _origin(result),
        "packets": packets_json(result, verdict),
        "match": _match_json(verdict),
        "states": result.states,
        "capture": result.capture,
        "phases": {name: round(seconds, 6) for name, seconds in result.phases.items()},
        "claims": [outcome.to_json() for outcome in verdict.claims],
        **({"crosscheck": verdict.crosscheck} if verdict.crosscheck is not None else {}),
        "story": render_run(scenario, result, verdict).splitlines(),
    }
    if not verdict.ok:
        entry["reason"] = "; ".join(verdict.reasons)
    return entry


def results_json(runs: Sequence[dict], kernel: str) -> dict:
    """The top level of results.json."""
    return {"kernel": kernel, "runs": list(runs)}


def summary_line(statuses: Sequence[str]) -> str:
    """`3 passed, 0 failed` plus errors when there are any."""
    passed = statuses.count("pass")
    failed = statuses.count("fail")
    errors = statuses.count("error")
    line = f"{passed} passed, {failed} failed"
    return line + (f", {errors} errors" if errors else "")
