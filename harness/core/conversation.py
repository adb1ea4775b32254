"""TCP connections within a capture, numbered like Wireshark's tcp.stream, and their client."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.core.errors import UserError
from harness.core.notation import ACK, SYN, token
from harness.core.packet import Packet, PacketBuilder
from harness.core.vocabulary import Endpoint

if TYPE_CHECKING:
    from harness.core.segment import Segment

__all__ = ["Conversation", "StreamError", "pick", "split_conversations"]

_Key = tuple[str, frozenset[Endpoint]]


@dataclass(frozen=True)
class Conversation:
    """One TCP connection: its client, its server and its segments in capture order."""

    client: Endpoint
    server: Endpoint
    segments: tuple[Segment, ...]
    index: int
    client_known: bool

    def direction(self, seg: Segment) -> str:
        """">" for a segment from the client to the server, "<" otherwise."""
        return ">" if (seg.src, seg.sport) == self.client else "<"

    def tokens(self) -> list[str]:
        """The packet tokens of the conversation, e.g. [">S", "<S.", ">."]."""
        return [token(self.direction(seg), seg.flags) for seg in self.segments]

    def packets(self) -> list[Packet]:
        """Each segment as a Packet, with the facts a pattern's fields compare (relative
        seq and ack, length, window, SYN options, ports, times since the first and the
        previous packet)."""
        builder = PacketBuilder(self.client)
        return [builder.add(seg) for seg in self.segments]


def split_conversations(segments: Iterable[Segment]) -> list[Conversation]:
    """Group segments into connections, numbered from 0 in order of first appearance.

    A SYN without ACK starts a new connection on a four-tuple already seen when its
    sequence number is not the sender's first one there (port reuse), as Wireshark does.
    """
    groups: list[_Group] = []
    latest: dict[_Key, _Group] = {}
    for seg in segments:
        key = (seg.family, frozenset(seg.endpoints))
        group = latest.get(key)
        if group is None or group.reused_by(seg):
            group = _Group()
            groups.append(group)
            latest[key] = group
        group.add(seg)
    return [group.conversation(number) for number, group in enumerate(groups)]


class StreamError(UserError, LookupError):
    """A capture that holds no such TCP stream; the message says which it holds."""


def pick(conversations: Sequence[Conversation], stream: int | None) -> Conversation:
    """The conversation numbered ``stream``, or the first one when ``stream`` is None."""
    if not conversations:
        raise StreamError("the capture holds no TCP stream")
    if stream is None:
        return conversations[0]
    for conv in conversations:
        if conv.index == stream:
            return conv
    held = _stream_range(conversations)
    raise StreamError(f"stream {stream} not found: the capture holds {held}")


def _stream_range(conversations: Sequence[Conversation]) -> str:
    """How to name the stream numbers on hand, e.g. "streams 0-3" or "stream 0"."""
    numbers = sorted(conv.index for conv in conversations)
    if len(numbers) == 1:
        return f"stream {numbers[0]}"
    return f"streams {numbers[0]}-{numbers[-1]}"


def _is_opening_syn(seg: Segment) -> bool:
    """A SYN without ACK: the first packet of a connection attempt."""
    return seg.flags & (SYN | ACK) == SYN


@dataclass
class _Group:
    """The segments of one connection while the capture is being split."""

    segments: list[Segment] = field(default_factory=list)
    opener: Segment | None = None
    base: dict[Endpoint, int] = field(default_factory=dict)

    def reused_by(self, seg: Segment) -> bool:
        """Whether ``seg`` opens a new connection on this four-tuple rather than joining it."""
        if not _is_opening_syn(seg):
            return False
        first = self.base.get((seg.src, seg.sport))
        return first is not None and first != seg.seq

    def add(self, seg: Segment) -> None:
        """Take one more segment, noting the opening SYN and each side's first sequence number."""
        self.segments.append(seg)
        if self.opener is None and _is_opening_syn(seg):
            self.opener = seg
        sender, receiver = seg.endpoints
        self.base.setdefault(sender, seg.seq if seg.flags & SYN else (seg.seq - 1) % 2**32)
        if seg.flags & ACK:
            self.base.setdefault(receiver, (seg.ack - 1) % 2**32)

    def conversation(self, index: int) -> Conversation:
        """The finished Conversation, its client taken from the opening SYN if there is one."""
        first = self.opener or self.segments[0]
        client, server = first.endpoints
        return Conversation(
            client=client,
            server=server,
            segments=tuple(self.segments),
            index=index,
            client_known=self.opener is not None,
        )
