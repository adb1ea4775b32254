"""The ladder diagram of a run: client and server timelines, packets as arrows between them,
each peer's steps on its own timeline, in time order, and each side's TCP state written on its
timeline where it is known; and its rendering for a terminal.

A ladder is built either from a run's entry in results.json (steps from the calls, with exact
times; the states the kernel's events say each side entered, and the final states sock_diag
read) or from a capture alone (steps, and the kernel's state changes, from the comments the
harness wrote into the pcapng; final states when its section comments list them). States are
marks of (time, side, state): a mark with a time is a state entered then, drawn as a row of
its own at that moment; one without, the state the side ended in.
The SVG rendering of the same model is in harness.report.ladder_svg.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.core.document import RunEntry
from harness.core.entries import CallEntry, PacketEntry
from harness.core.notation import ACK, token
from harness.core.vocabulary import ACTORS, endpoint_text
from harness.pcap.annotate import (
    AFTER_BREAK,
    ALSO_SENT,
    BLOCKED,
    BROKE,
    NO_PACKET,
    OTHER_STREAM,
    PATTERN,
    SENT,
    SENT_WHILE,
)
from harness.report.states import StateMark, final_marks, marks_in, transition_marks

#: How an arrow stands in the pattern match.
MARKS = ("match", "break", "after", "other", "none")
_KERNEL_STATE = re.compile(r"^kernel: (?P<side>client|server) (?P<old>[A-Z][A-Z0-9-]*) -> "
                           r"(?P<new>[A-Z][A-Z0-9-]*)")
_GAP = re.compile(r"\((?P<gap>[\d.]+) (?P<unit>ms|s) (?P<where>before|after) this packet\)$")


@dataclass(frozen=True)
class Arrow:
    """One packet: when, which way (">" client to server), its label and its match mark."""

    time: float
    frame: int
    stream: int
    direction: str
    token: str
    label: str
    mark: str = "match"
    note: str = ""
    comments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    """One call a peer made (or a wait of the lab), with its outcome, on that peer's line."""

    time: float
    side: str
    text: str
    failed: bool = False


@dataclass
class Ladder:
    """Everything a ladder diagram shows."""

    title: str
    client: str
    server: str
    pattern: str = ""
    verdict: str = ""
    sentence: str = ""
    arrows: list[Arrow] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    states: list[StateMark] = field(default_factory=list)

    def rows(self) -> list[Row]:
        """Arrows, steps and timed state marks in time order; at the same moment a step first,
        then the packet, then the state the packet moved a side to."""
        rows: list[tuple[float, int, int, Row]] = []
        rows += [(s.time, 0, i, s) for i, s in enumerate(self.steps)]
        rows += [(a.time, 1, i, a) for i, a in enumerate(self.arrows)]
        rows += [(m.time, 2, i, m) for i, m in enumerate(self.states) if m.time is not None]
        return [row for *_, row in sorted(rows, key=lambda r: r[:3])]

    def final_states(self) -> dict[str, StateMark]:
        """side -> the state it ended in, for the sides whose final state is known."""
        return {mark.side: mark for mark in self.states if mark.final}


Row = Arrow | Step | StateMark


def packet_label(flags: str, seq: int, ack: int | None, length: int, win: int) -> str:
    """`S seq 0 win 65495`, `P. seq 1 ack 1 len 100`, `R. seq 101 ack 1`."""
    label = f"{flags} seq {seq}"
    if ack is not None:
        label += f" ack {ack}"
    if length:
        label += f" len {length}"
    if win == 0 or flags.startswith("S"):
        label += f" win {win}"
    return label


def _marks(packets: Sequence[PacketEntry], failed_at: int | None) -> list[str]:
    marks, judged = [], 0
    for packet in packets:
        if packet.stream != 0:
            marks.append("other")
            continue
        if failed_at is None or judged < failed_at:
            marks.append("match")
        else:
            marks.append("break" if judged == failed_at else "after")
        judged += 1
    return marks


def ladder_from_run(entry: RunEntry) -> Ladder:
    """The ladder of one run as results.json records it (packets, calls, match)."""
    match = entry.match
    marks = _marks(entry.packets, match.failed_at if match else None)
    arrows = [Arrow(time=p.t, frame=p.frame, stream=p.stream, direction=p.dir, token=p.token,
                    label=p.label, mark=mark, note=_pattern_comment(p.comments),
                    comments=p.comments)
              for p, mark in zip(entry.packets, marks, strict=True)]
    steps = [step for c in entry.calls if c.t is not None for step in _call_steps(c)]
    return Ladder(title=f"{entry.id} ({entry.family}, {entry.topology})",
                  client=entry.client_address or "client",
                  server=entry.server_address or "server", pattern=entry.pattern,
                  verdict=entry.verdict, sentence=match.sentence if match else "",
                  arrows=arrows, steps=steps,
                  states=transition_marks(entry.kernel) + final_marks(entry.states))


def _call_steps(call: CallEntry) -> list[Step]:
    """A call as steps on its peer's line: one when it returned at once; one when it was
    made and one when it returned when it blocked (the textbook's `close() = 0, 1.00 s`)."""
    assert call.t is not None
    side = call.peer if call.peer in ACTORS else "lab"
    text = (call.text or call.call).split(": ", 1)[-1]
    failed = bool(call.error)
    if call.elapsed <= BLOCKED or " → " not in text:
        return [Step(call.t, side, text, failed)]
    made = text.split(" → ", 1)[0]
    return [Step(call.t, side, f"{made} called; it blocks"),
            Step(call.t + call.elapsed, side, text, failed)]


def _pattern_comment(comments: Sequence[str]) -> str:
    return next((c.removeprefix(PATTERN) for c in comments if c.startswith(PATTERN)),
                "")


def ladder_from_capture(title: str, segments: Sequence[Any], comments: Mapping[int, Sequence[str]],
                        client: tuple[str, int] | None = None,
                        section: Sequence[str] = ()) -> Ladder:
    """The ladder of one connection's segments, with the comments its pcapng carries per frame
    number (steps are the comments that name a peer) and the section's comments (the pattern
    and the verdict the harness wrote there, and the final states when a line lists them)."""
    ladder = Ladder(title=title, client="client", server="server",
                    pattern=_after(PATTERN, section), verdict=_after("verdict: ", section),
                    states=marks_in(section))
    if not segments:
        return ladder
    first = client or (segments[0].src, segments[0].sport)
    server = next(((s.dst, s.dport) for s in segments if (s.src, s.sport) == first),
                  (segments[0].dst, segments[0].dport))
    ladder.client, ladder.server = endpoint_text(first), endpoint_text(server)
    base: dict[tuple[str, int], int] = {}
    for seg in segments:
        sender, receiver = (seg.src, seg.sport), (seg.dst, seg.dport)
        base.setdefault(sender, seg.seq)
        direction = ">" if sender == first else "<"
        ack = (seg.ack - base[receiver]) % 2**32 if seg.flags & ACK and receiver in base else None
        tok = token(direction, seg.flags)
        notes = tuple(comments.get(seg.index, ()))
        ladder.arrows.append(Arrow(
            time=seg.time, frame=seg.index, stream=0, direction=direction, token=tok,
            label=packet_label(tok[1:], (seg.seq - base[sender]) % 2**32, ack, seg.length,
                               seg.win),
            mark=_mark_from(notes), note=_pattern_comment(notes), comments=notes))
        ladder.steps += _steps_from(notes, seg.time)
        ladder.states += _states_from(notes, seg.time)
        if ladder.arrows[-1].mark == "break":
            ladder.sentence = ladder.arrows[-1].note.removeprefix(BROKE)
    return _from_zero(ladder)


def _states_from(comments: Sequence[str], when: float) -> list[StateMark]:
    """The kernel's state changes a packet's comments tell (`kernel: server FIN-WAIT-1 ->
    CLOSING (0.2 ms before this packet)`), each at its moment."""
    marks = []
    for text in comments:
        m = _KERNEL_STATE.match(text)
        if m is None:
            continue
        gap = _GAP.search(text)
        moment = when
        if gap:
            scale = 1e-3 if gap["unit"] == "ms" else 1.0
            moment += (-1 if gap["where"] == "before" else 1) * float(gap["gap"]) * scale
        marks.append(StateMark(side=m["side"], state=m["new"], time=moment))
    return marks


def _after(prefix: str, lines: Sequence[str]) -> str:
    return next((line.removeprefix(prefix) for line in lines if line.startswith(prefix)), "")


def _from_zero(ladder: Ladder) -> Ladder:
    """Times counted from the first step or packet."""
    origin = min([a.time for a in ladder.arrows] + [s.time for s in ladder.steps])
    ladder.arrows = [dataclasses.replace(a, time=a.time - origin) for a in ladder.arrows]
    ladder.steps = [dataclasses.replace(s, time=s.time - origin) for s in ladder.steps]
    ladder.states = [m if m.time is None else dataclasses.replace(m, time=m.time - origin)
                     for m in ladder.states]
    return ladder


def _mark_from(comments: Sequence[str]) -> str:
    note = _pattern_comment(comments)
    if note.startswith(BROKE):
        return "break"
    if AFTER_BREAK in note:
        return "after"
    if OTHER_STREAM in note:
        return "other"
    return "match" if note else "none"


def _steps_from(comments: Sequence[str], when: float) -> list[Step]:
    """Steps named in a packet's comments, placed at the packet (or as long before or after it
    as the comment says); the packets a step also sent are drawn, not written."""
    steps = []
    for text in comments:
        side, _, rest = text.partition(": ")
        if side not in ACTORS or rest.endswith(ALSO_SENT) or rest.startswith(SENT_WHILE):
            continue
        moment, gap = when, _GAP.search(rest)
        if gap:
            scale = 1e-3 if gap["unit"] == "ms" else 1.0
            sign = -1 if gap["where"] == "before" else 1
            moment = when + sign * float(gap["gap"]) * scale
            rest = rest[: gap.start()].rstrip()
        rest = rest.removesuffix(SENT).removesuffix(NO_PACKET)
        steps.append(Step(time=moment, side=side, text=rest))
    return steps


# ---------------------------------------------------------------- the terminal rendering

_ARROW = 44  # columns between the two timelines
_MARK_SIGNS = {"match": "ok", "break": "BROKE", "after": "", "other": "", "none": ""}


def render_text(ladder: Ladder, side_width: int | None = None) -> str:
    """The ladder as lines of text: time, client steps, the arrow between the two timelines,
    server steps, then the token and how it stands in the match; each side's final state,
    where known, on a last row beside its timeline."""
    if side_width is None:
        widths = [len(s.text) for s in ladder.steps if s.side == "client"]
        widths += [len(_state_text(m)) for m in ladder.states if m.side == "client"]
        side_width = min(max([len(ladder.client), *widths]), 60)
    head = (f"{'seconds':>10}  {ladder.client:>{side_width}}  {'':{_ARROW}}  {ladder.server}")
    out = [ladder.title, *([f"pattern: {ladder.pattern}"] if ladder.pattern else []), head]
    for row in ladder.rows():
        out.append(_text_row(row, side_width))
    finals = ladder.final_states()
    if finals:
        out.append(_sides_row(f"{'final':>10}", _clip(_state_text(finals.get("client")),
                                                      side_width),
                              _state_text(finals.get("server")), side_width))
    if ladder.sentence:
        out.append(f"BROKE: {ladder.sentence}")
    if ladder.verdict:
        out.append(f"verdict: {ladder.verdict.upper()}")
    return "\n".join(line.rstrip() for line in out)


def _state_text(mark: StateMark | None) -> str:
    """`[FIN-WAIT-1 (send_q 2985985, orphan)]`: a state on a timeline; "" for none."""
    return f"[{mark.text}]" if mark is not None else ""


def _sides_row(when: str, client: str, server: str, side_width: int) -> str:
    """A row with text beside the client's timeline (left of it) and the server's (right)."""
    return f"{when}  {client:>{side_width}}  |{'':{_ARROW - 2}}|  {server}"


def _text_row(row: Row, side_width: int) -> str:
    assert row.time is not None  # a final state is no row: render_text writes it last
    when = f"{row.time:10.6f}"
    if isinstance(row, StateMark):
        text = _state_text(row)
        if row.side == "client":
            return _sides_row(when, _clip(text, side_width), "", side_width)
        return _sides_row(when, "", text, side_width)
    if isinstance(row, Step):
        if row.side == "client":
            return _sides_row(when, _clip(row.text, side_width), "", side_width)
        lab = "lab: " if row.side == "lab" else ""
        return _sides_row(when, "", f"{lab}{row.text}", side_width)
    body = _clip(f" {row.label} ", _ARROW - 6)
    if row.direction == ">":
        shaft = f"|-{body}".ljust(_ARROW - 2, "-") + ">|"
    else:
        shaft = "|<" + f"-{body}".ljust(_ARROW - 3, "-") + "|"
    sign = _MARK_SIGNS.get(row.mark, "")
    stream = f" stream {row.stream}" if row.stream else ""
    return f"{when}  {'':>{side_width}}  {shaft}  {row.token:<4} {sign}{stream}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
