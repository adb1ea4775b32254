"""tcpdump's notation for TCP flags, and the packet tokens built from it."""

from __future__ import annotations

from harness.core.errors import UserError

__all__ = [
    "ACK",
    "AE",
    "ALL_FLAGS",
    "CWR",
    "DIRECTIONS",
    "ECE",
    "FIN",
    "FLAG_TABLE",
    "NONE",
    "PSH",
    "RST",
    "SYN",
    "URG",
    "NotationError",
    "flags_to_str",
    "parse_token",
    "str_to_flags",
    "token",
]

FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10
URG = 0x20
ECE = 0x40
CWR = 0x80
AE = 0x100  # accurate-ECN, header bit 8 (lowest bit of the old reserved nibble)

ALL_FLAGS = 0x1FF

#: tcpdump's flag table, in the order tcpdump prints it.
FLAG_TABLE: tuple[tuple[int, str], ...] = (
    (FIN, "F"),
    (SYN, "S"),
    (RST, "R"),
    (PSH, "P"),
    (ACK, "."),
    (URG, "U"),
    (ECE, "E"),
    (CWR, "W"),
    (AE, "e"),
)

#: What tcpdump prints when no flag is set.
NONE = "none"

#: Packet directions: ">" is client to server, "<" is server to client.
DIRECTIONS = (">", "<")

_BIT_OF = {letter: bit for bit, letter in FLAG_TABLE}
_LETTERS = "".join(letter for _, letter in FLAG_TABLE)
_TOKEN_NONE = "[none]"


class NotationError(UserError, ValueError):
    """Text that is not valid tcpdump flag notation or packet-token notation."""


def flags_to_str(bits: int) -> str:
    """Spell a flag value the way tcpdump prints it inside ``Flags [...]``.

    Bits above 0x1FF are ignored; no flags at all is spelled "none".
    """
    if bits < 0:
        raise NotationError(f"expected a non-negative flag value, got {bits}")
    text = "".join(letter for bit, letter in FLAG_TABLE if bits & bit)
    return text or NONE


def str_to_flags(text: str) -> int:
    """Read tcpdump flag notation ("S.", "FP.", "none") back into a flag value."""
    if text in (NONE, _TOKEN_NONE):
        return 0
    if not text:
        raise NotationError('"" is not tcpdump flag notation: expected flag letters or "none"')
    bits = 0
    for letter in text:
        bits |= _letter_bit(text, letter, bits)
    canonical = flags_to_str(bits)
    if canonical != text:
        raise NotationError(f'"{text}" is not in tcpdump\'s order; write "{canonical}"')
    return bits


def _letter_bit(text: str, letter: str, seen: int) -> int:
    """The bit for one letter of ``text``, refusing unknown and repeated letters."""
    bit = _BIT_OF.get(letter)
    if bit is None:
        raise NotationError(
            f'"{text}" is not tcpdump flag notation: "{letter}" is not a flag letter '
            f'(expected letters from "{_LETTERS}", or "none")'
        )
    if seen & bit:
        raise NotationError(
            f'"{text}" is not tcpdump flag notation: "{letter}" appears more than once'
        )
    return bit


def token(direction: str, bits: int) -> str:
    """The packet token for a direction and flag value, e.g. ">S" or "<S." or ">[none]"."""
    _check_direction(direction)
    flags = flags_to_str(bits)
    return direction + (_TOKEN_NONE if flags == NONE else flags)


def parse_token(text: str) -> tuple[str, int]:
    """Split a packet token such as "<S." into its direction and flag value."""
    if not text or text[0] not in DIRECTIONS:
        got = f'"{text[0]}"' if text else "nothing"
        raise NotationError(f'"{text}" is not a packet token: expected ">" or "<" first, got {got}')
    direction, flags = text[0], text[1:]
    if not flags:
        raise NotationError(
            f'"{text}" is not a packet token: expected flags after "{direction}", '
            f'e.g. "{direction}S." or "{direction}{_TOKEN_NONE}"'
        )
    if flags == NONE:
        raise NotationError(
            f'"{text}" is not a packet token: write "{direction}{_TOKEN_NONE}" for no flags'
        )
    return direction, str_to_flags(flags)


def _check_direction(direction: str) -> None:
    """Refuse anything but ">" and "<"."""
    if direction not in DIRECTIONS:
        raise NotationError(f'expected direction ">" or "<", got "{direction}"')
