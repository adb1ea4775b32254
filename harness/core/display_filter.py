"""Wireshark display filters as assertions: a filter, how many frames of the run's capture it
must match (`count = 1`, `">=1"`, `"0"`), and how the frames Wireshark found stand against it.

Wireshark's own dissector evaluates the filter (tshark in a batch, pyshark in pytest); this
module holds only the assertion and its words."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.core.errors import UserError, quoted

#: The comparisons a count may be written with, and what each means.
OPERATORS: dict[str, Callable[[int, int], bool]] = {
    "=": operator.eq, "==": operator.eq, "!=": operator.ne, "<": operator.lt,
    "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_COUNT = re.compile(r"\s*(==|!=|<=|>=|=|<|>)?\s*([0-9]{1,6})\s*")
#: The longest filter text taken (Wireshark's own have no limit; a scenario's need none).
MAX_FILTER = 2000


class DisplayFilterError(UserError, ValueError):
    """A display filter assertion that cannot be read; the message names it."""


@dataclass(frozen=True)
class FrameCount:
    """How many frames a filter must match: an operator and a number."""

    op: str = "="
    number: int = 1

    def __str__(self) -> str:
        return str(self.number) if self.op in ("=", "==") else f"{self.op}{self.number}"

    def holds(self, found: int) -> bool:
        """True when found frames satisfy the count."""
        return OPERATORS[self.op](found, self.number)


def frame_count(raw: Any) -> FrameCount:
    """A count as written: a whole number (exactly that many) or `">=1"`, `"<3"`, `"!=0"`."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        if raw < 0:
            raise DisplayFilterError(f"count {raw}: give a number of frames, 0 or more")
        return FrameCount("=", raw)
    found = _COUNT.fullmatch(raw) if isinstance(raw, str) else None
    if found is None:
        raise DisplayFilterError(f"count {quoted(raw)}: write a whole number, or a comparison "
                                 "such as \">=1\", \"<3\" or \"!=0\"")
    return FrameCount(found[1] or "=", int(found[2]))


@dataclass(frozen=True)
class DisplayFilter:
    """A display filter and the count of frames it must match."""

    text: str
    count: FrameCount = FrameCount()

    def __str__(self) -> str:
        return f"{self.text!r} matches {self.count} frame{'s' * (str(self.count) != '1')}"


def display_filter(text: Any, count: Any = 1) -> DisplayFilter:
    """A filter assertion from what a user wrote; DisplayFilterError (one line) if it cannot
    be one. The filter's syntax is Wireshark's to judge, before the runs."""
    if not isinstance(text, str) or not text.strip():
        raise DisplayFilterError(f"filter {quoted(text)}: give a Wireshark display filter as a "
                                 "string, such as \"tcp.flags.reset == 1\"")
    if len(text) > MAX_FILTER or "\n" in text or "\0" in text:
        raise DisplayFilterError(f"filter {quoted(text)}: one line of at most {MAX_FILTER} "
                                 "characters")
    return DisplayFilter(text.strip(), frame_count(count))


def parse_display_filters(raw: Any) -> tuple[DisplayFilter, ...]:
    """A scenario's `display_filters = [{ filter = "tcp.flags.reset == 1", count = 1 }]`."""
    example = "[{ filter = \"tcp.flags.reset == 1\", count = \">=1\" }]"
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise DisplayFilterError(f"display_filters must be a list of tables such as {example}")
    found = []
    for i, item in enumerate(raw, 1):
        unknown = sorted(set(item) - {"filter", "count"})
        if unknown:
            raise DisplayFilterError(f"display_filters[{i}]: takes filter and count, not "
                                     f"{', '.join(unknown)}")
        try:
            found.append(display_filter(item.get("filter"), item.get("count", 1)))
        except DisplayFilterError as exc:
            raise DisplayFilterError(f"display_filters[{i}]: {exc}") from None
    return tuple(found)


@dataclass(frozen=True)
class FilterOutcome:
    """What Wireshark found for one filter: the frame numbers it matched, or why it could not
    be asked (then the assertion is undecided, and the run an ERROR)."""

    filter: DisplayFilter
    frames: tuple[int, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the frames found satisfy the count."""
        return self.error is None and self.filter.count.holds(len(self.frames))

    def sentence(self) -> str:
        """`display filter 'tcp.flags.reset == 1': 1 frame (10); wanted 1`."""
        if self.error is not None:
            return f"display filter {self.filter.text!r} could not be evaluated: {self.error}"
        shown = ", ".join(map(str, self.frames[:20])) + (", ..." if len(self.frames) > 20 else "")
        frames = f"{len(self.frames)} frame{'s' * (len(self.frames) != 1)}"
        return (f"display filter {self.filter.text!r}: {frames}"
                f"{f' ({shown})' if self.frames else ''}; wanted {self.filter.count}")

    def to_json(self) -> dict[str, Any]:
        """The outcome for results.json."""
        return {"filter": self.filter.text, "count": str(self.filter.count),
                "frames": list(self.frames), "ok": self.ok,
                **({"error": self.error} if self.error is not None else {})}


def outcomes_problems(outcomes: Sequence[FilterOutcome]) -> list[str]:
    """The reasons a run fails by its display filters (those Wireshark answered)."""
    return [o.sentence() for o in outcomes if o.error is None and not o.ok]
