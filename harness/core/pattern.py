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
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from harness.core.notation import NotationError, parse_token, token
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
    token_end,
)

__all__ = ["MAX_COUNT", "MAX_EXPANDED_TOKENS", "MAX_NESTING", "Match", "Pattern",
           "PatternError", "compile_pattern"]

_END = "end"
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
        whole = self._build(tree)
        self.first, self.last, self.nullable = whole.first, whole.last, whole.nullable
        self.by_key: dict[Key, int] = {}
        for position, key in enumerate(self.keys):
            self.by_key[key] = self.by_key.get(key, 0) | 1 << position
        self._chunks: dict[int, list[int]] = {}
        self._memo: dict[int, int] = {}

    def _build(self, node: Node) -> _Fragment:
        if isinstance(node, Tok):
            position = len(self.keys)
            self.keys.append(node.key)
            self.columns.append(node.position)
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

    def accepted(self, reachable: int) -> list[Key]:
        """The packet keys the positions of reachable consume."""
        return [self.keys[p] for p in _bits(reachable)]

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


@dataclass(frozen=True)
class Match:
    """The outcome of matching a pattern against a whole observed packet sequence."""

    ok: bool
    observed: tuple[str, ...]
    pattern: str
    failed_at: int | None = None
    expected: tuple[str, ...] = ()
    ended_early: bool = False
    #: For each consumed observed packet, where its consuming token starts in ``pattern``
    #: (0-based), along one accepting path, or one path through the prefix that matched.
    columns: tuple[int, ...] = ()

    def token_at(self, i: int) -> str | None:
        """The pattern token that consumed observed packet ``i``; None if none consumed it."""
        if not 0 <= i < len(self.columns):
            return None
        start = self.columns[i]
        return self.pattern[start : token_end(self.pattern, start)]

    def explain(self, lines: Sequence[str] | None = None) -> str:
        """A human explanation of the match; ``lines`` are per-packet descriptions to show."""
        if self.ok:
            return f"the {len(self.observed)} packets match the pattern {self.pattern}"
        if lines is not None and len(lines) != len(self.observed):
            raise ValueError(
                f"expected one line per observed packet ({len(self.observed)}), got {len(lines)}"
            )
        parts = [f"pattern:  {self.pattern}", "observed:"]
        parts.extend(self._listing(lines))
        parts.append(self.sentence())
        return "\n".join(parts)

    def sentence(self) -> str:
        """One sentence saying where and why the match failed (empty when it succeeded)."""
        if self.ok:
            return ""
        count = len(self.observed)
        if self.ended_early or self.failed_at is None:
            wanted = _either(self.expected)
            if count == 0:
                return f"the capture had no packets, but the pattern expected {wanted} first"
            return (
                f"the capture ended after {count} packet{'s' * (count != 1)}, "
                f"but the pattern expected {wanted} next"
            )
        index = self.failed_at
        packet = f"packet {index + 1} {self.observed[index]}"
        if self.expected == (_END,):
            where = f"after packet {index}" if index else "before the first packet"
            return f"{packet} is one too many: the pattern was complete {where}"
        return f"{packet} does not fit: the pattern expected {_either(self.expected)} there"

    def _listing(self, lines: Sequence[str] | None) -> list[str]:
        """The observed packets, one per line, with the failing one marked."""
        number_width = len(str(max(len(self.observed), 1)))
        token_width = max((len(t) for t in self.observed), default=0)
        rows = []
        for i, tok in enumerate(self.observed):
            marker = "->" if i == self.failed_at else "  "
            row = f"  {marker} {i + 1:>{number_width}}  {tok:<{token_width}}"
            if lines is not None:
                row += f"  {lines[i]}"
            rows.append(row.rstrip())
        if self.ended_early:
            rows.append(f"  -> {'':>{number_width}}  (end of capture)")
        return rows


def _either(words: Sequence[str]) -> str:
    """Join alternatives as "a", "a or b", "a, b or c"; "end" reads as the end of the capture."""
    spelled = ["the end of the capture" if w == _END else w for w in words]
    if not spelled:
        return "nothing"
    if len(spelled) == 1:
        return spelled[0]
    return ", ".join(spelled[:-1]) + " or " + spelled[-1]


class Pattern:
    """A compiled pattern, ready to match observed packet tokens."""

    def __init__(self, text: str, tree: Node) -> None:
        self._text = text
        self._automaton = _Automaton(tree)

    @property
    def text(self) -> str:
        """The pattern as it was written."""
        return self._text

    def __repr__(self) -> str:
        return f"compile_pattern({self._text!r})"

    def match(self, tokens: Sequence[str]) -> Match:
        """Match the whole sequence of observed packet tokens against this pattern."""
        observed = tuple(tokens)
        nfa = self._automaton
        history: list[int] = []
        reachable = nfa.first
        for index, spelled in enumerate(observed):
            active = reachable & nfa.by_key.get(_observed_key(index, spelled), 0)
            if not active:
                return self._failure(observed, history, reachable, failed_at=index)
            history.append(active)
            reachable = nfa.after(active)
        if self._accepts(history):
            return Match(True, observed, self._text,
                         columns=nfa.trace(history, history[-1] & nfa.last if history else 0))
        return self._failure(observed, history, reachable, failed_at=None)

    def prefix_matches(self, tokens: Sequence[str]) -> bool:
        """Whether tokens begin with a sequence that the whole pattern matches."""
        nfa = self._automaton
        if nfa.nullable:
            return True
        reachable = nfa.first
        for index, spelled in enumerate(tokens):
            active = reachable & nfa.by_key.get(_observed_key(index, spelled), 0)
            if not active:
                return False
            if active & nfa.last:
                return True
            reachable = nfa.after(active)
        return False

    def _accepts(self, history: Sequence[int]) -> bool:
        """Whether the packets consumed so far make a whole match."""
        nfa = self._automaton
        return bool(history[-1] & nfa.last) if history else nfa.nullable

    def _failure(self, observed: tuple[str, ...], history: Sequence[int], reachable: int,
                 failed_at: int | None) -> Match:
        """A failed Match saying what the pattern could have accepted after history."""
        nfa = self._automaton
        expected = sorted({token(*key) for key in nfa.accepted(reachable)})
        if self._accepts(history):
            expected.append(_END)
        return Match(ok=False, observed=observed, pattern=self._text, failed_at=failed_at,
                     expected=tuple(expected), ended_early=failed_at is None,
                     columns=nfa.trace(history, history[-1] if history else 0))


def _observed_key(index: int, spelled: str) -> Key:
    """Parse one observed token, naming its position if it is malformed."""
    try:
        return parse_token(spelled)
    except NotationError as err:
        raise NotationError(f"observed packet {index + 1}: {err}") from None


@functools.lru_cache(maxsize=256)
def compile_pattern(text: str) -> Pattern:
    """Compile pattern text, raising PatternError for any syntax problem."""
    return Pattern(text, parse(text))
