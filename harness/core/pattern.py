"""Matching a whole packet sequence against a pattern, and explaining a mismatch.

A pattern (harness.core.pattern_syntax) is compiled to its position automaton (Glushkov's
construction): one position per packet token once counted repeats are unrolled, and for each
position the positions that may follow it. Sets of positions are bitsets (Python ints), so a
step of the match is a few word operations per 64 positions; the set that may follow a large
set is read from tables built per byte of positions, as they are needed. A pattern has at
most MAX_EXPANDED_TOKENS positions, so matching N packets costs at most N times that many
bits of work and memory, whatever the pattern: no exponential blow-up, no growth but linear.
Each consumed packet is traced back to one token of the pattern (its column), along one
accepting path, or one path through the prefix that matched; ties go to the earliest token.

A token may carry fields (`<R.[seq=1 ack=301]`, harness.core.fields); such a pattern matches
Packets (harness.core.packet), not bare tokens. Its positions are keyed by direction and flags
like any other, and only where a position with fields is active is the packet tested, in a
few bisections whatever the number of fields (harness.core.field_index): a pattern without
fields pays one bit test per packet for them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.core.errors import UserError
from harness.core.field_index import FieldIndex
from harness.core.fields import Predicate
from harness.core.match import END, Match
from harness.core.notation import NotationError, parse_token
from harness.core.packet_token import PacketToken
from harness.core.pattern_syntax import (
    MAX_COUNT,
    MAX_EXPANDED_TOKENS,
    MAX_NESTING,
    Alt,
    Key,
    Node,
    PatternError,
    Repeat,
    Seq,
    Tok,
    parse,
)

if TYPE_CHECKING:
    from harness.core.packet import Packet

__all__ = ["MAX_COUNT", "MAX_EXPANDED_TOKENS", "MAX_NESTING", "Match", "PacketsNeeded",
           "Pattern", "PatternError", "compile_pattern"]

_MEMO = 4096  # follow sets of active sets remembered per pattern (loops meet the same ones)


_BYTE_BITS = [tuple(j for j in range(8) if byte >> j & 1) for byte in range(256)]


def _bits(value: int) -> Iterator[int]:
    """The positions set in a bitset, lowest first."""
    if value.bit_count() <= 8:
        while value:
            low = value & -value
            yield low.bit_length() - 1
            value ^= low
        return
    raw = value.to_bytes((value.bit_length() + 7) // 8, "little")
    for index, byte in enumerate(raw):
        if byte:
            for bit in _BYTE_BITS[byte]:
                yield 8 * index + bit


def _lowest(value: int) -> int:
    return (value & -value).bit_length() - 1


@dataclass(frozen=True)
class _Fragment:
    """A piece of the automaton: the positions it can start and end on, whether it can be
    empty."""

    first: int
    last: int
    nullable: bool


class _Automaton:
    """Positions (one per unrolled token), what may follow each, and what precedes each."""

    def __init__(self, tree: Node) -> None:
        self.keys: list[Key] = []
        self.columns: list[int] = []
        self.follow: list[int] = []
        self.precede: list[int] = []
        self.fields: list[tuple[Predicate, ...]] = []
        whole = self._build(tree)
        self.first, self.last, self.nullable = whole.first, whole.last, whole.nullable
        self.by_key: dict[Key, int] = {}
        for position, key in enumerate(self.keys):
            self.by_key[key] = self.by_key.get(key, 0) | 1 << position
        self._index_fields()
        self._chunks: dict[int, list[int]] = {}
        self._memo: dict[int, int] = {}

    def _index_fields(self) -> None:
        """The positions with fields (guarded), and the index that finds the ones a packet
        fails (harness.core.field_index)."""
        self.guarded = 0
        for position, fields in enumerate(self.fields):
            if fields:
                self.guarded |= 1 << position
        self.index = FieldIndex(self.fields)

    def _build(self, node: Node) -> _Fragment:
        if isinstance(node, Tok):
            position = len(self.keys)
            self.keys.append(node.key)
            self.columns.append(node.position)
            self.fields.append(node.predicates)
            self.follow.append(0)
            self.precede.append(0)
            return _Fragment(1 << position, 1 << position, False)
        if isinstance(node, Seq):
            parts = [self._build(item) for item in node.items]
            return functools.reduce(self._then, parts, _Fragment(0, 0, True))
        if isinstance(node, Alt):
            options = [self._build(option) for option in node.options]
            return _Fragment(functools.reduce(int.__or__, (o.first for o in options)),
                             functools.reduce(int.__or__, (o.last for o in options)),
                             any(o.nullable for o in options))
        return self._repeat(node)

    def _repeat(self, node: Repeat) -> _Fragment:
        """Mandatory copies, then one looping copy (no upper bound) or nested optional ones:
        `x{2,4}` is `x x (x (x)?)?`, so few positions are active at once."""
        whole = _Fragment(0, 0, True)
        for _ in range(node.low):
            whole = self._then(whole, self._build(node.node))
        if node.high is None:
            loop = self._build(node.node)
            self._link(loop.last, loop.first)
            return self._then(whole, _Fragment(loop.first, loop.last, True))
        copies = [self._build(node.node) for _ in range(node.high - node.low)]
        tail: _Fragment | None = None
        for copy in reversed(copies):
            inner = copy if tail is None else self._then(copy, tail)
            tail = _Fragment(inner.first, inner.last, True)
        return whole if tail is None else self._then(whole, tail)

    def _then(self, a: _Fragment, b: _Fragment) -> _Fragment:
        """a followed by b."""
        self._link(a.last, b.first)
        return _Fragment(a.first | (b.first if a.nullable else 0),
                         b.last | (a.last if b.nullable else 0), a.nullable and b.nullable)

    def _link(self, ends: int, starts: int) -> None:
        """Every position in starts may follow every position in ends."""
        if not ends or not starts:
            return
        for position in _bits(ends):
            self.follow[position] |= starts
        for position in _bits(starts):
            self.precede[position] |= ends

    def after(self, active: int) -> int:
        """The positions that may follow some position of active."""
        found = self._memo.get(active)
        if found is not None:
            return found
        result = 0
        if active.bit_count() <= 8:
            for position in _bits(active):
                result |= self.follow[position]
        else:
            raw = active.to_bytes((len(self.keys) + 7) // 8, "little")
            for index, byte in enumerate(raw):
                if byte:
                    result |= self._chunk(index)[byte]
        if len(self._memo) < _MEMO:
            self._memo[active] = result
        return result

    def _chunk(self, index: int) -> list[int]:
        """For positions 8*index .. 8*index+7: the follow set of each of the 256 subsets."""
        table = self._chunks.get(index)
        if table is None:
            follow = [*self.follow[8 * index:8 * index + 8], 0, 0, 0, 0, 0, 0, 0, 0]
            table = [0] * 256
            for subset in range(1, 256):
                low = subset & -subset
                table[subset] = table[subset ^ low] | follow[low.bit_length() - 1]
            self._chunks[index] = table
        return table

    def admit(self, fitting: int, packet: Packet) -> int:
        """The positions of fitting (whose direction and flags fit packet) whose fields it
        meets too."""
        return fitting & ~self.index.failing(packet)

    def why_not(self, fitting: int, packet: Packet) -> str:
        """Why packet meets the fields of none of fitting: the earliest token's first field
        it fails, with the packet's value ("has ack 201; the pattern wants ack=301")."""
        fields = self.fields[_lowest(fitting)]
        return next(why for f in fields if (why := f.why_not(packet)) is not None)

    def spelled(self, reachable: int) -> list[str]:
        """The tokens the positions of reachable stand for, as the pattern spells them."""
        return sorted({PacketToken(*self.keys[p], self.fields[p]).text for p in _bits(reachable)})

    def trace(self, history: Sequence[int], goal: int) -> tuple[int, ...]:
        """The column of the token that consumed each packet along one path through history
        (history[i]: the positions that may have consumed packet i) ending in goal; at each
        step back, the earliest position that leads on to the path chosen so far."""
        if not history or not goal:
            return ()
        chosen = [_lowest(history[-1] & goal)]
        for active in reversed(history[:-1]):
            chosen.append(_lowest(active & self.precede[chosen[-1]]))
        return tuple(self.columns[p] for p in reversed(chosen))


class PacketsNeeded(UserError, TypeError):
    """A pattern with fields matched against bare tokens, which have no fields to compare."""


Observed = Sequence["Packet"] | Sequence[str]


class Pattern:
    """A compiled pattern, ready to match a connection's packets (or, when no token of it
    has fields, their bare tokens)."""

    def __init__(self, text: str, tree: Node) -> None:
        self._text = text
        self._automaton = _Automaton(tree)

    @property
    def text(self) -> str:
        """The pattern as it was written."""
        return self._text

    @property
    def has_fields(self) -> bool:
        """Whether some token of the pattern has fields, so that matching needs Packets."""
        return bool(self._automaton.guarded)

    def __repr__(self) -> str:
        return f"compile_pattern({self._text!r})"

    def match(self, packets: Observed) -> Match:
        """Match a whole connection against this pattern: its Packets in order
        (Conversation.packets()), or its tokens (Conversation.tokens()) when the pattern has
        no fields; PacketsNeeded for bare tokens against fields."""
        observed, facts = self._read(packets)
        nfa = self._automaton
        by_key, guarded, after = nfa.by_key, nfa.guarded, nfa.after
        history: list[int] = []
        reachable = nfa.first
        for index, spelled in enumerate(observed):
            active = reachable & by_key.get(_observed_key(index, spelled), 0)
            if active & guarded:
                fitting, active = active, nfa.admit(active, facts[index])
                if not active:
                    return self._failure(observed, history, reachable, index,
                                         nfa.why_not(fitting, facts[index]))
            if not active:
                return self._failure(observed, history, reachable, failed_at=index)
            history.append(active)
            reachable = after(active)
        if self._accepts(history):
            return Match(True, observed, self._text,
                         columns=nfa.trace(history, history[-1] & nfa.last if history else 0))
        return self._failure(observed, history, reachable, failed_at=None)

    def prefix_matches(self, packets: Observed) -> bool:
        """Whether the packets (or bare tokens, as for match) begin with a sequence that the
        whole pattern matches."""
        observed, facts = self._read(packets)
        nfa = self._automaton
        if nfa.nullable:
            return True
        by_key, guarded = nfa.by_key, nfa.guarded
        reachable = nfa.first
        for index, spelled in enumerate(observed):
            active = reachable & by_key.get(_observed_key(index, spelled), 0)
            if active & guarded:
                active = nfa.admit(active, facts[index])
            if not active:
                return False
            if active & nfa.last:
                return True
            reachable = nfa.after(active)
        return False

    def _read(self, packets: Observed) -> tuple[tuple[str, ...], Sequence[Packet]]:
        """The observed tokens, and the packets whose fields the guarded positions test."""
        items = tuple(packets)
        if not items or isinstance(items[0], str):
            observed = items  # bare tokens (a Packet among them is refused by _observed_key)
        else:
            observed = tuple(item if isinstance(item, str) else item.token for item in items)
        if self._automaton.guarded and any(isinstance(item, str) for item in items):
            raise PacketsNeeded(
                f"the pattern {self._text!r} compares packet fields, which bare tokens do "
                "not have: match it against the connection's Packets "
                "(Conversation.packets()), not its tokens")
        return observed, items  # type: ignore[return-value]

    def _accepts(self, history: Sequence[int]) -> bool:
        """Whether the packets consumed so far make a whole match."""
        nfa = self._automaton
        return bool(history[-1] & nfa.last) if history else nfa.nullable

    def _failure(self, observed: tuple[str, ...], history: Sequence[int], reachable: int,
                 failed_at: int | None, why: str = "") -> Match:
        """A failed Match saying what the pattern could have accepted after history (and,
        given why, why the packet at failed_at did not meet the fields of the tokens its
        direction and flags fit)."""
        nfa = self._automaton
        expected = nfa.spelled(reachable)
        if self._accepts(history):
            expected.append(END)
        return Match(ok=False, observed=observed, pattern=self._text, failed_at=failed_at,
                     expected=tuple(expected), ended_early=failed_at is None,
                     columns=nfa.trace(history, history[-1] if history else 0), why=why)


_KEYS: dict[str, Key] = {}  # observed tokens read so far: at most 2 x 512 valid ones


def _observed_key(index: int, spelled: str) -> Key:
    """Parse one observed token, naming its position if it is malformed."""
    key = _KEYS.get(spelled)
    if key is not None:
        return key
    if not isinstance(spelled, str):
        raise TypeError(f"observed packet {index + 1}: expected a packet token or a Packet, "
                        f"not {type(spelled).__name__}; give one or the other throughout")
    try:
        key = _KEYS[spelled] = parse_token(spelled)
    except NotationError as err:
        raise NotationError(f"observed packet {index + 1}: {err}") from None
    return key


@functools.lru_cache(maxsize=256)
def compile_pattern(text: str) -> Pattern:
    """Compile pattern text, raising PatternError for any syntax problem."""
    return Pattern(text, parse(text))
