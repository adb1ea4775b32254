"""tcpdump-style one-line listings of TCP segments, as ``tcpdump -n -r`` prints them."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from harness.core.notation import ACK, FIN, RST, SYN, flags_to_str
from harness.core.seqnums import SeqTable, packed_address

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
    table = SeqTable()
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


def _show(family: str, address: str) -> str:
    """The address as tcpdump -n prints it (IPv6 in its compressed form)."""
    return socket.inet_ntop(_AF[family], packed_address(family, address))


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
