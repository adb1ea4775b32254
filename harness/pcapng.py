"""pcapng files with the metadata Wireshark shows: who wrote them, where, and per-packet notes.

Standard library only (no scapy): records in, bytes out, and back. The layouts below are
those of the PCAP Now Generic capture file format, draft-ietf-opsawg-pcapng, in brief:

* Every block is: block type (u32), block total length (u32), a body padded to 32 bits,
  and the block total length again, so a reader can walk the file in either direction.
* The body of most blocks ends with options. Each option is a code (u16), the length of
  its value (u16) and the value, padded with zeros to 32 bits; a non-empty list ends with
  opt_endofopt (code 0, length 0). Code 1, opt_comment, is UTF-8 text and may repeat.
* Section Header Block (type 0x0A0D0D0A): the byte-order magic 0x1A2B3C4D, written in the
  writer's byte order (so a reader learns the order from it), major and minor version
  (1, 0), the section length as a signed 64-bit number (-1: not stated), then options:
  shb_hardware (2), shb_os (3) and shb_userappl (4), each UTF-8 text.
* Interface Description Block (type 1): link type (u16), two reserved bytes, snap length
  (u32), then options: if_name (2), if_description (3), if_tsresol (9: one byte, the
  timestamp unit is 10^-n s, or 2^-n s when the high bit is set; 10^-6 if absent) and
  if_os (12). Interfaces are numbered from 0 in the order of their blocks in a section.
* Enhanced Packet Block (type 6): interface number (u32), the timestamp as a 64-bit count
  of that interface's units split into a high and a low u32, the captured and the original
  length (u32 each), the packet bytes padded to 32 bits, then options.

We write little-endian files with one section, one interface and one Enhanced Packet Block
per record; we read either byte order and any number of sections, skipping block types
other than these three.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

SHB = 0x0A0D0D0A
IDB = 1
EPB = 6
_SHB_BYTES = struct.pack("<I", SHB)  # a palindrome: the same in either byte order
_MAGIC = 0x1A2B3C4D
_ORDERS = {struct.pack("<I", _MAGIC): "<", struct.pack(">I", _MAGIC): ">"}
_PCAP_MAGICS = {bytes.fromhex(m) for m in ("d4c3b2a1", "a1b2c3d4", "4d3cb2a1", "a1b23c4d")}

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
    """One packet: its bytes from the link-layer header on, its time (Unix s), its comments."""

    data: bytes
    time: float
    comments: tuple[str, ...] = ()


@dataclass(frozen=True)
class PcapngFile:
    """What read_pcapng found: every section, interface and packet, in file order.

    A file normally holds one section; several appear when pcapng files are concatenated.
    """

    sections: tuple[Section, ...]
    interfaces: tuple[Interface, ...]
    records: tuple[Record, ...]

    @property
    def section(self) -> Section:
        """The first (normally the only) section."""
        return self.sections[0]


# -- writing -------------------------------------------------------------------------------


def write_pcapng(path: str | os.PathLike, records: Iterable[object],
                 section: Section = Section(), interface: Interface = Interface()) -> Path:
    """Write records to path (creating its folder) as one section with one interface.

    A record is a Record, or anything with a `.time` that bytes() accepts, such as a scapy
    packet; that one's `.comments` (a list of bytes or str), if any, are kept. Packets longer
    than the interface's snaplen (unless 0) are cut to it. Empty strings are not written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(pcapng_bytes(records, section, interface))
    return target


def pcapng_bytes(records: Iterable[object], section: Section = Section(),
                 interface: Interface = Interface()) -> bytes:
    """The bytes of the pcapng file write_pcapng writes."""
    blocks = [_section_block(section), _interface_block(interface)]
    blocks += [_packet_block(as_record(item), interface) for item in records]
    return b"".join(blocks)


def as_record(item: object) -> Record:
    """item itself if it is a Record, else a Record of bytes(item), item.time, item.comments."""
    if isinstance(item, Record):
        return item
    time = getattr(item, "time", None)
    if time is None:
        raise TypeError(f"cannot write {type(item).__name__} to pcapng: expected a Record or "
                        "a packet with .time")
    comments = getattr(item, "comments", None) or ()
    return Record(bytes(item), float(time), tuple(_text(c) for c in comments))  # type: ignore[call-overload]


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)


def _section_block(section: Section) -> bytes:
    head = struct.pack("<IHHq", _MAGIC, 1, 0, -1)
    return _block(SHB, head + _options([
        *((OPT_COMMENT, c) for c in section.comments),
        (SHB_HARDWARE, section.hardware), (SHB_OS, section.os),
        (SHB_USERAPPL, section.application)]))


def _interface_block(interface: Interface) -> bytes:
    _scale(interface.tsresol)  # refuse a bad resolution before anything is written
    head = struct.pack("<HHI", interface.linktype, 0, interface.snaplen)
    tsresol = b"" if interface.tsresol == DEFAULT_TSRESOL else bytes([interface.tsresol])
    return _block(IDB, head + _options([
        (IF_NAME, interface.name), (IF_DESCRIPTION, interface.description),
        (IF_TSRESOL, tsresol), (IF_OS, interface.os)]))


def _packet_block(record: Record, interface: Interface) -> bytes:
    units = _units(record.time, interface.tsresol)
    data = record.data[:interface.snaplen] if interface.snaplen else record.data
    head = struct.pack("<IIIII", 0, units >> 32, units & 0xFFFFFFFF, len(data),
                       len(record.data))
    options = _options([(OPT_COMMENT, c) for c in record.comments])
    return _block(EPB, head + _padded(data) + options)


def _options(pairs: Iterable[tuple[int, str | bytes]]) -> bytes:
    """The option list for (code, value) pairs, leaving out empty values."""
    body = b"".join(_option(code, value) for code, value in pairs if value)
    return body + struct.pack("<HH", OPT_ENDOFOPT, 0) if body else b""


def _option(code: int, value: str | bytes) -> bytes:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if len(raw) > 0xFFFF:
        raise ValueError(f"pcapng option {code} is {len(raw)} bytes long; at most 65535 fit")
    return struct.pack("<HH", code, len(raw)) + _padded(raw)


def _block(kind: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", kind, total) + body + struct.pack("<I", total)


def _padded(raw: bytes) -> bytes:
    return raw + bytes(-len(raw) % 4)


def _scale(tsresol: int) -> int:
    """Timestamp units per second for an if_tsresol byte."""
    if not 0 <= tsresol <= 0xFF:
        raise ValueError(f"if_tsresol must be one byte, not {tsresol}")
    return 2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10 ** tsresol


def _units(time: float, tsresol: int) -> int:
    """time (Unix seconds) as a count of if_tsresol units."""
    scale = _scale(tsresol)
    whole = math.floor(time)
    units = whole * scale + round((time - whole) * scale)
    if not 0 <= units < 1 << 64:
        raise ValueError(f"timestamp {time} does not fit a pcapng timestamp")
    return units


# -- reading -------------------------------------------------------------------------------


def read_pcapng(path: str | os.PathLike) -> PcapngFile:
    """The sections, interfaces and records of a pcapng file.

    ValueError, naming the file and the problem, if it is not a complete pcapng file.
    """
    return parse_pcapng(Path(path).read_bytes(), str(path))


def parse_pcapng(data: bytes, name: str = "<bytes>") -> PcapngFile:
    """What read_pcapng returns, from the bytes of a file; name is used in errors."""
    _check_start(data, name)
    sections: list[Section] = []
    interfaces: list[Interface] = []
    records: list[Record] = []
    in_section: list[Interface] = []  # interface numbers start again in every section
    order = "<"
    for offset, kind, body, order in _blocks(data, name):
        where = f"{name}: block at byte {offset}"
        if kind == SHB:
            sections.append(_read_section(body, order, where))
            in_section = []
        elif kind == IDB:
            in_section.append(_read_interface(body, order, where))
            interfaces.append(in_section[-1])
        elif kind == EPB:
            records.append(_read_packet(body, order, in_section, where))
    return PcapngFile(tuple(sections), tuple(interfaces), tuple(records))


def _check_start(data: bytes, name: str) -> None:
    if not data:
        raise ValueError(f"{name}: not a pcapng file: it is empty")
    if data[:4] in _PCAP_MAGICS:
        raise ValueError(f"{name}: not a pcapng file: it is a classic pcap file")
    if data[:4] != _SHB_BYTES:
        raise ValueError(f"{name}: not a pcapng file: it does not start with a section header")


def _blocks(data: bytes, name: str) -> Iterator[tuple[int, int, bytes, str]]:
    """(offset, type, body, byte order) of each block, checking that each is whole."""
    offset, order = 0, "<"
    while offset < len(data):
        if len(data) - offset < 12:
            raise ValueError(f"{name}: truncated block at byte {offset}")
        if data[offset:offset + 4] == _SHB_BYTES:
            order = _byte_order(data, offset, name)
        kind, length = struct.unpack_from(order + "II", data, offset)
        if length < 12 or length % 4:
            raise ValueError(f"{name}: bad block length {length} at byte {offset}")
        if offset + length > len(data):
            raise ValueError(f"{name}: truncated block at byte {offset}")
        (trailer,) = struct.unpack_from(order + "I", data, offset + length - 4)
        if trailer != length:
            raise ValueError(f"{name}: block at byte {offset} ends with length {trailer}, "
                             f"not {length}")
        yield offset, kind, data[offset + 8:offset + length - 4], order
        offset += length


def _byte_order(data: bytes, offset: int, name: str) -> str:
    magic = data[offset + 8:offset + 12]
    if magic in _ORDERS:
        return _ORDERS[magic]
    if offset == 0:
        raise ValueError(f"{name}: not a pcapng file: bad byte-order magic {magic.hex()}")
    raise ValueError(f"{name}: bad byte-order magic {magic.hex()} in the section header at "
                     f"byte {offset}")


def _read_section(body: bytes, order: str, where: str) -> Section:
    if len(body) < 16:
        raise ValueError(f"{where}: section header too short")
    _magic, major, _minor, _length = struct.unpack_from(order + "IHHq", body)
    if major != 1:
        raise ValueError(f"{where}: pcapng version {major} is not supported (only 1)")
    options = _read_options(body[16:], order, where)
    return Section(hardware=_last_text(options, SHB_HARDWARE), os=_last_text(options, SHB_OS),
                   application=_last_text(options, SHB_USERAPPL),
                   comments=_all_text(options, OPT_COMMENT))


def _read_interface(body: bytes, order: str, where: str) -> Interface:
    if len(body) < 8:
        raise ValueError(f"{where}: interface description too short")
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body)
    options = _read_options(body[8:], order, where)
    tsresol = [value[0] for code, value in options if code == IF_TSRESOL and value]
    return Interface(linktype=linktype, name=_last_text(options, IF_NAME),
                     description=_last_text(options, IF_DESCRIPTION), snaplen=snaplen,
                     tsresol=tsresol[-1] if tsresol else DEFAULT_TSRESOL,
                     os=_last_text(options, IF_OS))


def _read_packet(body: bytes, order: str, interfaces: list[Interface], where: str) -> Record:
    if len(body) < 20:
        raise ValueError(f"{where}: enhanced packet block too short")
    number, high, low, caplen, _origlen = struct.unpack_from(order + "IIIII", body)
    if number >= len(interfaces):
        raise ValueError(f"{where}: packet of interface {number}, which is not described")
    if 20 + caplen > len(body):
        raise ValueError(f"{where}: captured length {caplen} runs past the block")
    options = _read_options(body[20 + caplen + (-caplen % 4):], order, where)
    time = ((high << 32) | low) / _scale(interfaces[number].tsresol)
    return Record(bytes(body[20:20 + caplen]), time, _all_text(options, OPT_COMMENT))


def _read_options(raw: bytes, order: str, where: str) -> list[tuple[int, bytes]]:
    """(code, value) of each option up to opt_endofopt or the end of the block."""
    options: list[tuple[int, bytes]] = []
    offset = 0
    while offset + 4 <= len(raw):
        code, length = struct.unpack_from(order + "HH", raw, offset)
        if code == OPT_ENDOFOPT:
            break
        end = offset + 4 + length
        if end > len(raw):
            raise ValueError(f"{where}: option {code} runs past the end of the block")
        options.append((code, bytes(raw[offset + 4:end])))
        offset = end + (-length % 4)
    return options


def _all_text(options: list[tuple[int, bytes]], code: int) -> tuple[str, ...]:
    return tuple(value.decode("utf-8", "replace") for c, value in options if c == code)


def _last_text(options: list[tuple[int, bytes]], code: int) -> str:
    found = _all_text(options, code)
    return found[-1] if found else ""
