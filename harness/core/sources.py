"""The texts a scenario cites: the five seed texts the project started from, and how a
catalog `source` naming them becomes the words a reader sees.

A scenario file cites a seed text by its number, `seed 000`, optionally followed by a note
in parentheses: `seed 000 (case 2); socket(7) SO_LINGER; UNP §7.5`. Readers do not have the
seed files, so the catalog expands each citation once, at load, into what the text is and
the primary sources it quotes: "a Q&A thread on aborting a connection with an RST instead
of a FIN, quoting socket(7) SO_LINGER and a summary of the three linger cases (seed 000, case
2); socket(7) SO_LINGER; UNP §7.5". The rest of the string (man pages, RFCs, UNP, kernel
files) is kept as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType

from harness.core.errors import UserError, closest, quoted


@dataclass(frozen=True)
class Seed:
    """One seed text: its number, its file among the seeds, what it is and what it quotes."""

    number: str
    file: str
    what: str
    quotes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """How a scenario file cites it: `seed 000`."""
        return f"seed {self.number}"

    def described(self) -> str:
        """What the text is, then the primary sources it quotes."""
        if not self.quotes:
            return self.what
        head, last = self.quotes[:-1], self.quotes[-1]
        listed = f"{', '.join(head)} and {last}" if head else last
        return f"{self.what}, quoting {listed}"


def _table(*seeds: Seed) -> MappingProxyType[str, Seed]:
    return MappingProxyType({seed.number: seed for seed in seeds})


#: The seed texts by number (the first three digits of their file name in shared/seeds/).
SEEDS = _table(
    Seed("000", "000_5d5f34b505c5037c.txt",
         "a Q&A thread on aborting a connection with an RST instead of a FIN",
         ("socket(7) SO_LINGER", "a summary of the three linger cases")),
    Seed("001", "001_73482d75de946c3c.txt",
         "a blog post sending an RST via SO_LINGER {1,0} to a select() server slow to call "
         "accept()",
         ("UNP §16.6 on nonblocking accept()",)),
    Seed("002", "002_76c481958c673185.txt",
         "a book section, \"Setting the SO_LINGER Option\", on the three linger modes"),
    Seed("003", "003_3b4c62f923ab43b0.txt",
         "a Q&A thread on a close(2) that sent an RST instead of a FIN, with its tcpdump trace",
         ("tcp_close() in the kernel's net/ipv4/tcp.c", "RFC 2525 §2.17")),
    Seed("004", "004_53594180dbf68f04.txt",
         "an article on ending a socket after close(), with Winsock notes",
         ("UNP §7.5", "Windows' closesocket() documentation")),
)
# "seed REF" (a sentence's last "." or ":" is not part of REF), then an optional note in
# parentheses, with one level of nesting inside ("closed as part of exit(2)").
_CITATION = re.compile(r"\bseed\s+(?P<ref>[^\s;,()]*[^\s;,().:])"
                       r"(?P<note>\s*\((?:[^()]|\([^()]*\))*\))?", re.IGNORECASE)


class UnknownSeed(UserError, ValueError):
    """A source cites a seed text that is not in the table; the message names the closest."""


def _spellings() -> MappingProxyType[str, Seed]:
    """Every spelling that names a seed: its number, and its file name with or without .txt."""
    refs: dict[str, Seed] = {}
    for seed in SEEDS.values():
        refs.update({seed.number: seed, seed.file: seed, seed.file.removesuffix(".txt"): seed})
    return MappingProxyType(refs)


_REFS = _spellings()


def seed_named(ref: str) -> Seed:
    """The seed a citation names (`000`, or its file name); UnknownSeed for any other."""
    found = _REFS.get(ref.lower())
    if found is not None:
        return found
    # A file name whose number is right but not the rest: that number's seed comes first.
    likely = [ref[:3], *closest(ref.lower(), list(_REFS), 3, 0.5)]
    near = list(dict.fromkeys(_REFS[r].name for r in likely if r in _REFS))
    hint = f"; did you mean {_either(near)}?" if near else ""
    known = ", ".join(seed.name for seed in SEEDS.values())
    raise UnknownSeed(f"source cites {quoted('seed ' + ref)}, which is none of the seed "
                      f"texts{hint} (known: {known})")


def _either(names: list[str]) -> str:
    """`seed 000`, `seed 000 or seed 001`, `seed 000, seed 001 or seed 002`."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def cited(source: str) -> tuple[Seed, ...]:
    """The seeds a catalog source cites, in order, each once; UnknownSeed for an unknown one."""
    seeds = (seed_named(m["ref"]) for m in _CITATION.finditer(source))
    return tuple(dict.fromkeys(seeds))


def expand_source(source: str) -> str:
    """A catalog source with each seed citation replaced by what the text is and what it
    quotes: `seed 000 (case 2)` reads `a Q&A thread ..., quoting ... (seed 000, case 2)`."""
    return _CITATION.sub(_expanded, source)


def _expanded(found: re.Match[str]) -> str:
    seed = seed_named(found["ref"])
    note = (found["note"] or "").strip()[1:-1].strip()
    label = f"{seed.name}, {note}" if note else seed.name
    return f"{seed.described()} ({label})"
