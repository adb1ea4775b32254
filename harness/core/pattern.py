"""A regular-expression language whose symbols are whole packet tokens, and its matcher.

A pattern such as ``>S <S. >. (>P. <.)+ (<F. >. | <R.)`` describes a sequence of
packets written as tokens from :mod:`harness.core.notation`. Patterns are compiled to a
Thompson NFA and matched against the whole observed sequence, in time linear in
the number of packets times the size of the pattern.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from harness.core.errors import UserError
from harness.core.notation import NotationError, parse_token, token

__all__ = [
    "MAX_COUNT",
    "MAX_EXPANDED_TOKENS",
    "MAX_NESTING",
    "Match",
    "Pattern",
    "PatternError",
    "compile_pattern",
]

#: Largest number allowed in a ``{n,m}`` quantifier.
MAX_COUNT = 1000
#: Deepest nesting of groups a pattern may use.
MAX_NESTING = 100
#: Largest number of token copies a pattern may expand to once counted repeats are unrolled.
MAX_EXPANDED_TOKENS = 50_000

_OPERATORS = "()|?*+{"
_TOKEN_ENDS = set(_OPERATORS) | {"}", "<", ">"}
_END = "end"

Key = tuple[str, int]


class PatternError(UserError, ValueError):
    """A pattern that cannot be compiled; ``position`` is the 0-based index of the problem.

    The message counts columns from 1, as editors do, and a caret points at the place.
    """

    what = "bad pattern: "

    def __init__(self, message: str, text: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.text = text
        self.position = position

    def __str__(self) -> str:
        shown = "".join(" " if ch in "\t\r\n" else ch for ch in self.text)
        return (
            f"pattern error at column {self.position + 1}: {self.message}\n"
            f"  {shown}\n"
            f"  {' ' * self.position}^"
        )


# ---------------------------------------------------------------- lexing


@dataclass(frozen=True)
class _Lexeme:
    kind: str  # "token", "(", ")", "|", "quant"
    position: int
    key: Key | None = None
    bounds: tuple[int, int | None] | None = None


_SIMPLE_QUANTIFIERS: dict[str, tuple[int, int | None]] = {
    "?": (0, 1),
    "*": (0, None),
    "+": (1, None),
}


def _lex(text: str) -> list[_Lexeme]:
    """Split pattern text into lexemes, refusing anything that is not part of the language."""
    lexemes: list[_Lexeme] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "<>":
            lexeme, i = _lex_token(text, i)
            lexemes.append(lexeme)
        elif ch == "{":
            lexeme, i = _lex_braces(text, i)
            lexemes.append(lexeme)
        elif ch in "?*+":
            lexemes.append(_Lexeme("quant", i, bounds=_SIMPLE_QUANTIFIERS[ch]))
            i += 1
        elif ch in "()|":
            lexemes.append(_Lexeme(ch, i))
            i += 1
        else:
            raise _unexpected_character(text, i)
    return lexemes


def _unexpected_character(text: str, i: int) -> PatternError:
    """The error for a character that cannot start anything in the pattern language."""
    ch = text[i]
    if ch == "}":
        message = 'found "}" with no "{" before it'
    else:
        message = (
            f'expected a packet token starting with ">" or "<", or one of ( ) | ? * + {{, '
            f'but found "{ch}"'
        )
    return PatternError(message, text, i)


def _token_end(text: str, start: int) -> int:
    """The index just after the packet token that begins at ``start``."""
    end = start + 1
    while end < len(text) and not text[end].isspace() and text[end] not in _TOKEN_ENDS:
        end += 1
    return end


def _lex_token(text: str, start: int) -> tuple[_Lexeme, int]:
    """Read one packet token beginning at ``start``; return it and the index after it."""
    end = _token_end(text, start)
    spelled = text[start:end]
    try:
        key = parse_token(spelled)
    except NotationError as err:
        raise PatternError(str(err), text, start) from None
    return _Lexeme("token", start, key=key), end


def _lex_braces(text: str, start: int) -> tuple[_Lexeme, int]:
    """Read a ``{n}``, ``{n,}`` or ``{n,m}`` quantifier beginning at ``start``."""
    close = text.find("}", start)
    if close < 0:
        raise PatternError('found "{" with no "}" to close it', text, start)
    body = text[start + 1 : close]
    low, comma, high = (part.strip() for part in body.partition(","))
    if not low.isdigit() or (high and not high.isdigit()):
        raise PatternError(
            f'expected "{{n}}", "{{n,}}" or "{{n,m}}" with whole numbers, but found "{{{body}}}"',
            text,
            start,
        )
    n = int(low)
    m = None if comma and not high else int(high or low)
    _check_bounds(text, start, body, n, m)
    return _Lexeme("quant", start, bounds=(n, m)), close + 1


def _check_bounds(text: str, start: int, body: str, n: int, m: int | None) -> None:
    """Refuse counts above MAX_COUNT and ranges whose upper bound is below the lower."""
    if max(n, m or 0) > MAX_COUNT:
        raise PatternError(
            f'"{{{body}}}" is too large; counts must be at most {MAX_COUNT}',
            text,
            start,
        )
    if m is not None and m < n:
        raise PatternError(
            f'"{{{body}}}" has upper bound {m} below lower bound {n}; expected n <= m',
            text,
            start,
        )


# ---------------------------------------------------------------- parsing


@dataclass(frozen=True)
class _Tok:
    key: Key
    position: int  # where the token starts in the pattern text; repeat copies share it
    size: int = 1


@dataclass(frozen=True)
class _Seq:
    items: tuple[_Node, ...]
    size: int


@dataclass(frozen=True)
class _Alt:
    options: tuple[_Node, ...]
    size: int


@dataclass(frozen=True)
class _Repeat:
    node: _Node
    low: int
    high: int | None
    size: int


_Node = _Tok | _Seq | _Alt | _Repeat


class _Parser:
    """Recursive-descent parser from lexemes to a syntax tree."""

    def __init__(self, text: str, lexemes: list[_Lexeme]) -> None:
        self.text = text
        self.lexemes = lexemes
        self.index = 0
        self.depth = 0

    def peek(self) -> _Lexeme | None:
        return self.lexemes[self.index] if self.index < len(self.lexemes) else None

    def take(self) -> _Lexeme:
        lexeme = self.lexemes[self.index]
        self.index += 1
        return lexeme

    def error(self, message: str, position: int) -> PatternError:
        return PatternError(message, self.text, position)

    def parse(self) -> _Node:
        node = self.alternation()
        extra = self.peek()
        if extra is not None:  # only a ")" can stop the top-level alternation early
            raise self.error('found ")" with no "(" before it', extra.position)
        return node

    def alternation(self) -> _Node:
        options = [self.sequence()]
        while (lexeme := self.peek()) is not None and lexeme.kind == "|":
            self.take()
            options.append(self.sequence())
        if len(options) == 1:
            return options[0]
        return _Alt(tuple(options), sum(o.size for o in options))

    def sequence(self) -> _Node:
        items: list[_Node] = []
        while (lexeme := self.peek()) is not None and lexeme.kind not in ("|", ")"):
            items.append(self.item())
        if len(items) == 1:
            return items[0]
        return _Seq(tuple(items), sum(i.size for i in items))

    def item(self) -> _Node:
        lexeme = self.peek()
        assert lexeme is not None
        if lexeme.kind == "quant":
            raise self.error(
                "expected a packet token or a group before this quantifier, but found nothing",
                lexeme.position,
            )
        node = self.atom()
        quant = self.peek()
        if quant is None or quant.kind != "quant":
            return node
        self.take()
        node = self.repeat(node, quant)
        after = self.peek()
        if after is not None and after.kind == "quant":
            raise self.error(
                "found a quantifier after a quantifier; put the first in a group to repeat it",
                after.position,
            )
        return node

    def atom(self) -> _Node:
        lexeme = self.take()
        if lexeme.kind == "token":
            assert lexeme.key is not None
            return _Tok(lexeme.key, lexeme.position)
        return self.group(lexeme)

    def group(self, opening: _Lexeme) -> _Node:
        inner = self.peek()
        if inner is not None and inner.kind == ")":
            message = 'found an empty group "()"; expected packet tokens inside it'
            raise self.error(message, opening.position)
        if self.depth >= MAX_NESTING:
            message = f"groups are nested more than {MAX_NESTING} deep"
            raise self.error(message, opening.position)
        self.depth += 1
        node = self.alternation()
        self.depth -= 1
        closing = self.peek()
        if closing is None:
            raise self.error('found "(" with no ")" to close it', opening.position)
        self.take()
        return node

    def repeat(self, node: _Node, quant: _Lexeme) -> _Node:
        assert quant.bounds is not None
        low, high = quant.bounds
        size = node.size * max(low + (high is None), high or 0, 1)
        if size > MAX_EXPANDED_TOKENS:
            raise self.error(
                f"this repeat expands to {size} packet tokens; at most "
                f"{MAX_EXPANDED_TOKENS} are allowed",
                quant.position,
            )
        return _Repeat(node, low, high, size)


def _parse(text: str) -> _Node:
    """Lex and parse pattern text into a syntax tree."""
    lexemes = _lex(text)
    if not lexemes:
        raise PatternError("empty pattern; expected at least one packet token", text, 0)
    tree = _Parser(text, lexemes).parse()
    if not any(lexeme.kind == "token" for lexeme in lexemes):
        raise PatternError(
            'pattern has no packet tokens; expected at least one, such as ">S"', text, 0
        )
    if tree.size > MAX_EXPANDED_TOKENS:
        raise PatternError(
            f"pattern expands to {tree.size} packet tokens; at most {MAX_EXPANDED_TOKENS} "
            "are allowed",
            text,
            0,
        )
    return tree


# ---------------------------------------------------------------- the automaton


class _Move(NamedTuple):
    """A consuming step: a packet with ``key`` leads to ``target``; the token is at ``position``."""

    key: Key
    target: int
    position: int


def _walk(states: set[int] | frozenset[int], edges: list[list[int]]) -> frozenset[int]:
    """Every state reachable from ``states`` along ``edges`` (state -> next states)."""
    seen = set(states)
    stack = list(states)
    while stack:
        for target in edges[stack.pop()]:
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return frozenset(seen)


class _Nfa:
    """States joined by empty moves, some of which consume one packet token."""

    def __init__(self) -> None:
        self.empty: list[list[int]] = []
        self.consume: list[_Move | None] = []
        self._back: list[list[int]] | None = None

    def new_state(self) -> int:
        self.empty.append([])
        self.consume.append(None)
        return len(self.empty) - 1

    def link(self, source: int, target: int) -> None:
        self.empty[source].append(target)

    def build(self, node: _Node, start: int) -> int:
        """Add states for ``node`` entered at ``start``; return the state where it ends."""
        if isinstance(node, _Tok):
            end = self.new_state()
            step = self.new_state()
            self.link(start, step)
            self.consume[step] = _Move(node.key, end, node.position)
            return end
        if isinstance(node, _Seq):
            for item in node.items:
                start = self.build(item, start)
            return start
        if isinstance(node, _Alt):
            return self._build_alt(node, start)
        return self._build_repeat(node, start)

    def _build_alt(self, node: _Alt, start: int) -> int:
        end = self.new_state()
        for option in node.options:
            entry = self.new_state()
            self.link(start, entry)
            self.link(self.build(option, entry), end)
        return end

    def _build_repeat(self, node: _Repeat, start: int) -> int:
        current = start
        for _ in range(node.low):
            current = self.build(node.node, current)
        end = self.new_state()
        if node.high is None:
            loop = self.new_state()
            self.link(current, loop)
            self.link(self.build(node.node, loop), loop)
            self.link(loop, end)
            return end
        for _ in range(node.high - node.low):
            self.link(current, end)
            current = self.build(node.node, current)
        self.link(current, end)
        return end

    def closure(self, states: set[int]) -> frozenset[int]:
        """All states reachable from ``states`` through empty moves."""
        return _walk(states, self.empty)

    def reaching(self, states: frozenset[int]) -> frozenset[int]:
        """All states from which some state in ``states`` is reachable through empty moves."""
        if self._back is None:
            self._back = [[] for _ in self.empty]
            for source, targets in enumerate(self.empty):
                for target in targets:
                    self._back[target].append(source)
        return _walk(states, self._back)

    def advance(self, states: frozenset[int], key: Key) -> frozenset[int]:
        """The states reached from ``states`` by consuming one packet with ``key``."""
        targets = set()
        for state in states:
            move = self.consume[state]
            if move is not None and move.key == key:
                targets.add(move.target)
        return self.closure(targets)

    def accepted(self, states: frozenset[int]) -> list[Key]:
        """The packet keys some state in ``states`` could consume next."""
        return [move.key for s in states if (move := self.consume[s]) is not None]

    def trace(
        self, history: Sequence[frozenset[int]], keys: Sequence[Key], goal: frozenset[int]
    ) -> tuple[int, ...]:
        """Pattern positions along one path that consumes ``keys`` and ends in ``goal``.

        ``history[i]`` is the state set before consuming ``keys[i]``. Walking back from
        the end, each step picks the lowest-numbered consuming state that leads on to the
        path chosen so far, so the answer is reproducible.
        """
        positions: list[int] = []
        reach = self.reaching(goal)
        for i in range(len(keys) - 1, -1, -1):
            state = self._step_into(history[i], keys[i], reach)
            move = self.consume[state]
            assert move is not None
            positions.append(move.position)
            reach = self.reaching(frozenset((state,)))
        positions.reverse()
        return tuple(positions)

    def _step_into(self, states: frozenset[int], key: Key, reach: frozenset[int]) -> int:
        """The lowest state in ``states`` consuming ``key`` whose target lies in ``reach``."""
        return min(
            s
            for s in states
            if (move := self.consume[s]) is not None and move.key == key and move.target in reach
        )


# ---------------------------------------------------------------- public API


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

    def __bool__(self) -> bool:
        return self.ok

    def token_at(self, i: int) -> str | None:
        """The pattern token that consumed observed packet ``i``; None if none consumed it."""
        if not 0 <= i < len(self.columns):
            return None
        start = self.columns[i]
        return self.pattern[start : _token_end(self.pattern, start)]

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

    def __init__(self, text: str, tree: _Node) -> None:
        self._text = text
        self._nfa = _Nfa()
        self._start = self._nfa.new_state()
        self._accept = self._nfa.build(tree, self._start)

    @property
    def text(self) -> str:
        """The pattern as it was written."""
        return self._text

    def __repr__(self) -> str:
        return f"compile_pattern({self._text!r})"

    def match(self, tokens: Sequence[str]) -> Match:
        """Match the whole sequence of observed packet tokens against this pattern."""
        observed = tuple(tokens)
        keys = [_observed_key(i, t) for i, t in enumerate(observed)]
        history = [self._nfa.closure({self._start})]
        for index, key in enumerate(keys):
            following = self._nfa.advance(history[-1], key)
            if not following:
                return self._failure(observed, keys, history, failed_at=index)
            history.append(following)
        if self._accept in history[-1]:
            columns = self._nfa.trace(history, keys, frozenset((self._accept,)))
            return Match(True, observed, self._text, columns=columns)
        return self._failure(observed, keys, history, failed_at=None)

    def prefix_matches(self, tokens: Sequence[str]) -> bool:
        """Whether tokens begin with a sequence that the whole pattern matches."""
        states = self._nfa.closure({self._start})
        for index, spelled in enumerate(tokens):
            if self._accept in states:
                return True
            states = self._nfa.advance(states, _observed_key(index, spelled))
            if not states:
                return False
        return self._accept in states

    def _failure(
        self,
        observed: tuple[str, ...],
        keys: Sequence[Key],
        history: Sequence[frozenset[int]],
        failed_at: int | None,
    ) -> Match:
        """A failed Match describing what the pattern could have accepted after ``history``."""
        states = history[-1]
        expected = sorted({token(*key) for key in self._nfa.accepted(states)})
        if self._accept in states:
            expected.append(_END)
        consumed = len(history) - 1
        return Match(
            ok=False,
            observed=observed,
            pattern=self._text,
            failed_at=failed_at,
            expected=tuple(expected),
            ended_early=failed_at is None,
            columns=self._nfa.trace(history, keys[:consumed], states),
        )


def _observed_key(index: int, spelled: str) -> Key:
    """Parse one observed token, naming its position if it is malformed."""
    try:
        return parse_token(spelled)
    except NotationError as err:
        raise NotationError(f"observed packet {index + 1}: {err}") from None


def compile_pattern(text: str) -> Pattern:
    """Compile pattern text, raising PatternError for any syntax problem."""
    return Pattern(text, _parse(text))
