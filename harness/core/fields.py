"""Packet fields on a pattern token: ``<R.[seq=1 ack=301]``, ``>S[mss>1000 wscale>=0]``,
``<S.[dt=0.3]``. In the brackets right after a token's flags come one or more fields, space
separated, each ``NAME OP VALUE``: the names are FIELDS', the operators OPERATORS'. A packet
fits the token when every field holds of it.

Whole-number fields compare exactly. Times (``t``, ``dt``) are seconds, compared in whole
microseconds, as the listing prints them; ``=`` means within packetdrill's tolerance,
max(4 ms, 12.5 %) of the value (harness.core.timing), ``!=`` outside it. An option field
(``mss``, ``wscale``) never holds of a packet that lacks the option, whatever the operator.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.core.errors import closest
from harness.core.pattern_error import PatternError
from harness.core.timing import tolerance

if TYPE_CHECKING:
    from harness.core.packet import Packet

__all__ = ["FIELDS", "MAX_SECONDS", "OPERATORS", "Field", "Predicate", "read_fields",
           "seconds"]


@dataclass(frozen=True)
class Field:
    """One fact of a packet a pattern may compare: its name, what it is, its largest value
    (None for a time, in seconds) and whether it is a TCP option a packet may lack."""

    name: str
    says: str
    high: int | None
    option: bool = False


FIELDS: dict[str, Field] = {f.name: f for f in (
    Field("seq", "the sequence number, relative as `harness show` prints it", 2**32 - 1),
    Field("ack", "the acknowledgment number, relative as `harness show` prints it", 2**32 - 1),
    Field("len", "the payload length in bytes", 65535),
    Field("win", "the window field as sent (unscaled), as tcpdump prints it", 65535),
    Field("mss", "the maximum segment size option (a SYN's)", 65535, option=True),
    Field("wscale", "the window scale option's shift count (a SYN's)", 255, option=True),
    Field("sport", "the source port", 65535),
    Field("dport", "the destination port", 65535),
    Field("t", "seconds since the connection's first packet", None),
    Field("dt", "seconds since the connection's previous packet (0 for the first)", None),
)}

#: The comparisons a field may use, and what each does with (observed, wanted).
OPERATORS: dict[str, Callable[[int, int], bool]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge}
#: The largest time a field may name: a day.
MAX_SECONDS = 86_400

_ITEM = re.compile(r"\S+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATOR_CHARS = re.compile(r"[=!<>~]*")
_WHOLE = re.compile(r"[0-9]+")
_SECONDS = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")
_MISSPELT_OPERATORS = {"==": "=", "=>": ">=", "=<": "<=", "<>": "!=", "=!": "!=", "!": "!=",
                       "~=": "="}
_NAMES = ", ".join(FIELDS)
_SPELLED_OPERATORS = " ".join(OPERATORS)


def seconds(value: float) -> str:
    """A time as the explanations write it: "0.204", "0.0875", "1.018234" (at least three
    decimals, at most six)."""
    text = f"{value:.6f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction:0<3}"


def _micros(value: float) -> int:
    return round(value * 1_000_000)


@dataclass(frozen=True)
class Predicate:
    """One field of a token: ``ack=301`` is Predicate("ack", "=", 301, "ack=301")."""

    name: str
    op: str
    value: int | float
    text: str

    def holds(self, packet: Packet) -> bool:
        """Whether the packet meets this field."""
        observed = getattr(packet, self.name)
        if observed is None:
            return False
        if FIELDS[self.name].high is not None:
            return OPERATORS[self.op](observed, self.value)
        if self.op in ("=", "!="):
            low, high = self.window()
            inside = _micros(low) <= _micros(observed) <= _micros(high)
            return inside == (self.op == "=")
        return OPERATORS[self.op](_micros(observed), _micros(self.value))

    def window(self) -> tuple[float, float]:
        """For a time's ``=`` and ``!=``: the times within the tolerance of the value."""
        slack = tolerance(self.value)
        return max(0.0, self.value - slack), self.value + slack

    def why_not(self, packet: Packet) -> str | None:
        """Why the packet does not meet this field (the packet's value and what is wanted),
        e.g. "has ack 201; the pattern wants ack=301"; None when it does."""
        if self.holds(packet):
            return None
        observed = getattr(packet, self.name)
        wants = f"the pattern wants {self.text}{self._window_text()}"
        if observed is None:
            return f"has no {self.name} option; {wants}"
        if self.name in ("t", "dt"):
            return f"{_when(packet, self.name)}; {wants}"
        return f"has {self.name} {observed}; {wants}"

    def _window_text(self) -> str:
        if FIELDS[self.name].high is not None or self.op not in ("=", "!="):
            return ""
        low, high = self.window()
        outside = "outside " if self.op == "!=" else ""
        return f" ({outside}{seconds(low)} to {seconds(high)} s)"


def _when(packet: Packet, name: str) -> str:
    """When the packet came, in the terms of a time field: "came 0.204 s after packet 1"."""
    if packet.number == 1:
        return f"is the connection's first packet ({name} 0 s)"
    if name == "t":
        return f"came {seconds(packet.t)} s after packet 1"
    before = f"packet {packet.number - 1}" if packet.number > 1 else "the packet before it"
    return f"came {seconds(packet.dt)} s after {before}"


def read_fields(text: str, start: int) -> tuple[tuple[Predicate, ...], int]:
    """The fields in the brackets that open at text[start] ("["), and the index after the
    closing "]"; PatternError at the column of any mistake."""
    close = start + 1
    while close < len(text) and text[close] not in "[]":
        close += 1
    if close == len(text) or text[close] == "[":
        raise PatternError('found "[" with no "]" to close it', text, start)
    body = text[start + 1:close]
    if not body.strip():
        raise PatternError('found empty fields "[]"; write at least one, such as "[len=0]", '
                           "or leave the brackets out", text, start)
    found = tuple(_predicate(text, start + 1 + item.start(), item.group())
                  for item in _ITEM.finditer(body))
    return found, close + 1


def _predicate(text: str, at: int, item: str) -> Predicate:
    """One ``NAME OP VALUE`` beginning at text[at]."""
    name_match = _NAME.match(item)
    name = name_match.group() if name_match else ""
    _check_name(text, at, name, item)
    op = _OPERATOR_CHARS.match(item, len(name)).group()  # type: ignore[union-attr]
    _check_operator(text, at + len(name), name, op, item)
    raw = item[len(name) + len(op):]
    value = _value(text, at + len(name) + len(op), FIELDS[name], f"{name}{op}", raw)
    return Predicate(name, op, value, item)


def _check_name(text: str, at: int, name: str, item: str) -> None:
    if not name:
        raise PatternError(f'expected a field name in "{item}"; the fields are {_NAMES}',
                           text, at)
    if name not in FIELDS:
        hint = closest(name.lower(), list(FIELDS))
        said = f"; did you mean {hint[0]}?" if hint else ""
        raise PatternError(f'"{name}" is not a packet field{said} (the fields are {_NAMES})',
                           text, at)


def _check_operator(text: str, at: int, name: str, op: str, item: str) -> None:
    if op in OPERATORS:
        return
    if not op:
        got = f'"{item[len(name)]}"' if len(item) > len(name) else "nothing"
        message = f'expected an operator after "{name}" ({_SPELLED_OPERATORS}), but found {got}'
    else:
        better = _MISSPELT_OPERATORS.get(op)
        write = f'; write "{name}{better}"' if better else ""
        message = f'"{op}" is not an operator{write} (the operators are {_SPELLED_OPERATORS})'
    raise PatternError(message, text, at)


def _value(text: str, at: int, field: Field, before: str, raw: str) -> int | float:
    """The value of one field, as a whole number in the field's range or as seconds."""
    if not raw:
        raise PatternError(f'expected a value after "{before}"', text, at)
    if "," in raw:
        raise PatternError(f'found "," in "{before}{raw}"; separate fields with spaces, as '
                           'in "[seq=1 ack=1]"', text, at + raw.index(","))
    if field.high is None:
        return _seconds(text, at, before, raw)
    if not _WHOLE.fullmatch(raw):
        raise PatternError(f'"{before}{raw}": {field.name} is compared with a whole number '
                           f"from 0 to {field.high} (digits 0-9), not \"{raw[:20]}\"", text, at)
    if len(raw.lstrip("0")) > len(str(field.high)) or int(raw) > field.high:
        raise PatternError(f'"{before}{raw[:20]}" is out of range: {field.name} is at most '
                           f"{field.high}", text, at)
    return int(raw)


def _seconds(text: str, at: int, before: str, raw: str) -> float:
    """A time in seconds, such as 0.1 or 1.5; a unit or a non-number is refused."""
    if not _SECONDS.fullmatch(raw):
        unit = re.fullmatch(r"([0-9.]+)\s*(ms|us|µs|s)", raw)
        hint = (f'; write times in seconds without a unit, e.g. "{before}0.04" for 40 ms'
                if unit else "")
        raise PatternError(f'"{before}{raw[:20]}": a time is compared with a number of '
                           f"seconds, such as 0.1{hint}", text, at)
    value = float(raw) if len(raw.partition(".")[0].lstrip("0")) <= 6 else MAX_SECONDS + 1.0
    if value > MAX_SECONDS:
        raise PatternError(f'"{before}{raw[:20]}" is out of range: a time is at most {MAX_SECONDS} '
                           "seconds (a day)", text, at)
    return value
