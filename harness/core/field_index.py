"""Which positions of a pattern's automaton a packet rules out by its fields, found in a few
bisections per packet however many fields the pattern has.

The fields of all positions are filed by (name, operator). For each such family the values
are sorted, with the positions that compare against each, and the union of those positions
for every prefix and suffix of the sorted values: a packet's value then fails a whole
prefix (`len<5` fails every `len<v` with v <= 5) or suffix of them, found by one bisection.
A position fails when any of its fields fails. `=` fails every value but the packet's,
`!=` only the packet's; a time's `=` (a window around the value) fails the windows that
start after the packet's time or end before it; a time's `!=` is tested window by window.
A packet without an option fails every field on it. This agrees with Predicate.holds, field
by field (tests/test_field_index.py holds the two to that).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING

from harness.core.fields import FIELDS, Predicate

if TYPE_CHECKING:
    from harness.core.packet import Packet

__all__ = ["FieldIndex"]

Test = Callable[["Packet"], int]


def _micros(value: float) -> int:
    return round(value * 1_000_000)


class _Sorted:
    """Values in order with their positions, and the positions of each prefix and suffix."""

    def __init__(self, by_value: dict[int, int]) -> None:
        self.values = sorted(by_value)
        masks = [by_value[v] for v in self.values]
        self.prefix = [0]
        for mask in masks:
            self.prefix.append(self.prefix[-1] | mask)
        self.suffix = [0] * (len(masks) + 1)
        for i in range(len(masks) - 1, -1, -1):
            self.suffix[i] = self.suffix[i + 1] | masks[i]

    def below(self, x: int, inclusive: bool) -> int:
        """The positions of the values < x (<= x when inclusive)."""
        cut = bisect.bisect_right(self.values, x) if inclusive else bisect.bisect_left(
            self.values, x)
        return self.prefix[cut]

    def above(self, x: int, inclusive: bool) -> int:
        """The positions of the values > x (>= x when inclusive)."""
        cut = bisect.bisect_left(self.values, x) if inclusive else bisect.bisect_right(
            self.values, x)
        return self.suffix[cut]


class FieldIndex:
    """The fields of every position (fields[p]: position p's), ready to say which of them a
    packet fails: ``failing(packet)`` is the bitset of those positions."""

    def __init__(self, fields: Sequence[tuple[Predicate, ...]]) -> None:
        families: dict[tuple[str, str], list[tuple[Predicate, int]]] = {}
        for position, predicates in enumerate(fields):
            for p in predicates:
                families.setdefault((p.name, p.op), []).append((p, 1 << position))
        self._tests = tuple(_family(name, op, members)
                            for (name, op), members in families.items())

    def failing(self, packet: Packet) -> int:
        """The positions with a field that packet does not meet."""
        failed = 0
        for test in self._tests:
            failed |= test(packet)
        return failed


def _family(name: str, op: str, members: list[tuple[Predicate, int]]) -> Test:
    """The test of one (name, operator) family: packet -> the positions it fails."""
    get = attrgetter(name)
    everyone = 0
    for _, mask in members:
        everyone |= mask
    time = FIELDS[name].high is None
    if time and op in ("=", "!="):
        compare = _windows(members, op == "=")
    else:
        compare = _values(op, members, time)

    def test(packet: Packet) -> int:
        observed = get(packet)
        if observed is None:
            return everyone
        return compare(_micros(observed) if time else observed)

    return test


def _values(op: str, members: list[tuple[Predicate, int]], time: bool) -> Callable[[int], int]:
    """For whole numbers (or times in microseconds) against =, !=, <, <=, > or >=."""
    by_value: dict[int, int] = {}
    for p, mask in members:
        value = _micros(p.value) if time else int(p.value)
        by_value[value] = by_value.get(value, 0) | mask
    if op == "=":
        return _equal(by_value)
    if op == "!=":
        return lambda x: by_value.get(x, 0)
    ordered = _Sorted(by_value)
    if op == "<":
        return lambda x: ordered.below(x, inclusive=True)  # x < v fails for every v <= x
    if op == "<=":
        return lambda x: ordered.below(x, inclusive=False)
    if op == ">":
        return lambda x: ordered.above(x, inclusive=True)
    return lambda x: ordered.above(x, inclusive=False)


def _equal(by_value: dict[int, int]) -> Callable[[int], int]:
    """`=`: every position fails whose value is not x; one that wants two values always."""
    everyone, twice = 0, 0
    for mask in by_value.values():
        twice |= everyone & mask
        everyone |= mask
    return lambda x: (everyone & ~by_value.get(x, 0)) | twice


def _windows(members: list[tuple[Predicate, int]], inside: bool) -> Callable[[int], int]:
    """A time's `=` (the packet's time must lie in each window) or `!=` (outside each)."""
    spans: dict[tuple[int, int], int] = {}
    for p, mask in members:
        low, high = p.window()
        span = (_micros(low), _micros(high))
        spans[span] = spans.get(span, 0) | mask
    if not inside:
        return lambda x: _stabbed(spans, x)
    starts, ends = {}, {}
    for (low, high), mask in spans.items():
        starts[low] = starts.get(low, 0) | mask
        ends[high] = ends.get(high, 0) | mask
    late, early = _Sorted(starts), _Sorted(ends)
    return lambda x: late.above(x, inclusive=False) | early.below(x, inclusive=False)


def _stabbed(spans: dict[tuple[int, int], int], x: int) -> int:
    """The positions of the windows that hold x."""
    found = 0
    for (low, high), mask in spans.items():
        if low <= x <= high:
            found |= mask
    return found
