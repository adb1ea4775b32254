"""A segment the harness injects as if one side had sent it, as a value: its numbers worked
out from what the capture has seen of the connection.

`seq` counts from the next sequence number the capture has seen from the sending side (0 is
exactly the next, 100 is 100 ahead, -1000 is 1000 behind); `ack` from the next the capture has
seen from the other side (0 acknowledges everything seen), and only when the flags carry an
ACK. The window is the last one the side advertised unless told.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.conversation import Conversation
from harness.core.errors import UserError
from harness.core.notation import ACK, FIN, RST, SYN, NotationError, flags_to_str, str_to_flags
from harness.core.vocabulary import SIDES, Endpoint

_MOD = 2**32
#: The raw window an injected segment carries when its side has sent nothing after its SYN
#: (a modest one: 512 units, 64 KiB at the usual scale of 7).
DEFAULT_WINDOW = 512


class InjectError(UserError, ValueError):
    """A segment that cannot be crafted from what was captured; the message says why."""


@dataclass(frozen=True)
class Crafted:
    """A TCP segment ready to be built and sent: its addresses, flags and absolute numbers."""

    family: str
    src: str
    sport: int
    dst: str
    dport: int
    flags: int
    seq: int
    ack: int
    win: int
    payload: bytes = b""

    def describe(self) -> str:
        """`[R] seq 3735928559, ack 0, win 64, 0 bytes`, as the comments tell it."""
        ack = f", ack {self.ack}" if self.flags & ACK else ""
        return (f"[{flags_to_str(self.flags)}] seq {self.seq}{ack}, win {self.win}, "
                f"{len(self.payload)} bytes")


def flags_of(letters: str) -> int:
    """The flag bits tcpdump letters name ("R.", "F", "P."); InjectError when they are not."""
    try:
        return str_to_flags(letters)
    except NotationError as exc:
        raise InjectError(f"inject flags {letters!r}: {exc}") from None


def next_seq(conv: Conversation, sender: Endpoint) -> int | None:
    """The sequence number after the furthest byte (SYN and FIN count one) the capture has
    seen from sender on conv, None if it has seen nothing from it. RSTs take no sequence
    space and may carry any number, so they do not count."""
    sent = [seg for seg in conv.segments
            if (seg.src, seg.sport) == sender and not seg.flags & RST]
    if not sent:
        return None
    base = sent[0].seq
    furthest = max((seg.seq - base + seg.length + bool(seg.flags & SYN) + bool(seg.flags & FIN))
                   % _MOD for seg in sent)
    return (base + furthest) % _MOD


def craft(conv: Conversation, side: str, letters: str, seq: int = 0, ack: int = 0,
          payload: bytes = b"", win: int | None = None) -> Crafted:
    """The segment `side` would send on conv with these flags and relative numbers."""
    if side not in SIDES:
        raise InjectError(f"inject from {side!r}: write client or server")
    flags = flags_of(letters)
    sender, receiver = (conv.client, conv.server) if side == "client" else (conv.server,
                                                                            conv.client)
    start = next_seq(conv, sender)
    if start is None:
        raise InjectError(f"inject from the {side}: the capture has seen no packet from the "
                          f"{side} on this connection, so there is no sequence number to "
                          "count from; inject after it has sent one")
    acked = 0
    if flags & ACK:
        other = next_seq(conv, receiver)
        acked = ((other or 0) + ack) % _MOD
    window = win if win is not None else _last_window(conv, sender)
    return Crafted(conv.segments[0].family, sender[0], sender[1], receiver[0], receiver[1],
                   flags, (start + seq) % _MOD, acked, window, payload)


def _last_window(conv: Conversation, sender: Endpoint) -> int:
    """The raw window of the side's last segment after its SYN (a SYN's is not scaled)."""
    windows = [seg.win for seg in conv.segments
               if (seg.src, seg.sport) == sender and not seg.flags & SYN]
    return windows[-1] if windows else DEFAULT_WINDOW
