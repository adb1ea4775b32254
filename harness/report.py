"""Rendering judged runs: a timeline of calls and packets, one-line verdicts, results.json."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.listing import tcpdump_lines
from harness.result import RunResult
from harness.scenario import Scenario
from harness.verdict import Verdict

LABELS = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}


def _timeline(result: RunResult, verdict: Verdict) -> list[str]:
    """Calls and packets on one clock, packetdrill-style: time, who, what."""
    conv = verdict.conversation
    segments = list(conv.segments) if conv else []
    tokens = conv.tokens() if conv else []
    lines = [line.split(" ", 1)[1] for line in tcpdump_lines(segments)]
    events: list[tuple[float, str, str]] = []
    for seg, token, line in zip(segments, tokens, lines, strict=True):
        events.append((seg.time, token, line))
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
        "calls": [call.to_json() for call in result.calls],
        "states": result.states,
        "capture": result.capture,
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
