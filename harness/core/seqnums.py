"""tcpdump's relative sequence numbers: the table of per-connection bases it keeps, so that
each side's first sequence number after its SYN reads 1. The listing prints these numbers and
the pattern's ``seq`` and ``ack`` fields compare them, so the two always agree."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.core.notation import ACK, SYN

if TYPE_CHECKING:
    from harness.core.segment import Segment

__all__ = ["SeqTable", "packed_address"]

_MOD = 2**32
_AF = {"ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}


@dataclass
class _Bases:
    """tcpdump's per-conversation bases, for the lower-port side and the other side."""

    seq: int
    ack: int


class SeqTable:
    """tcpdump's table of relative-sequence bases, one entry per conversation.

    Feed it segments in capture order: numbers(seg) gives what tcpdump prints. A segment
    without ACK, and the one that opens an entry (a SYN-ACK, or the first ACK seen), keep
    their absolute numbers, as in tcpdump.
    """

    def __init__(self) -> None:
        self.entries: dict[tuple, _Bases] = {}

    def numbers(self, seg: Segment) -> tuple[int, int]:
        """The seq and ack numbers tcpdump prints for ``seg``, updating the table."""
        if not seg.flags & ACK:
            return seg.seq, seg.ack
        rev = _reversed(seg)
        key = _table_key(seg, rev)
        bases = self.entries.get(key)
        if bases is None or seg.flags & SYN:
            self.entries[key] = _new_bases(seg, rev)
            return seg.seq, seg.ack
        if rev:
            return (seg.seq - bases.ack) % _MOD, (seg.ack - bases.seq) % _MOD
        return (seg.seq - bases.seq) % _MOD, (seg.ack - bases.ack) % _MOD


def _new_bases(seg: Segment, rev: bool) -> _Bases:
    """The bases tcpdump records from the packet that opens a table entry."""
    if rev:
        return _Bases(seq=(seg.ack - 1) % _MOD, ack=seg.seq)
    return _Bases(seq=seg.seq, ack=(seg.ack - 1) % _MOD)


def _reversed(seg: Segment) -> bool:
    """Whether tcpdump files the segment under the swapped address/port order."""
    if seg.sport != seg.dport:
        return seg.sport > seg.dport
    return packed_address(seg.family, seg.src) > packed_address(seg.family, seg.dst)


def _table_key(seg: Segment, rev: bool) -> tuple:
    """The conversation key, written in tcpdump's canonical order."""
    if rev:
        return seg.family, seg.dst, seg.src, seg.dport, seg.sport
    return seg.family, seg.src, seg.dst, seg.sport, seg.dport


def packed_address(family: str, address: str) -> bytes:
    """The address in network byte order, as tcpdump compares it."""
    return socket.inet_pton(_AF[family], address)
