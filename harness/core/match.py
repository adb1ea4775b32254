"""The outcome of matching a connection against a pattern (harness.core.pattern), and its
explanation: where the match broke, what the pattern expected there, and, for a packet
whose direction and flags fit but whose fields do not, the field and the packet's value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.core.packet_token import token_end

__all__ = ["END", "Match"]

#: In ``Match.expected``: the pattern could also have ended there.
END = "end"


@dataclass(frozen=True)
class Match:
    """The outcome of matching a pattern against a whole observed packet sequence.

    ``expected`` spells each token the pattern could have taken at the break as the pattern
    does, fields included (`<R.[seq=1 ack=301]`); ``why`` is set when the packet at the
    break had a fitting direction and flags but not the fields: "has ack 201; the pattern
    wants ack=301".
    """

    ok: bool
    observed: tuple[str, ...]
    pattern: str
    failed_at: int | None = None
    expected: tuple[str, ...] = ()
    ended_early: bool = False
    #: For each consumed observed packet, where its consuming token starts in ``pattern``
    #: (0-based), along one accepting path, or one path through the prefix that matched.
    columns: tuple[int, ...] = ()
    why: str = ""

    def token_at(self, i: int) -> str | None:
        """The pattern token (with its fields) that consumed observed packet ``i``; None if
        none consumed it."""
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
        if self.why:
            return f"{packet} {self.why}"
        if self.expected == (END,):
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
    spelled = ["the end of the capture" if w == END else w for w in words]
    if not spelled:
        return "nothing"
    if len(spelled) == 1:
        return spelled[0]
    return ", ".join(spelled[:-1]) + " or " + spelled[-1]
