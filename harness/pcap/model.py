"""What a capture file holds, as values: sections, interfaces and packet records.

The names follow the PCAP Now Generic format (draft-ietf-opsawg-pcapng). A classic pcap file
reads as one section with one interface, its link type and time resolution taken from the
file header.
"""

from __future__ import annotations

from dataclasses import dataclass

SHB = 0x0A0D0D0A  # Section Header Block
IDB = 1  # Interface Description Block
EPB = 6  # Enhanced Packet Block
SPB = 3  # Simple Packet Block
OBSOLETE_PB = 2  # the Packet Block of early pcapng
BYTE_ORDER_MAGIC = 0x1A2B3C4D

OPT_ENDOFOPT = 0
OPT_COMMENT = 1
SHB_HARDWARE, SHB_OS, SHB_USERAPPL = 2, 3, 4
IF_NAME, IF_DESCRIPTION, IF_TSRESOL, IF_OS = 2, 3, 9, 12

LINKTYPE_ETHERNET = 1
DEFAULT_TSRESOL = 6


@dataclass(frozen=True)
class Section:
    """What a Section Header Block says: the capture machine, its OS, the writing program."""

    hardware: str = ""
    os: str = ""
    application: str = ""
    comments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Interface:
    """What an Interface Description Block says about the interface the packets came from.

    tsresol is the if_tsresol byte: n for units of 10^-n s (6: microseconds), or 0x80 | n
    for units of 2^-n s.
    """

    linktype: int = LINKTYPE_ETHERNET
    name: str = ""
    description: str = ""
    snaplen: int = 262144
    tsresol: int = DEFAULT_TSRESOL
    os: str = ""


@dataclass(frozen=True)
class Record:
    """One packet: its bytes from the link-layer header on, its time (Unix s), its comments,
    and the interface it came from (numbered across the whole file, from 0)."""

    data: bytes
    time: float
    comments: tuple[str, ...] = ()
    interface: int = 0


@dataclass(frozen=True)
class CaptureFile:
    """Every section, interface and packet of a capture file, in file order.

    A pcapng file normally holds one section; several appear when files are concatenated.
    """

    sections: tuple[Section, ...]
    interfaces: tuple[Interface, ...]
    records: tuple[Record, ...]

    @property
    def section(self) -> Section:
        """The first (normally the only) section."""
        return self.sections[0]


#: The name read_pcapng's callers know it by.
PcapngFile = CaptureFile


def scale(tsresol: int) -> int:
    """Timestamp units per second for an if_tsresol byte; ValueError if it is no byte."""
    if not 0 <= tsresol <= 0xFF:
        raise ValueError(f"if_tsresol must be one byte, not {tsresol}")
    return 2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10 ** tsresol
