"""The one family of errors the harness raises on purpose, and what each meaning leads to.

`UserError`: a mistake in what the user gave (a scenario file, a pattern, a capture, an
option). It is found before anything runs where it can be; the CLI prints its one line and
exits 2, the pytest plugin reports it without a traceback. `LabError`: the lab could not do
its part (a namespace, the capture, a peer, a tool). The run it happened in is judged ERROR
with that reason, and the other runs go on. Any other exception is a bug of the harness.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base of every error the harness raises on purpose; its text is one line (a pattern
    error adds the pattern and a caret under the place)."""

    #: Words the CLI puts in front of the message ("bad pattern: ").
    what = ""


class UserError(HarnessError):
    """A mistake in what the user gave: one line naming the input and what to do."""


class LabError(HarnessError):
    """The lab could not observe a run properly: that run is an ERROR, with this reason."""


class UsageError(UserError):
    """A mistake on the command line or in the options of a call."""


def quoted(value: object, width: int = 40) -> str:
    """A value as a message quotes it (its repr), cut to width characters."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def closest(word: str, words: list[str], count: int = 1, cutoff: float = 0.6) -> list[str]:
    """The words most like word (difflib's ratio), for a "did you mean" hint."""
    import difflib  # only when there is a mistake to hint at

    return difflib.get_close_matches(word, words, n=count, cutoff=cutoff)


def one_line(exc: BaseException) -> str:
    """An exception as the one line a run's ERROR reason or a message shows.

    Our own errors are their message; anything else is a bug, so its type is named too.
    """
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, HarnessError | OSError):
        return text
    return f"{type(exc).__name__}: {text}"
