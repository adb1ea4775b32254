"""The independent cross-check: Wireshark's dissector (through tshark) against our own listing.

tshark prints one line of fields per frame; this module reads those lines and compares them,
frame by frame, with the segments scapy gave us: the frame count, each frame's flags,
direction, relative sequence and acknowledgement numbers and length, the stream each belongs
to, and what Wireshark's TCP analysis says. Any disagreement means one of the two decoders is
wrong about the capture, so no verdict built on it can be trusted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from harness.core.conversation import split_conversations
from harness.core.errors import LabError
from harness.core.notation import ACK, FIN, RST, SYN, token
from harness.core.segment import Segment

#: The preferences our readings assume, given to every tshark whatever Wireshark's defaults
#: or the user's profile say.
PREFERENCES = ("tcp.relative_sequence_numbers:TRUE", "tcp.analyze_sequence_numbers:TRUE",
               "tcp.calculate_timestamps:TRUE")
# The fields asked of tshark, in this order (see FIELDS_ARGS).
FIELDS = ("frame.section_number", "tcp.stream", "tcp.flags.str", "tcp.srcport", "tcp.dstport",
          "tcp.seq", "tcp.ack", "tcp.len", "_ws.expert.message", "_ws.expert.severity")
# What joins a field's occurrences: the ASCII unit separator, which no comment of ours holds
# (a call's text may hold "|": `revents POLLIN|POLLOUT`).
AGGREGATOR = "\x1f"
FIELDS_ARGS = ("-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E",
               f"aggregator={AGGREGATOR}", *(arg for field in FIELDS for arg in ("-e", field)))
# tcp.flags.str spells 12 bits from the high end: 3 reserved, then AE C E U A P R S F.
_FLAG_BITS = (0, 0, 0, 0x100, 0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01)
# Wireshark's analysis messages that would mean our capture is not what it claims to be:
# every packet once, none missing, in order. Retransmissions are compared, not banned.
_CAPTURE_FAULTS = ("not captured", "out-of-order", "Out-Of-Order", "ACKed segment that wasn't")
_RETRANSMISSION = "retransmission"
# Wireshark's expert severities (epan/proto.h, PI_SEVERITY_MASK values).
SEVERITY_COMMENT = 0x00100000  # a packet comment shown as expert info: ours, not the dissector's
SEVERITY_WARN = 0x00600000
# A warning every reset earns, whatever the scenario: the RST is what this harness is about.
_RESET_WARNING = "Connection reset (RST)"


class TsharkOutputError(LabError, ValueError):
    """tshark printed a line we cannot read."""


@dataclass(frozen=True)
class TcpView:
    """What both decoders say of one frame: its stream, flags, ports, relative seq/ack, length."""

    stream: int
    flags: int
    sport: int
    dport: int
    seq: int
    ack: int
    length: int


@dataclass(frozen=True)
class WiresharkFrame(TcpView):
    """One frame as Wireshark's dissector sees it, with the file section it came from and
    Wireshark's expert messages about it."""

    section: int = 1
    expert: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def retransmission(self) -> bool:
        """Wireshark flags it as a (fast, spurious or suspected) retransmission."""
        return any(_RETRANSMISSION in m.lower() for m in self.expert)


def flags_from_tshark(text: str) -> int:
    """The flag bits of a tcp.flags.str value such as ``·······A··S·``."""
    if len(text) != len(_FLAG_BITS):
        raise TsharkOutputError(f"tcp.flags.str {text!r} is not 12 characters")
    return sum(bit for bit, ch in zip(_FLAG_BITS, text, strict=True) if ch not in "·.")


def parse_fields(text: str) -> list[WiresharkFrame]:
    """The frames in tshark's `-T fields` output (FIELDS_ARGS); non-TCP frames are skipped."""
    frames = []
    for number, line in enumerate(text.splitlines(), 1):
        cols = line.split("\t")
        if len(cols) != len(FIELDS):
            raise TsharkOutputError(f"line {number}: {len(cols)} fields, expected {len(FIELDS)}")
        if not cols[1]:
            continue
        try:
            section, stream, sport, dport, seq, ack, length = (
                int(cols[i]) for i in (0, 1, 3, 4, 5, 6, 7))
        except ValueError:
            raise TsharkOutputError(f"line {number}: a number field is not a number") from None
        expert, warnings = _expert(cols[8], cols[9], number)
        frames.append(WiresharkFrame(stream, flags_from_tshark(cols[2]), sport, dport, seq, ack,
                                     length, section=section, expert=expert, warnings=warnings))
    return frames


def _expert(messages: str, severities: str, number: int) -> tuple[tuple[str, ...],
                                                                   tuple[str, ...]]:
    """The dissector's expert messages of a frame (packet comments left out), and those of
    them at warning severity or above."""
    texts = messages.split(AGGREGATOR) if messages else []
    levels = severities.split(AGGREGATOR) if severities else []
    if len(texts) != len(levels):
        raise TsharkOutputError(f"line {number}: {len(texts)} expert messages but "
                                f"{len(levels)} severities")
    try:
        pairs = [(text, int(level, 0)) for text, level in zip(texts, levels, strict=True)]
    except ValueError:
        raise TsharkOutputError(f"line {number}: an expert severity is not a number") from None
    kept = [(text, level) for text, level in pairs if text and level != SEVERITY_COMMENT]
    return (tuple(text for text, _ in kept),
            tuple(text for text, level in kept if level >= SEVERITY_WARN))


@dataclass(frozen=True)
class OurFrame(TcpView):
    """The same fields, computed from our segments the way Wireshark defines them."""

    retransmission: bool = False


def our_frames(segments: Sequence[Segment]) -> list[OurFrame]:
    """Our view of each segment: stream, relative seq/ack (from the first seq seen each way,
    as Wireshark counts), and whether it resends sequence space already sent."""
    stream_of: dict[int, int] = {}
    for conv in split_conversations(segments):
        for seg in conv.segments:
            stream_of[seg.index] = conv.index
    base: dict[tuple[int, tuple[str, int]], int] = {}
    sent: dict[tuple[int, tuple[str, int]], int] = {}
    frames = []
    for seg in segments:
        stream = stream_of[seg.index]
        me, peer = (stream, (seg.src, seg.sport)), (stream, (seg.dst, seg.dport))
        base.setdefault(me, seg.seq)
        rel_seq = (seg.seq - base[me]) % 2**32
        rel_ack = (seg.ack - base[peer]) % 2**32 if seg.flags & ACK and peer in base else 0
        span = seg.length + (1 if seg.flags & (SYN | FIN) else 0)
        end = rel_seq + span
        resent = span > 0 and me in sent and end <= sent[me]
        sent[me] = max(sent.get(me, 0), end)
        frames.append(OurFrame(stream, seg.flags, seg.sport, seg.dport, rel_seq, rel_ack,
                               seg.length, retransmission=resent))
    return frames


def _side(client_port: int, f: OurFrame | WiresharkFrame) -> str:
    return ">" if f.sport == client_port else "<"


def _describe(f: OurFrame | WiresharkFrame, client_port: int) -> str:
    shown = token(_side(client_port, f), f.flags)
    return (f"{shown:<5} stream {f.stream} {f.sport}>{f.dport} seq {f.seq} ack {f.ack} "
            f"len {f.length}{' retransmission' if f.retransmission else ''}")


def compare(segments: Sequence[Segment], theirs: Sequence[WiresharkFrame],
            allowed: Sequence[str] = ()) -> list[str]:
    """Every way tshark's reading of a capture disagrees with ours; empty when they agree.

    Wireshark warnings count as disagreements too, except a reset's on an RST and those whose
    text contains one of `allowed` (the warnings the scenario sets out to provoke).
    """
    ours = our_frames(segments)
    problems = []
    if len(ours) != len(theirs):
        problems.append(f"frame count: ours {len(ours)}, tshark {len(theirs)}")
    streams = (len({f.stream for f in ours}), len({f.stream for f in theirs}))
    if streams[0] != streams[1]:
        problems.append(f"stream count: ours {streams[0]}, tshark {streams[1]}")
    client_port = segments[0].sport if segments else 0
    for number, (mine, wire) in enumerate(zip(ours, theirs, strict=False), 1):
        fields = (*(f.name for f in dataclasses.fields(TcpView)), "retransmission")
        differ = [name for name in fields if getattr(mine, name) != getattr(wire, name)]
        if differ:
            problems.append(f"frame {number}: {', '.join(differ)} differ\n"
                            f"    ours:   {_describe(mine, client_port)}\n"
                            f"    tshark: {_describe(wire, client_port)}")
        faults = [m for m in wire.expert if any(f in m for f in _CAPTURE_FAULTS)]
        if faults:
            problems.append(f"frame {number}: tshark says {'; '.join(faults)}, but our capture "
                            "holds every packet once, in order")
        unexplained = [w for w in wire.warnings if not _explained(w, wire, allowed)]
        if unexplained and not faults:
            problems.append(f"frame {number}: tshark warns {'; '.join(unexplained)}, which the "
                            "scenario does not list among the warnings it provokes")
    return problems


def _explained(warning: str, frame: WiresharkFrame, allowed: Sequence[str]) -> bool:
    if warning == _RESET_WARNING and frame.flags & RST:
        return True
    return any(part in warning for part in allowed)


def batches(connections: Sequence[set[tuple]]) -> list[list[int]]:
    """Group files (by index) so that no connection four-tuple appears twice in a group.

    tshark tracks TCP conversations across the sections of one file, so two files holding
    the same four-tuple would be read as one connection (a SYN "retransmitted"); each group
    can be read by one tshark, and there is usually just one group.
    """
    groups: list[tuple[list[int], set[tuple]]] = []
    for index, keys in enumerate(connections):
        group = next((g for g in groups if not g[1] & keys), None)
        if group is None:
            group = ([], set())
            groups.append(group)
        group[0].append(index)
        group[1].update(keys)
    return [members for members, _ in groups]


def connection_keys(segments: Sequence[Segment]) -> set[tuple]:
    """The four-tuples (either way round) of the connections in a capture."""
    return {frozenset(seg.endpoints) for seg in segments}
