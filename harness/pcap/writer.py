"""Writing pcapng files with the metadata Wireshark shows: who wrote them, where, and notes.

Standard library only (no scapy): records in, bytes out. The layouts are those of the PCAP
Now Generic capture file format, draft-ietf-opsawg-pcapng, in brief:

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
per record; harness.pcap.reader reads them back, and any other pcap or pcapng.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterable
from pathlib import Path

from harness.pcap.model import (
    BYTE_ORDER_MAGIC,
    DEFAULT_TSRESOL,
    EPB,
    IDB,
    IF_DESCRIPTION,
    IF_NAME,
    IF_OS,
    IF_TSRESOL,
    OPT_COMMENT,
    OPT_ENDOFOPT,
    SHB,
    SHB_HARDWARE,
    SHB_OS,
    SHB_USERAPPL,
    Interface,
    Record,
    Section,
    scale,
)

#: What a file says of itself unless told more: nothing, and an Ethernet interface.
PLAIN_SECTION = Section()
PLAIN_INTERFACE = Interface()


# -- writing -------------------------------------------------------------------------------


def write_pcapng(path: str | os.PathLike, records: Iterable[object],
                 section: Section = PLAIN_SECTION, interface: Interface = PLAIN_INTERFACE) -> Path:
    """Write records to path (creating its folder) as one section with one interface.

    A record is a Record, or anything with a `.time` that bytes() accepts, such as a scapy
    packet; that one's `.comments` (a list of bytes or str), if any, are kept. Packets longer
    than the interface's snaplen (unless 0) are cut to it. Empty strings are not written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(pcapng_bytes(records, section, interface))
    return target


def pcapng_bytes(records: Iterable[object], section: Section = PLAIN_SECTION,
                 interface: Interface = PLAIN_INTERFACE) -> bytes:
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
    head = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1)
    return _block(SHB, head + _options([
        *((OPT_COMMENT, c) for c in section.comments),
        (SHB_HARDWARE, section.hardware), (SHB_OS, section.os),
        (SHB_USERAPPL, section.application)]))


def _interface_block(interface: Interface) -> bytes:
    scale(interface.tsresol)  # refuse a bad resolution before anything is written
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


def _units(time: float, tsresol: int) -> int:
    """time (Unix seconds) as a count of if_tsresol units."""
    per_second = scale(tsresol)
    whole = math.floor(time)
    units = whole * per_second + round((time - whole) * per_second)
    if not 0 <= units < 1 << 64:
        raise ValueError(f"timestamp {time} does not fit a pcapng timestamp")
    return units
