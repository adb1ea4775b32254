"""The error of a pattern that cannot be read, with the column of the mistake: raised by the
pattern syntax (harness.core.pattern_syntax) and by a packet token's fields
(harness.core.packet_token, harness.core.fields)."""

from __future__ import annotations

from harness.core.errors import UserError

__all__ = ["PatternError"]


class PatternError(UserError, ValueError):
    """A pattern that cannot be compiled; ``position`` is the 0-based index of the problem.

    The message counts columns from 1, as editors do, and a caret points at the place (in a
    window of the text around it, for a long pattern).
    """

    what = "bad pattern: "

    def __init__(self, message: str, text: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.text = text
        self.position = position

    def __str__(self) -> str:
        shown = "".join(" " if ch in "\t\r\n" else ch for ch in self.text)
        caret = self.position
        if len(shown) > 80:
            start = max(0, self.position - 40)
            window = shown[start:start + 76]
            shown = ("…" if start else "") + window + ("…" if start + 76 < len(shown) else "")
            caret = self.position - start + (1 if start else 0)
        return (
            f"pattern error at column {self.position + 1}: {self.message}\n"
            f"  {shown}\n"
            f"  {' ' * caret}^"
        )
