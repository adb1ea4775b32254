"""The syntax of the pattern language: packet tokens, groups, alternatives and quantifiers,
read into a syntax tree, with every mistake refused at its column.

A pattern such as ``>S <S. >. (>P. <.)+ (<F. >. | <R.[seq=1])`` describes a sequence of
packets written as tokens from harness.core.notation, each with optional fields in brackets
(harness.core.packet_token, harness.core.fields); harness.core.pattern compiles the tree and
matches it. The limits keep matching bounded: counts of at most MAX_COUNT, groups nested at
most MAX_NESTING deep, at most MAX_EXPANDED_TOKENS tokens once counted repeats are unrolled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.core.fields import Predicate
from harness.core.packet_token import read_token, token_end
from harness.core.pattern_error import PatternError

__all__ = ["MAX_COUNT", "MAX_EXPANDED_TOKENS", "MAX_NESTING", "MAX_TEXT", "Alt", "Key", "Node",
           "PatternError", "Repeat", "Seq", "Tok", "parse", "token_end"]

#: Largest number allowed in a ``{n,m}`` quantifier.
MAX_COUNT = 1000
#: Deepest nesting of groups a pattern may use.
MAX_NESTING = 100
#: Largest number of token copies a pattern may expand to once counted repeats are unrolled:
#: the positions of its automaton, each step of a match costs at most that many bits.
MAX_EXPANDED_TOKENS = 2000
#: Longest pattern text, in characters.
MAX_TEXT = 20_000

_OPENING = {"}": "{", "]": "["}  # closing brackets a pattern may use, and what opens each
_DIGITS = re.compile(r"[0-9]+")

Key = tuple[str, int]


# ---------------------------------------------------------------- lexing


@dataclass(frozen=True)
class _Lexeme:
    kind: str  # "token", "(", ")", "|", "quant"
    position: int
    key: Key | None = None
    bounds: tuple[int, int | None] | None = None
    predicates: tuple[Predicate, ...] = ()


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
    if ch in _OPENING:
        message = f'found "{ch}" with no "{_OPENING[ch]}" before it'
    elif ch == "[":
        message = ('found "[" after no packet token; a token\'s fields go in brackets right '
                   'after its flags, as in "<R.[seq=1]"')
    else:
        message = (
            f'expected a packet token starting with ">" or "<", or one of ( ) | ? * + {{, '
            f'but found "{ch}"'
        )
    return PatternError(message, text, i)


def _lex_token(text: str, start: int) -> tuple[_Lexeme, int]:
    """Read one packet token beginning at ``start``, its fields too; return it and the
    index after it."""
    found, end = read_token(text, start)
    return _Lexeme("token", start, key=found.key, predicates=found.predicates), end


def _lex_braces(text: str, start: int) -> tuple[_Lexeme, int]:
    """Read a ``{n}``, ``{n,}`` or ``{n,m}`` quantifier beginning at ``start``."""
    close = text.find("}", start)
    if close < 0:
        raise PatternError('found "{" with no "}" to close it', text, start)
    body = text[start + 1 : close]
    shown = body if len(body) <= 20 else body[:19] + "…"
    low, comma, high = (part.strip() for part in body.partition(","))
    if not _DIGITS.fullmatch(low) or (high and not _DIGITS.fullmatch(high)):
        raise PatternError(
            f'expected "{{n}}", "{{n,}}" or "{{n,m}}" with whole numbers (digits 0-9), but '
            f'found "{{{shown}}}"',
            text,
            start,
        )
    if max(len(low.lstrip("0")), len(high.lstrip("0"))) > len(str(MAX_COUNT)):  # too long
        raise PatternError(f'"{{{shown}}}" is too large; counts must be at most {MAX_COUNT}',
                           text, start)
    n = int(low)
    m = None if comma and not high else int(high or low)
    _check_bounds(text, start, shown, n, m)
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
class Tok:
    key: Key
    position: int  # where the token starts in the pattern text; repeat copies share it
    size: int = 1
    predicates: tuple[Predicate, ...] = ()  # its fields; a packet must meet every one


@dataclass(frozen=True)
class Seq:
    items: tuple[Node, ...]
    size: int


@dataclass(frozen=True)
class Alt:
    options: tuple[Node, ...]
    size: int


@dataclass(frozen=True)
class Repeat:
    node: Node
    low: int
    high: int | None
    size: int


Node = Tok | Seq | Alt | Repeat


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

    def parse(self) -> Node:
        node = self.alternation()
        extra = self.peek()
        if extra is not None:  # only a ")" can stop the top-level alternation early
            raise self.error('found ")" with no "(" before it', extra.position)
        return node

    def alternation(self) -> Node:
        options = [self.sequence()]
        while (lexeme := self.peek()) is not None and lexeme.kind == "|":
            self.take()
            options.append(self.sequence())
        if len(options) == 1:
            return options[0]
        return Alt(tuple(options), sum(o.size for o in options))

    def sequence(self) -> Node:
        items: list[Node] = []
        while (lexeme := self.peek()) is not None and lexeme.kind not in ("|", ")"):
            items.append(self.item())
        if len(items) == 1:
            return items[0]
        return Seq(tuple(items), sum(i.size for i in items))

    def item(self) -> Node:
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

    def atom(self) -> Node:
        lexeme = self.take()
        if lexeme.kind == "token":
            assert lexeme.key is not None
            return Tok(lexeme.key, lexeme.position, predicates=lexeme.predicates)
        return self.group(lexeme)

    def group(self, opening: _Lexeme) -> Node:
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

    def repeat(self, node: Node, quant: _Lexeme) -> Node:
        assert quant.bounds is not None
        low, high = quant.bounds
        size = node.size * max(low + (high is None), high or 0, 1)
        if size > MAX_EXPANDED_TOKENS:
            raise self.error(
                f"this repeat expands to {size} packet tokens; at most "
                f"{MAX_EXPANDED_TOKENS} are allowed, so that matching stays within bounded "
                "time and memory (write + or * for a count without a bound)",
                quant.position,
            )
        return Repeat(node, low, high, size)


def parse(text: str) -> Node:
    """Lex and parse pattern text into a syntax tree; PatternError for any problem."""
    if len(text) > MAX_TEXT:
        raise PatternError(f"the pattern is {len(text):,} characters long; at most "
                           f"{MAX_TEXT:,} are allowed", text, MAX_TEXT)
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
            "are allowed, so that matching stays within bounded time and memory",
            text,
            0,
        )
    return tree
