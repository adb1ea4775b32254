"""A packet of a connection with the facts a pattern's fields compare: its token, its relative
sequence and acknowledgment numbers (tcpdump's, harness.core.seqnums), payload length, window,
SYN options, ports and times. Built from a connection's segments in capture order
(`PacketBuilder`, or `Conversation.packets()`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.core.notation import token
from harness.core.seqnums import SeqTable

if TYPE_CHECKING:
    from harness.core.segment import Segment
    from harness.core.vocabulary import Endpoint

__all__ = ["Packet", "PacketBuilder"]


@dataclass(frozen=True)
class Packet:
    """One packet as a pattern sees it.

    ``token``: `>S`, `<R.` (direction from the client, the flags as tcpdump prints them);
    ``seq``, ``ack``: as `harness show` prints them (each side's ISN+1 is 1; a SYN and a
    packet without ACK keep their absolute numbers, as in tcpdump); ``len``: payload bytes;
    ``win``: the raw window field; ``mss``, ``wscale``: the SYN options, None when absent;
    ``sport``, ``dport``: the ports; ``t``: seconds since the connection's first packet,
    ``dt`` since its previous one (0 for the first), both in whole microseconds; ``number``:
    its place in the connection from 1 (0 when not known), for the explanations.
    """

    token: str
    seq: int
    ack: int
    len: int
    win: int
    mss: int | None
    wscale: int | None
    sport: int
    dport: int
    t: float
    dt: float
    number: int = 0


def _micros(time: float) -> int:
    """A capture time in whole microseconds, as the listing counts it."""
    return round(time * 1_000_000)


class PacketBuilder:
    """Makes the Packets of one connection from its segments, fed in capture order (each
    packet's relative numbers and times depend on the ones before it).

    ``client`` is the endpoint that sent the first SYN: its packets are `>`, the others `<`.
    """

    def __init__(self, client: Endpoint) -> None:
        self.client = client
        self._table = SeqTable()
        self._first: int | None = None
        self._previous: int | None = None
        self._count = 0

    def add(self, seg: Segment) -> Packet:
        """The next segment of the connection as a Packet."""
        now = _micros(seg.time)
        first = now if self._first is None else self._first
        previous = now if self._previous is None else self._previous
        self._first, self._previous = first, now
        self._count += 1
        seq, ack = self._table.numbers(seg)
        direction = ">" if (seg.src, seg.sport) == self.client else "<"
        return Packet(token=token(direction, seg.flags), seq=seq, ack=ack, len=seg.length,
                      win=seg.win, mss=seg.mss, wscale=seg.wscale, sport=seg.sport,
                      dport=seg.dport, t=(now - first) / 1_000_000,
                      dt=(now - previous) / 1_000_000, number=self._count)
