"""TCP segments taken out of scapy packets and out of pcap/pcapng capture files."""

from __future__ import annotations

import gzip
import os
import socket
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

from scapy.error import Scapy_Exception
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.packet import Packet
from scapy.utils import PcapReader

__all__ = [
    "CaptureFileError",
    "Segment",
    "count_packets",
    "packets_to_segments",
    "read_capture",
    "segment_from_packet",
]

Endpoint = tuple[str, int]

_PCAP_MAGICS = {
    b"\xa1\xb2\xc3\xd4": ">",
    b"\xd4\xc3\xb2\xa1": "<",
    b"\xa1\xb2\x3c\x4d": ">",
    b"\x4d\x3c\xb2\xa1": "<",
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_CAPLEN = 0x40000  # libpcap's MAXIMUM_SNAPLEN: anything larger is a corrupt record
_MAX_BLOCK = 0x1000000  # libpcap's initial pcapng block limit (16 MiB): larger is corrupt
_PCAPNG_PACKET_BLOCKS = (2, 3, 6)  # obsolete Packet, Simple Packet, Enhanced Packet Block
_HEADERS = ("the file header", "a section header")  # what a file opens with


class CaptureFileError(Exception):
    """A capture file that cannot be read; the message is one line naming the file."""


@dataclass(frozen=True)
class Segment:
    """One TCP segment as seen in a capture."""

    time: float
    family: str
    src: str
    sport: int
    dst: str
    dport: int
    flags: int
    seq: int
    ack: int
    win: int
    length: int
    index: int

    @property
    def endpoints(self) -> tuple[Endpoint, Endpoint]:
        """The sender and the receiver, as ((src, sport), (dst, dport))."""
        return (self.src, self.sport), (self.dst, self.dport)


def segment_from_packet(pkt: Packet, index: int) -> Segment | None:
    """The TCP segment carried by ``pkt`` (frame number ``index``), or None if it has none."""
    pkt = _dissected(pkt)
    tcp = pkt.getlayer(TCP)
    if tcp is None:
        return None
    ip = _ip_under(tcp)
    if ip is None:
        return None
    family = "ipv4" if isinstance(ip, IP) else "ipv6"
    return Segment(
        time=float(pkt.time),
        family=family,
        src=_address(family, ip.src),
        sport=int(tcp.sport),
        dst=_address(family, ip.dst),
        dport=int(tcp.dport),
        flags=int(tcp.flags) & 0x1FF,
        seq=int(tcp.seq),
        ack=int(tcp.ack),
        win=int(tcp.window),
        length=_payload_length(ip, tcp),
        index=index,
    )


def packets_to_segments(pkts: Iterable[Packet]) -> list[Segment]:
    """The TCP segments among ``pkts``; frames are numbered from 1 in the order given."""
    found = (segment_from_packet(pkt, number) for number, pkt in enumerate(pkts, start=1))
    return [seg for seg in found if seg is not None]


def read_capture(path: str | os.PathLike[str]) -> list[Segment]:
    """The TCP segments of a pcap or pcapng file; CaptureFileError if it cannot be read."""
    name = os.fspath(path)
    _check_capture_file(name)
    try:
        with PcapReader(name) as reader:
            return packets_to_segments(reader)
    except (Scapy_Exception, EOFError, struct.error, ValueError, zlib.error) as exc:
        raise CaptureFileError(_corrupt(name, str(exc) or type(exc).__name__)) from None
    except OSError as exc:
        raise CaptureFileError(_os_message(name, exc)) from None


# --- packets ---------------------------------------------------------------------------


def _dissected(pkt: Packet) -> Packet:
    """``pkt`` itself, or a re-dissected copy when header lengths are still unset."""
    tcp = pkt.getlayer(TCP)
    ip = _ip_under(tcp) if tcp is not None else None
    if ip is None or not _lengths_unset(ip, tcp):
        return pkt
    copy = pkt.__class__(bytes(pkt))
    copy.time = pkt.time
    return copy


def _lengths_unset(ip: Packet, tcp: Packet) -> bool:
    """Whether a built-by-hand packet still lacks a length field we need."""
    ip_fields = ("len", "ihl") if isinstance(ip, IP) else ("plen",)
    return tcp.dataofs is None or any(getattr(ip, name) is None for name in ip_fields)


def _ip_under(tcp: Packet) -> Packet | None:
    """The IPv4 or IPv6 header that carries ``tcp`` (skipping IPv6 extension headers)."""
    layer = tcp.underlayer
    while layer is not None and not isinstance(layer, (IP, IPv6)):
        layer = layer.underlayer
    return layer


def _payload_length(ip: Packet, tcp: Packet) -> int:
    """TCP payload bytes according to the IP header, so padding and snaplen do not count."""
    if isinstance(ip, IP):
        ip_payload = int(ip.len) - int(ip.ihl) * 4
    else:
        ip_payload = int(ip.plen) - _extension_bytes(ip, tcp)
    return max(0, ip_payload - int(tcp.dataofs) * 4)


def _extension_bytes(ip6: Packet, tcp: Packet) -> int:
    """Bytes of IPv6 extension headers between the fixed header and TCP."""
    if ip6.payload is tcp:
        return 0
    return len(bytes(ip6.payload)) - len(bytes(tcp))


def _address(family: str, text: str) -> str:
    """The canonical text form of an address (IPv6 compressed the way inet_ntop does)."""
    if family == "ipv4":
        return text
    return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, text))


def count_packets(path: str | os.PathLike[str]) -> int:
    """How many packets (of any protocol) a pcap or pcapng file holds; CaptureFileError as
    read_capture."""
    return _check_capture_file(os.fspath(path))


# --- capture files ---------------------------------------------------------------------


def _check_capture_file(name: str) -> int:
    """The number of packet records in ``name``; CaptureFileError unless it is a complete
    pcap or pcapng file."""
    try:
        if os.path.isdir(name):
            raise IsADirectoryError(21, "Is a directory", name)
        with open(name, "rb") as raw:
            head = raw.read(4)
            if not head:
                raise CaptureFileError(
                    f"{name}: the capture file is empty (0 bytes); the capture wrote nothing, "
                    "so capture again"
                )
            raw.seek(0)
            return _check_stream(name, raw, head)
    except OSError as exc:
        raise CaptureFileError(_os_message(name, exc)) from None


def _check_stream(name: str, raw: BinaryIO, head: bytes) -> int:
    """Check the structure of an open capture file, looking through gzip if present; the
    number of packet records."""
    if head[:2] != _GZIP_MAGIC:
        return _check_records(_Reader(name, raw))
    try:
        with gzip.GzipFile(fileobj=raw) as unpacked:
            return _check_records(_Reader(name, unpacked, gzipped=True))
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise CaptureFileError(_corrupt(name, f"bad gzip data: {exc}")) from None


def _check_records(reader: _Reader) -> int:
    """Walk every record of a pcap or pcapng stream, refusing truncation and corruption; the
    number of packet records."""
    magic = reader.take(4, "the file header")
    if magic in _PCAP_MAGICS:
        _check_pcap(reader, _PCAP_MAGICS[magic])
    elif magic == _PCAPNG_SHB:
        _check_pcapng(reader)
    else:
        raise CaptureFileError(
            f"{reader.name}: not a pcap or pcapng capture file; give a file written by "
            "tcpdump -w, dumpcap, Wireshark or scapy"
        )
    return reader.packets


def _check_pcap(reader: _Reader, endian: str) -> None:
    """Walk the records of a classic pcap file after its magic number."""
    reader.take(20, "the file header")
    while reader.more():
        header = reader.take(16, "a packet header")
        caplen = struct.unpack(endian + "I", header[8:12])[0]
        if caplen > _MAX_CAPLEN:
            raise reader.corrupt(f"packet record claims {caplen} captured bytes")
        reader.take(caplen, "a packet's data")
        reader.packets += 1


def _check_pcapng(reader: _Reader) -> None:
    """Walk the blocks of a pcapng file whose first block type has been read."""
    block_type, endian = _PCAPNG_SHB, "<"
    while True:
        endian = _check_block(reader, block_type, endian)
        if struct.unpack(endian + "I", block_type)[0] in _PCAPNG_PACKET_BLOCKS:
            reader.packets += 1
        if not reader.more():
            return
        block_type = reader.take(4, "a block header")


def _check_block(reader: _Reader, block_type: bytes, endian: str) -> str:
    """Check one pcapng block after its type; return the byte order in force after it."""
    length_bytes = reader.take(4, "a block header")
    seen = 8
    if block_type == _PCAPNG_SHB:
        endian = _byte_order(reader, reader.take(4, "a section header"))
        seen = 12
    length = struct.unpack(endian + "I", length_bytes)[0]
    if length < seen + 4 or length % 4 or length > _MAX_BLOCK:
        raise reader.corrupt(f"a block claims a length of {length} bytes")
    reader.take(length - seen - 4, "a block body")
    trailer = struct.unpack(endian + "I", reader.take(4, "a block trailer"))[0]
    if trailer != length:
        raise reader.corrupt(f"a block's two lengths disagree ({length} and {trailer})")
    return endian


def _byte_order(reader: _Reader, magic: bytes) -> str:
    """The struct byte order named by a section header's byte-order magic."""
    if magic == b"\x1a\x2b\x3c\x4d":
        return ">"
    if magic == b"\x4d\x3c\x2b\x1a":
        return "<"
    raise reader.corrupt("bad byte-order magic in a section header")


class _Reader:
    """Sequential reads from a capture stream that report truncation as CaptureFileError."""

    def __init__(self, name: str, stream: BinaryIO, gzipped: bool = False) -> None:
        self.name = name
        self.stream = stream
        self.offset = 0
        self.packets = 0  # whole packet records walked so far
        self.gzipped = gzipped

    def take(self, count: int, what: str) -> bytes:
        """Exactly ``count`` bytes, or CaptureFileError saying where the file stops."""
        data = self.stream.read(count)
        self.offset += len(data)
        if len(data) < count:
            raise self.truncated(what)
        return data

    def truncated(self, what: str) -> CaptureFileError:
        """The one-line refusal of a file that stops inside ``what``, with what was whole."""
        where = f"byte {self.offset}" + (" of its gunzipped data" if self.gzipped else "")
        if what in _HEADERS and not self.packets:
            story = f"it ends inside {what}, before any packet"
        else:
            whole = {0: "no packet before it is", 1: "the 1 packet before it is"}.get(
                self.packets, f"the {self.packets} packets before it are")
            story = f"it ends inside {what}, so the last record is incomplete; {whole} whole"
        return CaptureFileError(
            f"{self.name}: the capture file is truncated at {where}: {story}; the capture "
            "was cut short or is still being written: let it finish, or capture again"
        )

    def more(self) -> bool:
        """Whether any byte is left to read."""
        peek = getattr(self.stream, "peek", None)
        if peek is not None:
            return bool(peek(1))
        return self._more_by_seek()

    def _more_by_seek(self) -> bool:
        """Whether a byte is left, for streams without peek."""
        here = self.stream.tell()
        left = bool(self.stream.read(1))
        self.stream.seek(here)
        return left

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
        return (
            f"{name}: permission denied reading the capture file; fix its permissions "
            "or read it as a user allowed to"
        )
    if isinstance(exc, IsADirectoryError):
        return f"{name}: is a directory, not a capture file; give the path of a pcap or pcapng"
    reason = exc.strerror or type(exc).__name__
    return f"{name}: cannot read the capture file ({reason}); check the file and try again"
