"""The one reader of capture files: classic pcap and pcapng, either byte order, gzipped or not.

Standard library only. It walks every record, so a file that stops in the middle of one, or
whose lengths contradict each other, is refused with one line that names the file, the byte
and how many packets before it are whole. The layouts: the classic pcap header of libpcap's
pcap-savefile(5) (magic, version, zone, sigfigs, snap length, link type; then per packet
seconds, fraction, captured and original length) and the blocks of pcapng described in
harness.pcap.writer, of which this reads section headers, interface descriptions and the
three packet blocks (Enhanced, Simple, and the obsolete Packet Block), skipping the rest.
The file is read into memory whole.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib

from harness.core.errors import UserError
from harness.pcap.model import (
    BYTE_ORDER_MAGIC,
    DEFAULT_TSRESOL,
    EPB,
    IDB,
    IF_DESCRIPTION,
    IF_NAME,
    IF_OS,
    IF_TSRESOL,
    OBSOLETE_PB,
    OPT_COMMENT,
    OPT_ENDOFOPT,
    SHB,
    SHB_HARDWARE,
    SHB_OS,
    SHB_USERAPPL,
    SPB,
    CaptureFile,
    Interface,
    Record,
    Section,
    scale,
)

# magic -> (byte order, if_tsresol of its timestamps' fraction)
_PCAP_MAGICS = {b"\xa1\xb2\xc3\xd4": (">", 6), b"\xd4\xc3\xb2\xa1": ("<", 6),
                b"\xa1\xb2\x3c\x4d": (">", 9), b"\x4d\x3c\xb2\xa1": ("<", 9)}
_SHB_BYTES = struct.pack("<I", SHB)  # a palindrome: the same in either byte order
_ORDERS = {struct.pack("<I", BYTE_ORDER_MAGIC): "<", struct.pack(">I", BYTE_ORDER_MAGIC): ">"}
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_CAPLEN = 0x40000  # libpcap's MAXIMUM_SNAPLEN: anything larger is a corrupt record
_MAX_BLOCK = 0x1000000  # libpcap's initial pcapng block limit (16 MiB): larger is corrupt
_HEADERS = ("the file header", "a section header")  # what a file opens with
AGAIN = "the capture was cut short or is still being written: let it finish, or capture again"


class CaptureFileError(UserError, ValueError):
    """A capture file that cannot be read; the message is one line naming the file."""


def read_file(path: str | os.PathLike[str]) -> CaptureFile:
    """Every section, interface and record of a pcap or pcapng file (gzipped or not)."""
    name = os.fspath(path)
    try:
        if os.path.isdir(name):
            raise IsADirectoryError(21, "Is a directory", name)
        with open(name, "rb") as raw:
            data = raw.read()
    except OSError as exc:
        raise CaptureFileError(_os_message(name, exc)) from None
    return parse_capture(data, name)


def parse_capture(data: bytes, name: str = "<bytes>") -> CaptureFile:
    """What read_file returns, from a file's bytes; name is used in errors."""
    if not data:
        raise CaptureFileError(f"{name}: the capture file is empty (0 bytes); the capture "
                               "wrote nothing, so capture again")
    gzipped = data[:2] == _GZIP_MAGIC
    if gzipped:
        try:
            data = gzip.decompress(data)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise CaptureFileError(_corrupt(name, f"bad gzip data: {exc}")) from None
    cursor = _Cursor(name, memoryview(data), gzipped)
    magic = bytes(data[:4])
    if magic in _PCAP_MAGICS:
        return _pcap(cursor, *_PCAP_MAGICS[magic])
    if magic == _SHB_BYTES:
        return _pcapng(cursor)
    raise CaptureFileError(f"{name}: not a pcap or pcapng capture file; give a file written by "
                           "tcpdump -w, dumpcap, Wireshark or scapy")


def read_pcapng(path: str | os.PathLike[str]) -> CaptureFile:
    """read_file, for a file that must be pcapng (what the harness writes)."""
    found = read_file(path)
    if not found.sections:
        raise CaptureFileError(f"{os.fspath(path)}: not a pcapng file: it is a classic pcap "
                               "file")
    return found


def parse_pcapng(data: bytes, name: str = "<bytes>") -> CaptureFile:
    """read_pcapng, from a file's bytes."""
    found = parse_capture(data, name)
    if not found.sections:
        raise CaptureFileError(f"{name}: not a pcapng file: it is a classic pcap file")
    return found


# -- classic pcap --------------------------------------------------------------------------


def _pcap(cursor: _Cursor, order: str, tsresol: int) -> CaptureFile:
    """A classic pcap file: its header's link type as the only interface; no section."""
    header = cursor.take(24, "the file header")
    snaplen, linktype = struct.unpack_from(order + "II", header, 16)
    interface = Interface(linktype=linktype & 0xFFFF, snaplen=snaplen, tsresol=tsresol)
    per_second, records = scale(tsresol), []
    while cursor.more():
        seconds, fraction, caplen, _wire = struct.unpack(order + "IIII",
                                                         cursor.take(16, "a packet header"))
        if caplen > _MAX_CAPLEN:
            raise cursor.corrupt(f"packet record claims {caplen} captured bytes")
        data = bytes(cursor.take(caplen, "a packet's data"))
        records.append(Record(data, seconds + fraction / per_second))
        cursor.packets += 1
    return CaptureFile((), (interface,), tuple(records))


# -- pcapng ----------------------------------------------------------------------------------


def _pcapng(cursor: _Cursor) -> CaptureFile:
    """Every block of a pcapng file, sections and interfaces in order, packets numbered."""
    sections: list[Section] = []
    interfaces: list[Interface] = []
    records: list[Record] = []
    first = 0  # where the current section's interfaces start in `interfaces`
    order = "<"
    while cursor.more():
        start = cursor.offset
        kind, body, order = _block(cursor, order)
        if kind == SHB:
            sections.append(_section(cursor, body, order, start))
            first = len(interfaces)
        elif kind == IDB:
            interfaces.append(_interface(cursor, body, order, start))
        elif kind in (EPB, SPB, OBSOLETE_PB):
            records.append(_packet(cursor, kind, body, order, interfaces, first, start))
            cursor.packets += 1
    return CaptureFile(tuple(sections), tuple(interfaces), tuple(records))


def _block(cursor: _Cursor, order: str) -> tuple[int, memoryview, str]:
    """(type, body, byte order in force) of the block at the cursor, checked whole."""
    start = cursor.offset
    type_bytes = bytes(cursor.take(4, "a block header"))
    length_bytes = cursor.take(4, "a block header")
    seen = 8
    if type_bytes == _SHB_BYTES:
        magic = bytes(cursor.take(4, "a section header"))
        if magic not in _ORDERS:
            raise cursor.corrupt(f"bad byte-order magic {magic.hex()} in the section header "
                                 f"at byte {start}")
        order, seen = _ORDERS[magic], 12
    kind = struct.unpack(order + "I", type_bytes)[0]
    length = struct.unpack(order + "I", length_bytes)[0]
    if length < seen + 4 or length % 4 or length > _MAX_BLOCK:
        raise cursor.corrupt(f"bad block length {length} at byte {start}")
    body = cursor.take(length - seen - 4, "a block body")
    (trailer,) = struct.unpack(order + "I", cursor.take(4, "a block trailer"))
    if trailer != length:
        raise cursor.corrupt(f"the block at byte {start} ends with length {trailer}, not "
                             f"{length}")
    return kind, body, order


def _section(cursor: _Cursor, body: memoryview, order: str, start: int) -> Section:
    if len(body) < 12:
        raise cursor.corrupt(f"the section header at byte {start} is too short")
    major, _minor, _length = struct.unpack_from(order + "HHq", body)
    if major != 1:
        raise cursor.corrupt(f"pcapng version {major} (section at byte {start}) is not "
                             "supported, only 1")
    options = _options(cursor, body[12:], order, start)
    return Section(hardware=_last(options, SHB_HARDWARE), os=_last(options, SHB_OS),
                   application=_last(options, SHB_USERAPPL), comments=_all(options, OPT_COMMENT))


def _interface(cursor: _Cursor, body: memoryview, order: str, start: int) -> Interface:
    if len(body) < 8:
        raise cursor.corrupt(f"the interface description at byte {start} is too short")
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body)
    options = _options(cursor, body[8:], order, start)
    tsresol = [value[0] for code, value in options if code == IF_TSRESOL and value]
    return Interface(linktype=linktype, name=_last(options, IF_NAME),
                     description=_last(options, IF_DESCRIPTION), snaplen=snaplen,
                     tsresol=tsresol[-1] if tsresol else DEFAULT_TSRESOL,
                     os=_last(options, IF_OS))


def _packet(cursor: _Cursor, kind: int, body: memoryview, order: str,
            interfaces: list[Interface], first: int, start: int) -> Record:
    """One packet block as a Record; its interface numbered across the file."""
    if kind == SPB:
        if len(body) < 4 or len(interfaces) == first:
            raise cursor.corrupt(f"the simple packet block at byte {start} is too short or "
                                 "has no interface")
        (wire,) = struct.unpack_from(order + "I", body)
        snaplen = interfaces[first].snaplen
        caplen = min(wire, snaplen) if snaplen else wire
        return Record(bytes(body[4:4 + caplen]), 0.0, (), first)
    layout = order + ("IIIII" if kind == EPB else "HHIIII")
    if len(body) < 20:
        raise cursor.corrupt(f"the packet block at byte {start} is too short")
    fields = struct.unpack_from(layout, body)
    number, (high, low, caplen) = fields[0], fields[-4:-1]
    if first + number >= len(interfaces):
        raise cursor.corrupt(f"the packet at byte {start} is of interface {number}, which "
                             "is not described")
    if 20 + caplen > len(body):
        raise cursor.corrupt(f"the packet at byte {start} claims {caplen} captured bytes, more "
                             "than its block holds")
    options = _options(cursor, body[20 + caplen + (-caplen % 4):], order, start)
    time = ((high << 32) | low) / scale(interfaces[first + number].tsresol)
    return Record(bytes(body[20:20 + caplen]), time, _all(options, OPT_COMMENT), first + number)


def _options(cursor: _Cursor, raw: memoryview, order: str,
             start: int) -> list[tuple[int, bytes]]:
    """(code, value) of each option up to opt_endofopt or the end of the block."""
    options: list[tuple[int, bytes]] = []
    offset = 0
    while offset + 4 <= len(raw):
        code, length = struct.unpack_from(order + "HH", raw, offset)
        if code == OPT_ENDOFOPT:
            break
        end = offset + 4 + length
        if end > len(raw):
            raise cursor.corrupt(f"option {code} of the block at byte {start} runs past its end")
        options.append((code, bytes(raw[offset + 4:end])))
        offset = end + (-length % 4)
    return options


def _all(options: list[tuple[int, bytes]], code: int) -> tuple[str, ...]:
    return tuple(value.decode("utf-8", "replace") for c, value in options if c == code)


def _last(options: list[tuple[int, bytes]], code: int) -> str:
    found = _all(options, code)
    return found[-1] if found else ""


# -- reading with errors that say where --------------------------------------------------------


class _Cursor:
    """Sequential reads from a capture's bytes that report truncation as CaptureFileError."""

    def __init__(self, name: str, data: memoryview, gzipped: bool) -> None:
        self.name, self.data, self.gzipped = name, data, gzipped
        self.offset = 0
        self.packets = 0  # whole packet records read so far

    def take(self, count: int, what: str) -> memoryview:
        """Exactly count bytes, or CaptureFileError saying where the file stops."""
        if self.offset + count > len(self.data):
            self.offset = len(self.data)
            raise self.truncated(what)
        chunk = self.data[self.offset:self.offset + count]
        self.offset += count
        return chunk

    def more(self) -> bool:
        """Whether any byte is left to read."""
        return self.offset < len(self.data)

    def truncated(self, what: str) -> CaptureFileError:
        """The one-line refusal of a file that stops inside what, with what was whole."""
        where = f"byte {self.offset}" + (" of its gunzipped data" if self.gzipped else "")
        if what in _HEADERS and not self.packets:
            story = f"it ends inside {what}, before any packet"
        else:
            whole = {0: "no packet before it is", 1: "the 1 packet before it is"}.get(
                self.packets, f"the {self.packets} packets before it are")
            story = f"it ends inside {what}, so the last record is incomplete; {whole} whole"
        return CaptureFileError(f"{self.name}: the capture file is truncated at {where}: "
                                f"{story}; {AGAIN}")

    def corrupt(self, detail: str) -> CaptureFileError:
        """A CaptureFileError for damaged contents near the current offset."""
        return CaptureFileError(_corrupt(self.name, f"{detail}, near byte {self.offset}"))


def _corrupt(name: str, detail: str) -> str:
    """The one-line message for a damaged capture file."""
    detail = " ".join(detail.split())
    return f"{name}: the capture file is corrupt ({detail}); capture again or use another file"


def _os_message(name: str, exc: OSError) -> str:
    """The one-line message for a capture file the system will not let us read."""
    if isinstance(exc, FileNotFoundError):
        return f"{name}: no such capture file; check the path, or run the capture first"
    if isinstance(exc, PermissionError):
        return (f"{name}: permission denied reading the capture file; fix its permissions "
                "or read it as a user allowed to")
    if isinstance(exc, IsADirectoryError):
        return f"{name}: is a directory, not a capture file; give the path of a pcap or pcapng"
    reason = exc.strerror or type(exc).__name__
    return f"{name}: cannot read the capture file ({reason}); check the file and try again"

