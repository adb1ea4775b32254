"""A judged run told in a terminal: calls and packets on one clock, packetdrill-style, the
final states, the claims with their evidence, and the one-line verdict."""

from __future__ import annotations

from collections.abc import Sequence

from harness.core.conversation import Conversation
from harness.core.kernel_events import KernelRecord
from harness.core.listing import tcpdump_lines
from harness.core.result import Call, RunResult
from harness.core.scenario import Scenario
from harness.core.verdict import Status, Verdict
from harness.core.vocabulary import SIDES


def timeline(calls: Sequence[Call], conv: Conversation | None,
             kernel: KernelRecord | None = None) -> list[str]:
    """Calls and packets (of the connection conv) on one clock, packetdrill-style: time, who,
    what; with the kernel's events where they were recorded (`kernel client FIN-WAIT-1 ->
    CLOSING`)."""
    segments = list(conv.segments) if conv else []
    toks = conv.tokens() if conv else []
    lines = [line.split(" ", 1)[1] for line in tcpdump_lines(segments)]
    events: list[tuple[float, str, str]] = []
    for seg, tok, line in zip(segments, toks, lines, strict=True):
        events.append((seg.time, tok, line))
    for call in calls:
        events.append((call.start, call.peer, call.describe()))
    for event in kernel.events if kernel is not None else ():
        if event.event != "tcp_destroy_sock":
            which = "" if event.connection == "client" else f" ({event.connection})"
            events.append((event.time, "kernel", f"{event.side}{which} {event.text()}"))
    if not events:
        return ["  (no calls, no packets)"]
    origin = min(t for t, _, _ in events)
    events.sort(key=lambda e: e[0])
    return [f"  {t - origin:9.6f}  {who:<6} {what}" for t, who, what in events]


def states_text(result: RunResult) -> str:
    """`client CLOSED, server FIN-WAIT-1 (send_q 2985985, orphan)`."""
    parts = []
    for side in SIDES:
        state = result.final(side)
        extra = [f"{name} {value}" for name, value in (("recv_q", state.recv_q),
                                                      ("send_q", state.send_q)) if value]
        if state.orphan:
            extra.append("orphan")
        parts.append(f"{side} {state.state}" + (f" ({', '.join(extra)})" if extra else ""))
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
    observed = verdict.match.observed if verdict.match is not None else ()
    return (f"{verdict.status.label:<5} {scenario.id}  {result.family}  {' '.join(observed)} "
            f"({len(observed)} packets)  {states_text(result)}")


def story_lines(scenario: Scenario, result: RunResult, verdict: Verdict) -> list[str]:
    """What one run did, before its verdict: the calls and packets, final states, pcap, claims."""
    out = [f"== {scenario.id} ({result.family}, {result.topology}): {scenario.title}",
           f"   expect {scenario.pattern}",
           *timeline(result.calls, verdict.conversation, result.kernel),
           f"   final states: {states_text(result)}"]
    if result.kernel is not None and not result.kernel.traced:
        out.append(f"   kernel events: not recorded ({result.kernel.missing})")
    if result.pcap:
        out.append(f"   pcap: {result.pcap}")
    return out + claim_lines(verdict) + filter_lines(verdict)


def filter_lines(verdict: Verdict) -> list[str]:
    """One line per display filter the scenario asserts: what Wireshark found, and whether
    it is what the scenario wants."""
    return [f"   {'ok' if o.ok else 'NOT AS WANTED' if o.error is None else 'UNDECIDED'}: "
            f"{o.sentence()}" for o in verdict.filters]


def reason_lines(verdict: Verdict) -> list[str]:
    """Why a run did not pass, one reason a line; the listing with the packet that broke the
    pattern; what tshark read differently."""
    out = [f"   - {reason}" for reason in verdict.reasons]
    if verdict.match is not None and not verdict.match.ok and verdict.conversation:
        lines = tcpdump_lines(list(verdict.conversation.segments))
        out += ["     " + line for line in verdict.match.explain(lines).splitlines()]
    if verdict.crosscheck is not None and verdict.crosscheck.disagreements:
        out += [f"     {verdict.crosscheck.by}: {line}"
                for problem in verdict.crosscheck.disagreements
                for line in problem.splitlines()]
    return out


def render_run(scenario: Scenario, result: RunResult, verdict: Verdict) -> str:
    """The whole story of one run, ending with its verdict line and any reasons."""
    return "\n".join([*story_lines(scenario, result, verdict),
                      verdict_line(scenario, result, verdict), *reason_lines(verdict)])


def summary_line(statuses: Sequence[str]) -> str:
    """`3 passed, 0 failed`, plus `1 error` or `2 errors` when there are any."""
    passed = statuses.count(Status.PASS)
    failed = statuses.count(Status.FAIL)
    errors = statuses.count(Status.ERROR)
    line = f"{passed} passed, {failed} failed"
    return line + (f", {errors} error{'s' * (errors != 1)}" if errors else "")
