"""What each packet of a run says about itself: the step that sent it, the steps that happened
without a packet before it, and its place in the pattern match.

The comments are written into the run's pcapng (one option per line) and into results.json,
so the pcap alone tells the run's whole timeline in Wireshark. Step comments start with the
peer that made the call (`client: `, `server: `, `lab: `); pattern comments with `pattern: `.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.core.call_spec import Emits, Opens, Runner, Setting
from harness.core.calls import CALLS, emitting
from harness.core.conversation import Conversation, split_conversations
from harness.core.kernel_resets import crafted, crafted_frames, pair_resets, reset_comment
from harness.core.kernel_states import marks_of_transitions
from harness.core.notation import ACK, FIN, RST, SYN
from harness.core.pattern import Match
from harness.core.result import Call, RunResult
from harness.core.segment import Segment
from harness.core.vocabulary import SIDES

# Calls whose own work can put a packet on the wire (the table of calls says which packets).
EMITTING = emitting()
# A call this long was blocked; the packets its side sent meanwhile are noted as sent during it.
BLOCKED = 0.005
# A packet sent this long after a call returned is still that call's (capture timestamps come
# from the receive path, a little after the send).
_LATE = 0.002
# The settings calls can make, in the table's order (harness.core.call_spec.Setting).
_SETTINGS = tuple(spec.setting for spec in CALLS.values() if spec.setting is not None)
# The words the comments are built from; harness.report.ladder reads a pcap's comments back by
# them.
PATTERN = "pattern: "
BROKE = "BROKE HERE: "
AFTER_BREAK = "comes after the break"
OTHER_STREAM = "not the judged connection"
SENT = "; sent this"
NO_PACKET = "; no packet of its own"
ALSO_SENT = " also sent this"
INJECTED = "injected this: a segment crafted by the harness"
KERNEL = "kernel: "  # how the kernel's own events begin (see harness.core.kernel_resets)
SENT_WHILE = "sent while "


def duration(seconds: float) -> str:
    """`0.1 ms`, `40.6 ms`, `1.020 s`."""
    if seconds < 1.0:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.3f} s"


def outcome(call: Call) -> str:
    """What the call returned, in words: `0`, `-1 ECONNRESET`, `4096 bytes, then ECONNRESET`."""
    if call.error:
        return f"harness error: {call.error}"
    if call.blocked:
        return f"still blocked after {duration(call.elapsed)}"
    text = f"{call.ret}"
    if "ended_by" in call.info:
        text += f" bytes, then {call.info['ended_by']}"
    elif call.errno:
        text += f" {call.errno}"
    if "signal" in call.info:
        text += f", {call.info['signal']} raised"
    return text + call.told()


@dataclass
class _Settings:
    """The settings in force on each socket of a run, by `peer/socket`: for each setting the
    table of calls names (SO_LINGER, O_NONBLOCK, an option setsockopt set) how it reads
    ("{1,0}"; "1"; "" for a flag), with the setting it is; the names of one socket (dup)
    share one entry."""

    held: dict[str, dict[str, tuple[Setting, str]]] = field(default_factory=dict)

    def context(self, call: Call) -> str:
        """` with SO_LINGER {1,0}`, ` (O_NONBLOCK)` or nothing, as it applies to call."""
        spec = CALLS.get(call.call)
        if spec is None:
            return ""
        mine = self.held.get(f"{call.peer}/{call.sock}", {})
        parts = []
        for name, (setting, shown) in _in_table_order(mine):
            if setting.on_every_call:
                if spec.runner is not Runner.PROCESS:
                    parts.append(f" ({name})")
            elif spec.heed_settings and spec.runner is not Runner.PROCESS:
                parts.append(f" with {name} {shown}")
        if spec.heed_settings and spec.runner is Runner.PROCESS:
            parts += self._of_process(call.peer)
        return "".join(parts)

    def _of_process(self, peer: str) -> list[str]:
        """` with SO_LINGER {1,5} on conn`: what an ending process leaves on its sockets."""
        prefix, found = f"{peer}/", {}
        for key, settings in sorted(self.held.items()):
            if key.startswith(prefix):
                for name, (setting, shown) in _in_table_order(settings):
                    if not setting.on_every_call:
                        found.setdefault(name, []).append(f"{shown} on {key[len(prefix):]}")
        return [f" with {name} {', '.join(held)}" for name, held in found.items()]

    def after(self, call: Call) -> None:
        """Take note of a setting the call made (an accepted socket inherits its listener's;
        a dup'd descriptor shares its socket's)."""
        spec = CALLS.get(call.call)
        if spec is None:
            return
        mine = self.held.setdefault(f"{call.peer}/{call.sock}", {})
        if spec.setting is not None and call.ret == 0:
            named = {a.name: call.args[a.agent_name] for a in spec.args
                     if a.agent_name in call.args}
            label, shown = spec.setting.label(named), spec.setting.shown(named, call.info)
            if label is not None and shown is None:
                mine.pop(label, None)
            elif label is not None and shown is not None:
                mine[label] = (spec.setting, shown)
        elif spec.opens in (Opens.RETURNED, Opens.ALIAS) and spec.names_by:
            by = spec.arg(spec.names_by)
            new_name = call.args.get(by.agent_name) if by else None
            if new_name is None:
                return
            if spec.opens is Opens.ALIAS:
                self.held[f"{call.peer}/{new_name}"] = mine
                return
            new = self.held.setdefault(f"{call.peer}/{new_name}", {})
            new.update({name: held for name, held in mine.items() if held[0].inherited})


def _in_table_order(settings: dict[str, tuple[Setting, str]]) -> list[tuple[str, tuple]]:
    """The settings in the order the table of calls declares them, then as they were made."""
    return sorted(settings.items(), key=lambda item: _SETTINGS.index(item[1][0]))


def step_text(call: Call, context: str = "") -> str:
    """`server: conn.close() with SO_LINGER {1,0} → 0 in 0.1 ms`."""
    return f"{call.peer}: {call.signature()}{context} → {outcome(call)} in {duration(call.elapsed)}"


def step_texts(calls: Sequence[Call]) -> list[str]:
    """step_text of each call, with the socket options in force when it was made."""
    settings, texts = _Settings(), []
    for call in calls:
        texts.append(step_text(call, settings.context(call)))
        settings.after(call)
    return texts


def _fits(call: str, seg: Segment, last_ack: int | None) -> bool:
    """Whether seg is a packet the call itself sends, by the kinds of packet the table of
    calls says it can emit: the SYN or the handshake's ACK, data, a window update (an ACK
    that acknowledges nothing new), a FIN, an RST."""
    emits = CALLS[call].emits
    pure_ack = seg.flags == ACK and seg.length == 0
    return ((Emits.HANDSHAKE in emits and (bool(seg.flags & SYN) or pure_ack))
            or (Emits.DATA in emits and seg.length > 0)
            or (Emits.WINDOW in emits and pure_ack and seg.ack == last_ack)
            or (Emits.FIN in emits and bool(seg.flags & FIN))
            or (Emits.RST in emits and bool(seg.flags & RST)))


def _side_of(seg: Segment, server_port: int | None) -> str:
    return "server" if seg.sport == server_port else "client"


def _windows(calls: Sequence[Call]) -> list[float]:
    """Where each call's claim on packets ends: when it returned (plus the capture's lag),
    but never past the next call of the same peer."""
    ends = []
    for i, call in enumerate(calls):
        end = call.start + call.elapsed + _LATE
        later = [c.start for c in calls[i + 1:] if c.peer == call.peer]
        ends.append(min([end, *later[:1]]))
    return ends


class _Notes:
    """Comments gathered per frame number."""

    def __init__(self, segments: Sequence[Segment]) -> None:
        self.segments = sorted(segments, key=lambda s: (s.time, s.index))
        self.by_frame: dict[int, list[str]] = {seg.index: [] for seg in segments}

    def add(self, seg: Segment, text: str) -> None:
        self.by_frame[seg.index].append(text)

    def next_after(self, moment: float, text: str) -> None:
        """Put a comment on the first packet at or after moment, saying how long before it
        the event was; on the last packet ("after this packet") when none follows."""
        for seg in self.segments:
            if seg.time >= moment:
                self.add(seg, f"{text} ({duration(seg.time - moment)} before this packet)")
                return
        if self.segments:
            last = self.segments[-1]
            self.add(last, f"{text} ({duration(moment - last.time)} after this packet)")


def step_comments(result: RunResult) -> dict[int, list[str]]:
    """Frame number -> comments naming the steps that sent it or happened just before it."""
    notes = _Notes(result.segments)
    server_port = result.server[1] if result.server else None
    claimed: set[int] = set()
    last_ack = _last_acks(notes.segments, server_port)
    calls = list(result.calls)
    for call, text, until in zip(calls, step_texts(calls), _windows(calls), strict=True):
        made = crafted(notes.segments, call)
        if made is not None:
            notes.add(made, f"{text}; {INJECTED} (not by the {call.sock}'s kernel)")
            claimed.add(made.index)
            continue
        during = []
        if call.peer in SIDES and call.call in EMITTING:
            during = [seg for seg in notes.segments if seg.index not in claimed
                      and _side_of(seg, server_port) == call.peer
                      and call.start <= seg.time <= until]
        sent = [seg for seg in during if _fits(call.call, seg, last_ack.get(seg.index))]
        blocked = call.elapsed > BLOCKED
        if not sent:
            if blocked:
                notes.next_after(call.start, f"{call.peer}: {call.signature()} called; it "
                                             "blocks")
            notes.next_after(call.start + call.elapsed, f"{text}{NO_PACKET}")
            continue
        notes.add(sent[0], f"{text}{SENT}")
        for seg in sent[1:]:
            notes.add(seg, f"{call.peer}: {call.signature()}{ALSO_SENT}")
        for seg in (during if blocked else []):
            if seg not in sent:
                notes.add(seg, f"{call.peer}: {SENT_WHILE}{call.signature()} was blocked")
        claimed.update(seg.index for seg in (during if blocked else sent))
        if call.start + call.elapsed - sent[-1].time > 0.001:
            notes.next_after(call.start + call.elapsed,
                             f"{call.peer}: {call.signature()} returned {outcome(call)}")
    return notes.by_frame


def _last_acks(segments: Sequence[Segment], server_port: int | None) -> dict[int, int | None]:
    """Frame number -> the ack number its sender's previous packet on that connection
    carried (None for the first)."""
    previous: dict[tuple, int] = {}
    found: dict[int, int | None] = {}
    for seg in segments:
        key = (seg.src, seg.sport, seg.dst, seg.dport)
        found[seg.index] = previous.get(key)
        if seg.flags & ACK:
            previous[key] = seg.ack
    return found


def pattern_comments(conversations: Sequence[Conversation], match: Match | None
                     ) -> dict[int, list[str]]:
    """Frame number -> the packet's place in the match of the judged (first) connection; a
    packet that came after the match was made (a test's last expect) has none."""
    found: dict[int, list[str]] = {}
    if not conversations or match is None:
        return found
    judged = conversations[0].segments[: len(match.observed)]
    for i, seg in enumerate(judged):
        found[seg.index] = [_pattern_note(match, i, len(judged))]
    if not match.ok and match.failed_at is None and judged:
        found[judged[-1].index].append(f"{PATTERN}{match.sentence()}")
    for conv in conversations[1:]:
        for seg in conv.segments:
            found[seg.index] = [f"{PATTERN}stream {conv.index}, {OTHER_STREAM} "
                                "(stream 0)"]
    return found


def _pattern_note(match: Match, i: int, count: int) -> str:
    observed = match.observed[i]
    if match.failed_at is not None and i == match.failed_at:
        return f"{PATTERN}{BROKE}{match.sentence()}"
    if match.failed_at is not None and i > match.failed_at:
        return f"{PATTERN}packet {i + 1} {observed} {AFTER_BREAK}"
    spelled = match.token_at(i) if i < len(match.columns) else None
    where = f" (\"{spelled}\" at column {match.columns[i] + 1})" if spelled else ""
    return f"{PATTERN}packet {i + 1} of {count} {observed} matched{where}"


def event_comments(segments: Sequence[Segment], events: Sequence[tuple[float, str]]
                   ) -> dict[int, list[str]]:
    """Frame number -> comments telling events that sent no packet of their own (a program
    started, a program exited), each (time, text) on the first packet at or after its time
    with how long before that packet it happened, as step comments are."""
    notes = _Notes(segments)
    for moment, text in sorted(events, key=lambda event: event[0]):
        notes.next_after(moment, text)
    return {index: texts for index, texts in notes.by_frame.items() if texts}


def state_comments(result: RunResult) -> dict[int, list[str]]:
    """Frame number -> the state changes the kernel made to the first connection's sides
    (`kernel: server FIN-WAIT-1 -> CLOSING (0.2 ms before this packet)`), each on the first
    packet at or after it, as a step's comment is placed."""
    notes = _Notes(result.segments)
    record = result.kernel
    for mark in marks_of_transitions(record) if record is not None else ():
        notes.next_after(mark[0], f"{KERNEL}{mark[1]} {mark[2]} -> {mark[3]}")
    return notes.by_frame


def frame_comments(result: RunResult, match: Match | None) -> dict[int, list[str]]:
    """Every comment each frame carries: its steps first, the kernel's state changes and its
    reason for an RST, then its pattern note."""
    steps = step_comments(result)
    kernel = state_comments(result)
    for index, event in pair_resets(result.segments, result.kernel,
                                    crafted_frames(result)).items():
        kernel.setdefault(index, []).append(reset_comment(event))
    pattern = pattern_comments(split_conversations(result.segments), match)
    return {index: steps.get(index, []) + kernel.get(index, []) + pattern.get(index, [])
            for index in sorted(set(steps) | set(kernel) | set(pattern))}
