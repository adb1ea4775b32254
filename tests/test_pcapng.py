"""Our pcapng writer and reader: round trips, the bytes themselves, and what other tools see."""

from __future__ import annotations

import json
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.utils import PcapNgReader

from harness.pcap.model import Interface, PcapngFile, Record, Section
from harness.pcap.reader import parse_pcapng, read_pcapng
from harness.pcap.writer import pcapng_bytes, write_pcapng

T0 = 1700000000.123456
SECTION = Section(hardware="x86_64 (QEMU Virtual CPU)", os="Linux 6.1.0-28-amd64",
                  application="tcp-close-harness 0.1.0",
                  comments=("scenario: server abort", "naïve résumé ✓"))
INTERFACE = Interface(name="lo", description="lo of netns harness-abc: client 10.0.0.1:40000, "
                      "server 10.0.0.2:5000", os="Linux 6.1.0-28-amd64")
# 1 to 5 bytes long, so that every amount of padding occurs, then multi-byte UTF-8
PADDING_COMMENTS = ("a", "ab", "abc", "abcd", "abcde")
TEXT_COMMENTS = ("ü", "✓", "日本語", "🦈", "step 3: close() = 0, then RST", "two\nlines")


def frame(flags: str, sport: int = 40000, dport: int = 5000, payload: bytes = b"") -> Packet:
    """An Ethernet/IPv4/TCP frame from the client to the server (or back, ports swapped)."""
    return (Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
            / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=sport, dport=dport, flags=flags)
            / payload)


def records() -> list[Record]:
    """Three records: many comments, one comment, none."""
    return [Record(bytes(frame("S")), T0, PADDING_COMMENTS + TEXT_COMMENTS),
            Record(bytes(frame("SA", 5000, 40000, b"x" * 3)), T0 + 0.000517, ("SYN-ACK",)),
            Record(bytes(frame("A", payload=b"y")), T0 + 1.5)]


def assert_same_records(read: tuple[Record, ...], written: list[Record]) -> None:
    """Same bytes and comments, times within a microsecond."""
    assert [(r.data, r.comments) for r in read] == [(r.data, r.comments) for r in written]
    for got, wanted in zip(read, written, strict=True):
        assert got.time == pytest.approx(wanted.time, abs=1e-6)


@pytest.fixture
def written(tmp_path: Path) -> Path:
    """A file with the section, the interface and the three records."""
    return write_pcapng(tmp_path / "sub" / "dir" / "run.pcapng", records(), SECTION, INTERFACE)


# -- round trips ---------------------------------------------------------------------------


def test_round_trip_keeps_section_interface_records_and_comments(written: Path) -> None:
    read = read_pcapng(written)
    assert read.sections == (SECTION,)
    assert read.section == SECTION
    assert read.interfaces == (INTERFACE,)
    assert_same_records(read.records, records())


@pytest.mark.parametrize("tsresol", [6, 9, 0x80 | 20, 0x80 | 30],
                         ids=["us", "ns", "2^-20", "2^-30"])
def test_timestamps_survive_every_resolution(tmp_path: Path, tsresol: int) -> None:
    interface = Interface(name="lo", tsresol=tsresol)
    read = read_pcapng(write_pcapng(tmp_path / "t.pcapng", records(), interface=interface))
    assert read.interfaces == (interface,)
    assert_same_records(read.records, records())


def test_zero_records_make_a_file_of_a_section_and_an_interface(tmp_path: Path) -> None:
    path = write_pcapng(tmp_path / "empty.pcapng", [])
    assert path.read_bytes() == bytes.fromhex(
        "0a0d0d0a 1c000000 4d3c2b1a 0100 0000 ffffffffffffffff 1c000000"  # SHB, no options
        "01000000 14000000 0100 0000 00000400 14000000")  # IDB: Ethernet, snaplen 262144
    assert read_pcapng(path) == PcapngFile((Section(),), (Interface(),), ())


def test_blocks_are_whole_and_options_padded_and_ended(written: Path) -> None:
    blocks = list(_walk(written.read_bytes()))
    assert [kind for kind, _ in blocks] == [0x0A0D0D0A, 1, 6, 6, 6]
    shb_options = _options(blocks[0][1][16:])
    assert shb_options[-1] == (0, b"")
    assert {code for code, _ in shb_options} == {0, 1, 2, 3, 4}
    assert {code for code, _ in _options(blocks[1][1][8:])} == {0, 2, 3, 12}  # no if_tsresol
    comments = _options(blocks[2][1][20 + 56:])  # the SYN frame is 54 bytes, padded to 56
    assert [value.decode() for _, value in comments[:-1]] == [*PADDING_COMMENTS, *TEXT_COMMENTS]
    assert blocks[4][1][20 + 55:] == b"\x00"  # last packet: 55 bytes + 1 padding, no options


def _walk(data: bytes) -> list[tuple[int, bytes]]:
    """(type, body) of each little-endian block, checking both lengths and the alignment."""
    found, offset = [], 0
    while offset < len(data):
        kind, length = struct.unpack_from("<II", data, offset)
        assert length % 4 == 0 and data[offset + length - 4:offset + length] == data[
            offset + 4:offset + 8]
        found.append((kind, data[offset + 8:offset + length - 4]))
        offset += length
    return found


def _options(raw: bytes) -> list[tuple[int, bytes]]:
    found, offset = [], 0
    while offset < len(raw):
        code, length = struct.unpack_from("<HH", raw, offset)
        found.append((code, raw[offset + 4:offset + 4 + length]))
        assert raw[offset + 4 + length:offset + 4 + length + (-length % 4)].strip(b"\0") == b""
        offset += 4 + length + (-length % 4)
        if code == 0:
            assert offset == len(raw)
    return found


def test_packets_longer_than_snaplen_are_cut(tmp_path: Path) -> None:
    long = Record(bytes(frame("PA", payload=b"z" * 100)), T0)
    path = write_pcapng(tmp_path / "cut.pcapng", [long], interface=Interface(snaplen=64))
    assert read_pcapng(path).records[0].data == long.data[:64]
    assert struct.unpack_from("<II", path.read_bytes(), 48 + 20)[0] == 64  # caplen
    assert struct.unpack_from("<I", path.read_bytes(), 48 + 24)[0] == len(long.data)  # origlen


def test_bytes_without_a_file_are_the_same(written: Path) -> None:
    data = pcapng_bytes(records(), SECTION, INTERFACE)
    assert data == written.read_bytes()
    assert parse_pcapng(data) == read_pcapng(written)


def test_an_option_too_long_for_its_length_field_is_refused() -> None:
    with pytest.raises(ValueError, match="65535"):
        pcapng_bytes([Record(b"x", T0, ("c" * 70000,))])


def test_something_that_is_no_packet_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"expected a Record or a packet with \.time"):
        write_pcapng(tmp_path / "x.pcapng", [b"raw bytes have no time"])


# -- scapy packets, as harness/lab.py passes them -------------------------------------------


def scapy_frames() -> list[Packet]:
    """Frames as the capture gives them: times set, and one with scapy's own comments."""
    packets = [frame("S"), frame("SA", 5000, 40000), frame("A", payload=b"hello")]
    for number, pkt in enumerate(packets):
        pkt.time = T0 + number / 1000
    packets[1].comments = [b"from scapy", "also str ✓".encode()]
    return packets


def test_scapy_packets_are_written_and_scapy_reads_them_back(tmp_path: Path) -> None:
    packets = scapy_frames()
    path = write_pcapng(tmp_path / "scapy.pcapng", packets)
    with PcapNgReader(str(path)) as reader:
        back = list(reader)
    assert [bytes(p) for p in back] == [bytes(p) for p in packets]
    assert [float(p.time) for p in back] == pytest.approx([float(p.time) for p in packets],
                                                          abs=1e-6)
    assert [p.comments for p in back] == [None, [b"from scapy", "also str ✓".encode()], None]


def test_scapy_shows_our_comments(tmp_path: Path) -> None:
    path = write_pcapng(tmp_path / "c.pcapng", records(), SECTION, INTERFACE)
    with PcapNgReader(str(path)) as reader:
        back = list(reader)
    assert [[c.decode() for c in p.comments or []] for p in back] == [
        list(r.comments) for r in records()]


# -- other readers: byte order, resolutions in powers of two, sections, unknown blocks ------


def _block_be(kind: int, body: bytes) -> bytes:
    body += bytes(-len(body) % 4)
    return struct.pack(">II", kind, 12 + len(body)) + body + struct.pack(">I", 12 + len(body))


def _option_be(code: int, value: bytes) -> bytes:
    return struct.pack(">HH", code, len(value)) + value + bytes(-len(value) % 4)


def big_endian_file() -> bytes:
    """A big-endian section, written by hand: 2^-10 s units, a block type we do not know."""
    shb = struct.pack(">IHHq", 0x1A2B3C4D, 1, 0, -1) + _option_be(4, b"other tool") + bytes(4)
    idb = struct.pack(">HHI", 1, 0, 0) + _option_be(9, b"\x8a") + bytes(4)
    units = 1700000000 * 1024 + 512
    epb = (struct.pack(">IIIII", 0, units >> 32, units & 0xFFFFFFFF, 3, 3) + b"abc\0"
           + _option_be(1, b"big") + _option_be(1, b"endian") + bytes(4))
    unknown = _block_be(0x0BAD, b"ignore me")
    return (_block_be(0x0A0D0D0A, shb) + _block_be(1, idb) + unknown
            + _block_be(6, epb))


def test_a_big_endian_file_with_binary_resolution_is_read() -> None:
    read = parse_pcapng(big_endian_file())
    assert read.section == Section(application="other tool")
    assert read.interfaces == (Interface(snaplen=0, tsresol=0x8A),)
    assert read.records == (Record(b"abc", 1700000000.5, ("big", "endian")),)


def test_concatenated_files_give_every_section(tmp_path: Path) -> None:
    ours = pcapng_bytes(records(), SECTION, INTERFACE)
    read = parse_pcapng(ours + big_endian_file() + ours, "joined")
    assert read.sections == (SECTION, Section(application="other tool"), SECTION)
    assert [i.name for i in read.interfaces] == ["lo", "", "lo"]
    assert [r.comments for r in read.records][3] == ("big", "endian")
    assert len(read.records) == 7


# -- refusing what is not a whole pcapng file ----------------------------------------------


def _bad_files(good: bytes) -> dict[str, tuple[bytes, str]]:
    """Damaged versions of a good file, each with the problem its error must name."""
    header = struct.unpack_from("<I", good, 4)[0] if good else 0
    return {
        "empty": (b"", "the capture file is empty (0 bytes)"),
        "random": (random.Random(7).randbytes(64), "not a pcap or pcapng capture file"),
        "classic pcap": (bytes.fromhex("d4c3b2a1") + bytes(20), "classic pcap file"),
        "only a block start": (good[:8], "truncated at byte 8: it ends inside a section "
                                         "header, before any packet"),
        "truncated in a packet": (good[:len(good) - 30], "truncated at byte"),
        "cut after the header": (good[:header + 10], f"truncated at byte {header + 10}: it "
                                                     "ends inside a block body"),
        "bad trailer": (good[:-4] + b"\xff\xff\xff\xff", "ends with length"),
        "bad byte order": (good[:8] + b"\0\0\0\0" + good[12:], "bad byte-order magic"),
        "bad length": (good[:4] + struct.pack("<I", 13) + good[8:], "bad block length 13"),
    }


@pytest.mark.parametrize("case", list(_bad_files(b"")))
def test_bad_files_raise_value_error_naming_the_file(tmp_path: Path, case: str) -> None:
    good = pcapng_bytes(records(), SECTION, INTERFACE)
    data, problem = _bad_files(good)[case]
    path = tmp_path / "bad.pcapng"
    path.write_bytes(data)
    with pytest.raises(ValueError) as raised:
        read_pcapng(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert problem in message


def test_a_packet_of_an_undescribed_interface_is_refused() -> None:
    good = bytearray(pcapng_bytes(records()))
    good[48 + 8:48 + 12] = struct.pack("<I", 3)  # the first packet's interface number
    with pytest.raises(ValueError, match="interface 3, which is not described"):
        parse_pcapng(bytes(good), "x.pcapng")


# -- what Wireshark's and tcpdump's readers make of our files --------------------------------


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: apt-get install "
                    f"{'tcpdump' if name == 'tcpdump' else 'tshark'})")
    return path


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    """Run a tool; fail the test, with its stderr, unless it exits 0."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"{' '.join(command)}: exit {done.returncode}: {done.stderr}"
    return done


def _complaints(stderr: str) -> list[str]:
    """stderr lines other than tshark's warning about running as root."""
    return [line for line in stderr.splitlines()
            if line.strip() and not line.startswith("Running as user")]


def test_tshark_shows_every_comment_of_every_frame(written: Path) -> None:
    tshark = _tool("tshark")
    done = _run(tshark, "-r", str(written), "-T", "fields", "-e", "frame.comment")
    lines = done.stdout.split("\n")[:-1]
    assert len(lines) == 3 and not _complaints(done.stderr)
    for line, record in zip(lines, records(), strict=True):
        for comment in record.comments:  # joined with "," and newlines shown as \n
            assert comment.replace("\n", "\\n") in line
    assert lines[2] == ""


def test_tshark_json_gives_the_comments_exactly(written: Path) -> None:
    tshark = _tool("tshark")
    done = _run(tshark, "-r", str(written), "-T", "json", "-e", "frame.comment")
    frames = [f["_source"]["layers"].get("frame.comment", []) for f in json.loads(done.stdout)]
    assert frames == [list(r.comments) for r in records()]


@pytest.mark.parametrize("count", [0, 3])
def test_tshark_reads_the_file_without_complaint(tmp_path: Path, count: int) -> None:
    tshark = _tool("tshark")
    path = write_pcapng(tmp_path / "f.pcapng", records()[:count], SECTION, INTERFACE)
    done = _run(tshark, "-r", str(path), "-T", "fields", "-e", "frame.number")
    assert done.stdout.split() == [str(n) for n in range(1, count + 1)]
    assert not _complaints(done.stderr)


def test_capinfos_shows_the_section_and_the_interface(written: Path) -> None:
    capinfos = _tool("capinfos")
    out = _run(capinfos, str(written)).stdout
    for line in ("Capture hardware:    x86_64 (QEMU Virtual CPU)",
                 "Capture oper-sys:    Linux 6.1.0-28-amd64",
                 "Capture application: tcp-close-harness 0.1.0",
                 "Capture comment:     scenario: server abort",
                 "Capture comment:     naïve résumé ✓",
                 "Name = lo",
                 f"Description = {INTERFACE.description}",
                 "Operating system = Linux 6.1.0-28-amd64",
                 "Number of packets:   3"):
        assert line in out


@pytest.mark.parametrize("count", [0, 3])
def test_tcpdump_prints_one_line_per_packet(tmp_path: Path, count: int) -> None:
    tcpdump = _tool("tcpdump")
    path = write_pcapng(tmp_path / "f.pcapng", records()[:count], SECTION, INTERFACE)
    done = _run(tcpdump, "-r", str(path), "-n")
    lines = done.stdout.splitlines()
    assert len(lines) == count
    assert all(" IP 10.0.0.1." in line or " IP 10.0.0.2." in line for line in lines)
    assert "link-type EN10MB" in done.stderr
