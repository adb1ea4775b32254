"""tcpdump-style one-line listings of TCP segments, as ``tcpdump -n -r`` prints them."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from harness.core.notation import ACK, FIN, RST, SYN, flags_to_str

if TYPE_CHECKING:
    from harness.core.segment import Segment

__all__ = ["tcpdump_lines"]

_MOD = 2**32
_FAMILY_NAME = {"ipv4": "IP", "ipv6": "IP6"}
_AF = {"ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}


def tcpdump_lines(segments: Sequence[Segment], relative_time: bool = True) -> list[str]:
    """One tcpdump-style line per segment (TCP options are left out).

    Sequence numbers are relative the way tcpdump makes them; times are seconds since
    the first segment when ``relative_time``, else tcpdump's local ``HH:MM:SS.ffffff``.
    """
    if not segments:
        return []
    table = _SeqTable()
    start = _micros(segments[0].time)
    lines = []
    for seg in segments:
        stamp = _relative(_micros(seg.time) - start) if relative_time else _clock(seg.time)
        lines.append(f"{stamp} {_line_body(seg, *table.numbers(seg))}")
    return lines


def _line_body(seg: Segment, seq: int, ack: int) -> str:
    """Everything after the time stamp, for the printed sequence and ack numbers."""
    parts = [f"Flags [{flags_to_str(seg.flags)}]"]
    if seg.length > 0 or seg.flags & (SYN | FIN | RST):
        end = f":{(seq + seg.length) % _MOD}" if seg.length > 0 else ""
        parts.append(f"seq {seq}{end}")
    if seg.flags & ACK:
        parts.append(f"ack {ack}")
    parts.append(f"win {seg.win}")
    parts.append(f"length {seg.length}")
    src, dst = _show(seg.family, seg.src), _show(seg.family, seg.dst)
    family = _FAMILY_NAME[seg.family]
    return f"{family} {src}.{seg.sport} > {dst}.{seg.dport}: {', '.join(parts)}"


@dataclass
class _Bases:
    """tcpdump's per-conversation bases, for the lower-port side and the other side."""

    seq: int
    ack: int


class _SeqTable:
    """tcpdump's table of relative-sequence bases, one entry per conversation."""

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
    return _packed(seg.family, seg.src) > _packed(seg.family, seg.dst)


def _table_key(seg: Segment, rev: bool) -> tuple:
    """The conversation key, written in tcpdump's canonical order."""
    if rev:
        return seg.family, seg.dst, seg.src, seg.dport, seg.sport
    return seg.family, seg.src, seg.dst, seg.sport, seg.dport


def _packed(family: str, address: str) -> bytes:
    """The address in network byte order, as tcpdump compares it."""
    return socket.inet_pton(_AF[family], address)


def _show(family: str, address: str) -> str:
    """The address as tcpdump -n prints it (IPv6 in its compressed form)."""
    return socket.inet_ntop(_AF[family], _packed(family, address))


def _micros(time: float) -> int:
    """A time in whole microseconds."""
    return round(time * 1_000_000)


def _relative(micros: int) -> str:
    """Seconds with six decimals, e.g. "0.000123"."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), 1_000_000)
    return f"{sign}{whole}.{frac:06d}"


def _clock(time: float) -> str:
    """Local time of day as tcpdump prints it by default, "HH:MM:SS.ffffff"."""
    whole, frac = divmod(_micros(time), 1_000_000)
    return f"{datetime.fromtimestamp(whole).strftime('%H:%M:%S')}.{frac:06d}"
