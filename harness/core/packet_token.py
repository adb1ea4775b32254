"""One packet token of the pattern language, with its fields: `<R.`, `<R.[seq=1 ack=301]`,
`>S[mss>1000 wscale>=0]`, `<S.[dt=0.3]`, `>[none][len=0]`.

The public API for code that decides about one packet at a time (a user-space link that drops
the packets a token names, say)::

    from harness.core.packet_token import parse_packet_token

    rst = parse_packet_token("<R.[seq=1 ack=301]")   # PatternError, with the column, if bad
    rst.fits(packet)      # True when direction, flags and every field agree
    rst.why_not(packet)   # None when it fits, else e.g. "<R. has ack 201; the pattern
                          # wants ack=301" or "<F. is not <R."

``packet`` is a harness.core.packet.Packet: build a connection's with
`Conversation.packets()`, or one at a time with `PacketBuilder(client).add(segment)`.
The pattern language (harness.core.pattern_syntax) reads its tokens with `read_token`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.core.fields import Predicate, read_fields
from harness.core.notation import NotationError, parse_token, token
from harness.core.pattern_error import PatternError

if TYPE_CHECKING:
    from harness.core.packet import Packet

__all__ = ["PacketToken", "parse_packet_token", "read_token", "token_end"]

#: What ends a token's flags: an operator of the pattern language, another token, a field.
TOKEN_ENDS = frozenset("()|?*+{}<>[]")
_NO_FLAGS = "[none]"


@dataclass(frozen=True)
class PacketToken:
    """A direction (">" from the client, "<" from the server), tcpdump's flags as a value
    (harness.core.notation) and the fields a packet must also meet (none for a bare token)."""

    direction: str
    flags: int
    predicates: tuple[Predicate, ...] = ()

    @property
    def key(self) -> tuple[str, int]:
        """(direction, flags): what a packet's token must be."""
        return self.direction, self.flags

    @property
    def bare(self) -> str:
        """The token without its fields, `<R.`."""
        return token(self.direction, self.flags)

    @property
    def text(self) -> str:
        """The token as the pattern language spells it, `<R.[seq=1 ack=301]`."""
        fields = " ".join(p.text for p in self.predicates)
        return f"{self.bare}[{fields}]" if fields else self.bare

    def __str__(self) -> str:
        return self.text

    def fits(self, packet: Packet) -> bool:
        """Whether packet has this direction and flags and meets every field."""
        return packet.token == self.bare and all(p.holds(packet) for p in self.predicates)

    def why_not(self, packet: Packet) -> str | None:
        """None when packet fits; else why not, in one clause that starts with the packet's
        token: "<F. is not <R.", "<R. has ack 201; the pattern wants ack=301"."""
        if packet.token != self.bare:
            return f"{packet.token} is not {self.bare}"
        return next((f"{packet.token} {why}" for p in self.predicates
                     if (why := p.why_not(packet)) is not None), None)


def parse_packet_token(text: str) -> PacketToken:
    """The one packet token text spells, fields and all (spaces around it are allowed);
    PatternError, naming the column, for anything else."""
    start = len(text) - len(text.lstrip())
    if start == len(text):
        raise PatternError('empty token; expected a packet token such as "<R." or '
                           '"<R.[seq=1]"', text, 0)
    if text[start] not in "<>":
        raise PatternError(f'expected a packet token starting with ">" or "<", but found '
                           f'"{text[start]}"', text, start)
    found, end = read_token(text, start)
    rest = len(text) - len(text[end:].lstrip())
    if rest < len(text):
        raise PatternError(f'found "{text[rest]}" after the token; give one packet token, '
                           "its fields in brackets right after its flags", text, rest)
    return found


def read_token(text: str, start: int) -> tuple[PacketToken, int]:
    """The packet token that begins at text[start] ("<" or ">"), and the index after it
    (after its fields, when brackets follow its flags); PatternError at the mistake."""
    flags_end = _flags_end(text, start)
    try:
        direction, flags = parse_token(text[start:flags_end])
    except NotationError as err:
        raise PatternError(str(err), text, start) from None
    if flags_end < len(text) and text[flags_end] == "[":
        predicates, end = read_fields(text, flags_end)
        return PacketToken(direction, flags, predicates), end
    return PacketToken(direction, flags), flags_end


def token_end(text: str, start: int) -> int:
    """The index just after the packet token that begins at ``start``, fields included."""
    end = _flags_end(text, start)
    if end < len(text) and text[end] == "[":
        close = text.find("]", end)
        return len(text) if close < 0 else close + 1
    return end


def _flags_end(text: str, start: int) -> int:
    """The index just after the direction and flags of the token at start (`>[none]` is the
    token of no flags; any other "[" begins its fields)."""
    if text.startswith(_NO_FLAGS, start + 1):
        return start + 1 + len(_NO_FLAGS)
    end = start + 1
    while end < len(text) and not text[end].isspace() and text[end] not in TOKEN_ENDS:
        end += 1
    return end
