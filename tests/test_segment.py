"""Segments out of packets and capture files, and the conversations they form."""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import subprocess
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from frames import segment_of as segment_from_packet
from frames import segments_of as packets_to_segments
from scapy.layers.dot11 import Dot11, RadioTap
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, TCPerror
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop
from scapy.layers.l2 import ARP, LLC, SNAP, CookedLinux, CookedLinuxV2, Ether, Loopback
from scapy.layers.ppp import HDLC, PPP
from scapy.packet import Packet, Padding
from scapy.utils import wrpcap, wrpcapng

from harness.core.conversation import Conversation, pick, split_conversations
from harness.core.notation import ACK, AE, CWR, ECE, PSH, SYN
from harness.core.segment import Segment
from harness.pcap import reader as segment_module
from harness.pcap.reader import CaptureFileError
from harness.pcap.segments import read_capture

TCPDUMP = Path("/usr/bin/tcpdump")
TSHARK = shutil.which("tshark")
T0 = Decimal("1700000000.123456")
V4 = ("10.0.0.1", "10.0.0.2")
V6 = ("2001:db8::1", "2001:db8::2")
MAC = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}


def data_segment() -> TCP:
    """A PSH+ACK segment carrying five bytes."""
    return TCP(sport=40000, dport=5000, flags="PA", seq=1000, ack=2000, window=512) / b"hello"


LINKS: dict[str, Callable[[], Packet]] = {
    "ethernet": lambda: Ether(**MAC) / IP(src=V4[0], dst=V4[1]) / data_segment(),
    "ethernet-ipv6": lambda: Ether(**MAC) / IPv6(src=V6[0], dst=V6[1]) / data_segment(),
    "linux-sll": lambda: CookedLinux() / IP(src=V4[0], dst=V4[1]) / data_segment(),
    "linux-sll2": lambda: CookedLinuxV2() / IP(src=V4[0], dst=V4[1]) / data_segment(),
    "bsd-null": lambda: Loopback() / IP(src=V4[0], dst=V4[1]) / data_segment(),
    "raw-ipv4": lambda: IP(src=V4[0], dst=V4[1]) / data_segment(),
    "raw-ipv6": lambda: IPv6(src=V6[0], dst=V6[1]) / data_segment(),
    "ppp-hdlc": lambda: HDLC() / PPP() / IP(src=V4[0], dst=V4[1]) / data_segment(),
    "ieee802.11": lambda: Dot11(type=2, addr1=MAC["dst"], addr2=MAC["src"], addr3=MAC["dst"])
    / LLC() / SNAP() / IP(src=V4[0], dst=V4[1]) / data_segment(),
    "radiotap": lambda: RadioTap() / Dot11(type=2) / LLC() / SNAP() / IPv6(src=V6[0], dst=V6[1])
    / data_segment(),
}
WRITERS = {"pcap": wrpcap, "pcapng": wrpcapng}


def write(path: Path, packets: list[Packet], writer: Callable[..., None] = wrpcap,
          **options: object) -> Path:
    """Write packets with one-millisecond spacing from T0 and return the path."""
    for number, packet in enumerate(packets):
        packet.time = T0 + Decimal(number) / 1000
    writer(str(path), packets, **options)
    return path


def tcpdump_lines(path: Path) -> list[str]:
    """tcpdump's own reading of a file (skips the test when tcpdump is missing)."""
    if not TCPDUMP.exists():
        pytest.skip("/usr/bin/tcpdump is not installed")
    done = subprocess.run([str(TCPDUMP), "-n", "-r", str(path)], capture_output=True,
                          text=True, check=True, timeout=60)
    return done.stdout.splitlines()


# --- link layers and fields --------------------------------------------------------------


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("link", LINKS)
def test_every_link_layer_gives_the_same_segment(tmp_path: Path, link: str, writer: str) -> None:
    path = write(tmp_path / f"{link}.{writer}", [LINKS[link]()], WRITERS[writer])
    (seg,) = read_capture(path)
    family, (src, dst) = ("ipv6", V6) if link in ("ethernet-ipv6", "raw-ipv6", "radiotap") \
        else ("ipv4", V4)
    assert seg == Segment(time=seg.time, family=family, src=src, sport=40000, dst=dst,
                          dport=5000, flags=PSH | ACK, seq=1000, ack=2000, win=512, length=5,
                          index=1)
    assert seg.time == pytest.approx(float(T0), abs=1e-6)
    (line,) = tcpdump_lines(path)
    assert f"{src}.40000 > {dst}.5000: Flags [P.], seq 1000:1005" in line


def test_raw_ip_linktype_101_holds_both_families(tmp_path: Path) -> None:
    packets = [LINKS["raw-ipv4"](), LINKS["raw-ipv6"]()]
    path = write(tmp_path / "raw101.pcap", packets, linktype=101)
    assert [seg.family for seg in read_capture(path)] == ["ipv4", "ipv6"]
    assert [line.split()[1] for line in tcpdump_lines(path)] == ["IP", "IP6"]


def test_endpoints() -> None:
    seg = segment_from_packet(LINKS["ethernet"](), 7)
    assert seg is not None and seg.index == 7
    assert seg.endpoints == ((V4[0], 40000), (V4[1], 5000))


def test_ipv6_addresses_are_canonical() -> None:
    packet = IPv6(src="2001:0db8:0:0:0:0:0:0001", dst="0:0::1") / data_segment()
    seg = segment_from_packet(packet, 1)
    assert seg is not None and (seg.src, seg.dst) == ("2001:db8::1", "::1")


def test_ae_ece_and_cwr_bits_are_read() -> None:
    packet = IP(src=V4[0], dst=V4[1]) / TCP(flags=AE | CWR | ECE | SYN)
    seg = segment_from_packet(IP(bytes(packet)), 1)
    assert seg is not None and seg.flags == AE | CWR | ECE | SYN


def test_packet_built_by_hand_needs_no_dissection() -> None:
    seg = segment_from_packet(Ether() / IPv6() / IPv6ExtHdrHopByHop() / data_segment(), 1)
    assert seg is not None and seg.length == 5


# --- payload length ----------------------------------------------------------------------


def snapped(packet: Packet, snaplen: int) -> Packet:
    """``packet`` as a capture with the given snap length records it: cut, wire length kept."""
    whole = bytes(packet)
    cut = packet.__class__(whole[:snaplen])
    cut.wirelen = len(whole)
    return cut


def test_ethernet_padding_is_not_payload(tmp_path: Path) -> None:
    head = Ether(**MAC) / IP(src=V4[0], dst=V4[1])
    rst = head / TCP(sport=40000, dport=5000, flags="R", seq=5) / Padding(b"\0" * 6)
    short = head / TCP(sport=40000, dport=5000, flags="PA") / b"ab" / Padding(b"\0" * 4)
    path = write(tmp_path / "padded.pcap", [rst, short])
    assert [len(bytes(rst)), len(bytes(short))] == [60, 60]
    assert [seg.length for seg in read_capture(path)] == [0, 2]
    assert [line.rsplit(" ", 1)[1] for line in tcpdump_lines(path)] == ["0", "2"]


def test_snaplen_truncation_keeps_the_real_length(tmp_path: Path) -> None:
    big = Ether(**MAC) / IP(src=V4[0], dst=V4[1]) / data_segment() / (b"x" * 995)
    path = write(tmp_path / "snap.pcap", [snapped(big, 80)], snaplen=80)
    (seg,) = read_capture(path)
    assert seg.length == 1000
    (line,) = tcpdump_lines(path)
    assert line.endswith("length 1000")


def test_truncated_tcp_header_is_skipped(tmp_path: Path) -> None:
    packets = [snapped(LINKS["ethernet"](), 40), LINKS["ethernet"]()]
    path = write(tmp_path / "cut.pcap", packets, snaplen=40)
    assert [seg.index for seg in read_capture(path)] == [2]
    assert "[|tcp]" in tcpdump_lines(path)[0]


def test_ipv6_extension_headers_are_not_payload(tmp_path: Path) -> None:
    packet = Ether(**MAC) / IPv6(src=V6[0], dst=V6[1]) / IPv6ExtHdrHopByHop() / data_segment()
    (seg,) = read_capture(write(tmp_path / "ext.pcap", [packet]))
    assert seg.length == 5


def test_non_tcp_is_skipped_but_frames_keep_their_numbers(tmp_path: Path) -> None:
    ether = Ether(**MAC)
    packets = [
        ether / IP(src=V4[0], dst=V4[1]) / UDP(sport=53, dport=53) / b"dns?",
        LINKS["ethernet"](),
        ether / IP(src=V4[0], dst=V4[1]) / ICMP(),
        ether / ARP(),
        ether / IP(src=V4[1], dst=V4[0]) / ICMP(type=3, code=3) / IPerror(
            bytes(IP(src=V4[0], dst=V4[1]) / TCP())
        ),
        ether / IP(src=V4[1], dst=V4[0]) / TCPerror(sport=5000, dport=40000),
        LINKS["ethernet-ipv6"](),
    ]
    segments = read_capture(write(tmp_path / "mixed.pcap", packets))
    assert [seg.index for seg in segments] == [2, 7]
    assert packets_to_segments(packets) == [
        segment_from_packet(packets[1], 2), segment_from_packet(packets[6], 7)
    ]


def test_gzipped_capture_is_read(tmp_path: Path) -> None:
    plain = write(tmp_path / "plain.pcap", [LINKS["ethernet"]()])
    packed = tmp_path / "packed.pcap.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_capture(packed) == read_capture(plain)


def test_capture_with_no_packets_is_empty_list(tmp_path: Path) -> None:
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    path = tmp_path / "none.pcap"
    path.write_bytes(header)
    assert read_capture(path) == []


# --- unreadable files --------------------------------------------------------------------


def _good(tmp_path: Path, writer: Callable[..., None] = wrpcap) -> bytes:
    """The bytes of a small valid capture."""
    packets = [LINKS["ethernet"](), LINKS["ethernet"]()]
    return write(tmp_path / "good", packets, writer).read_bytes()


def _pcapng_with_bad_trailer(tmp_path: Path) -> bytes:
    """A pcapng whose last block's two length fields disagree."""
    data = bytearray(_good(tmp_path, wrpcapng))
    data[-4:] = struct.pack("<I", 4096)
    return bytes(data)


def _pcap_with_huge_record(tmp_path: Path) -> bytes:
    """A pcap whose first record claims a gigabyte of captured bytes."""
    data = bytearray(_good(tmp_path))
    data[24 + 8:24 + 12] = struct.pack("<I", 2**30)
    return bytes(data)


BAD_FILES: dict[str, tuple[Callable[[Path], bytes], str]] = {
    "empty": (lambda tmp: b"", "empty"),
    "text": (lambda tmp: b"this is not a capture\n" * 4, "not a pcap or pcapng"),
    "short-pcap-header": (lambda tmp: _good(tmp)[:10], "truncated"),
    "cut-pcap-record": (lambda tmp: _good(tmp)[:-7], "truncated"),
    "cut-pcap-record-header": (lambda tmp: _good(tmp)[:24 + 5], "truncated"),
    "cut-pcapng-block": (lambda tmp: _good(tmp, wrpcapng)[:-3], "truncated"),
    "pcapng-bad-trailer": (_pcapng_with_bad_trailer, "corrupt"),
    "pcap-huge-record": (_pcap_with_huge_record, "corrupt"),
    "bad-gzip": (lambda tmp: gzip.compress(_good(tmp))[:-12], "corrupt"),
}


def _assert_one_line_naming(exc: pytest.ExceptionInfo[CaptureFileError], path: Path) -> str:
    """The message of a CaptureFileError, checked to be one line that names the file."""
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert ";" in message, "the message should say what to do after the semicolon"
    return message


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_capture_file_gives_one_line(tmp_path: Path, case: str) -> None:
    make, words = BAD_FILES[case]
    path = tmp_path / f"{case}.pcap"
    path.write_bytes(make(tmp_path))
    with pytest.raises(CaptureFileError) as exc:
        read_capture(path)
    assert words in _assert_one_line_naming(exc, path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.pcap"
    with pytest.raises(CaptureFileError) as exc:
        read_capture(path)
    assert "no such capture file" in _assert_one_line_naming(exc, path)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(CaptureFileError) as exc:
        read_capture(tmp_path)
    assert "directory" in _assert_one_line_naming(exc, tmp_path)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "secret.pcap", [LINKS["ethernet"]()])
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: make open() refuse instead

        def refuse(*args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied", str(path))

        monkeypatch.setattr(segment_module, "open", refuse, raising=False)
    with pytest.raises(CaptureFileError) as exc:
        read_capture(path)
    assert "permission denied" in _assert_one_line_naming(exc, path)


# --- conversations -----------------------------------------------------------------------


def seg(src: tuple[str, int], dst: tuple[str, int], flags: int, seq: int = 0, ack: int = 0,
        index: int = 0, family: str = "ipv4") -> Segment:
    """A hand-made segment for conversation tests."""
    return Segment(time=float(index), family=family, src=src[0], sport=src[1], dst=dst[0],
                   dport=dst[1], flags=flags, seq=seq, ack=ack, win=100, length=0, index=index)


A, B = ("10.0.0.1", 40000), ("10.0.0.2", 5000)
C, D = ("10.0.0.3", 40001), ("10.0.0.2", 5000)
S, SA, AK, FA, RA, R = SYN, SYN | ACK, ACK, 0x11, 0x14, 0x04


def numbered(*segments: Segment) -> list[Segment]:
    """The segments with frame numbers 1, 2, ..."""
    return [Segment(**{**vars(one), "index": number, "time": float(number)})
            for number, one in enumerate(segments, start=1)]


def streams_of(conversations: list[Conversation]) -> list[int]:
    """The stream number of each frame, in frame order."""
    by_frame = {one.index: conv.index for conv in conversations for one in conv.segments}
    return [by_frame[frame] for frame in sorted(by_frame)]


def test_interleaved_connections_are_streams_0_and_1() -> None:
    segments = numbered(
        seg(A, B, S, 100), seg(C, D, S, 700), seg(B, A, SA, 500, 101), seg(D, C, SA, 900, 701),
        seg(A, B, AK, 101, 501), seg(C, D, AK, 701, 901), seg(A, B, FA, 101, 501),
        seg(D, C, RA, 901, 701),
    )
    first, second = split_conversations(segments)
    assert (first.index, first.client, first.server, first.client_known) == (0, A, B, True)
    assert (second.index, second.client, second.server, second.client_known) == (1, C, D, True)
    assert first.tokens() == [">S", "<S.", ">.", ">F."]
    assert second.tokens() == [">S", "<S.", ">.", "<R."]
    assert [first.direction(one) for one in first.segments] == [">", "<", ">", ">"]


def test_capture_starting_mid_stream_guesses_the_client() -> None:
    segments = numbered(seg(B, A, AK, 500, 101), seg(A, B, FA, 101, 501), seg(B, A, AK, 501, 102))
    (conv,) = split_conversations(segments)
    assert (conv.client, conv.server, conv.client_known) == (B, A, False)
    assert conv.tokens() == [">.", "<F.", ">."]


def test_port_reuse_after_reset_starts_a_new_stream() -> None:
    segments = numbered(
        seg(A, B, S, 100), seg(B, A, RA, 0, 101), seg(A, B, S, 5000), seg(B, A, SA, 800, 5001),
        seg(A, B, AK, 5001, 801),
    )
    old, new = split_conversations(segments)
    assert old.tokens() == [">S", "<R."]
    assert new.tokens() == [">S", "<S.", ">."]
    assert (new.index, new.client, new.client_known) == (1, A, True)


def test_port_reuse_after_fin_starts_a_new_stream() -> None:
    segments = numbered(
        seg(A, B, S, 100), seg(B, A, SA, 500, 101), seg(A, B, FA, 101, 501),
        seg(B, A, FA, 501, 102), seg(A, B, AK, 102, 502), seg(A, B, S, 9000),
    )
    assert streams_of(split_conversations(segments)) == [0, 0, 0, 0, 0, 1]


def test_retransmitted_syn_stays_in_its_stream() -> None:
    segments = numbered(seg(A, B, S, 100), seg(A, B, S, 100), seg(B, A, RA, 0, 101),
                        seg(A, B, S, 100))
    assert streams_of(split_conversations(segments)) == [0, 0, 0, 0]


def test_same_ports_in_other_family_is_another_stream() -> None:
    segments = numbered(seg(A, B, S, 1), seg(A, B, S, 1, family="ipv6"))
    assert streams_of(split_conversations(segments)) == [0, 1]


def test_no_segments_no_conversations() -> None:
    assert split_conversations([]) == []


def test_pick() -> None:
    conversations = split_conversations(numbered(seg(A, B, S, 1), seg(C, D, S, 2)))
    assert pick(conversations, None) is conversations[0]
    assert pick(conversations, 1) is conversations[1]
    with pytest.raises(LookupError, match=r"^stream 3 not found: the capture holds streams 0-1$"):
        pick(conversations, 3)
    with pytest.raises(LookupError, match=r"^stream 1 not found: the capture holds stream 0$"):
        pick(conversations[:1], 1)
    with pytest.raises(LookupError, match="no TCP stream"):
        pick([], None)


# --- agreement with Wireshark ------------------------------------------------------------


def _wireshark_scenarios() -> list[Packet]:
    """Connections, reuses and retransmissions whose stream numbers tshark decides."""
    def pkt(src: tuple[str, int], dst: tuple[str, int], flags: str, seq: int = 0,
            ack: int = 0) -> Packet:
        return (Ether(**MAC) / IP(src=src[0], dst=dst[0])
                / TCP(sport=src[1], dport=dst[1], flags=flags, seq=seq, ack=ack))

    E, F = ("10.0.0.5", 40002), ("10.0.0.6", 5001)
    return [
        pkt(A, B, "S", 100), pkt(B, A, "SA", 500, 101), pkt(C, D, "S", 700),
        pkt(A, B, "A", 101, 501), pkt(D, C, "RA", 0, 701), pkt(C, D, "S", 700),
        pkt(C, D, "S", 9000), pkt(A, B, "FA", 101, 501), pkt(B, A, "FA", 501, 102),
        pkt(A, B, "A", 102, 502), pkt(A, B, "S", 3000), pkt(B, A, "SA", 7000, 3001),
        pkt(E, F, "PA", 50, 60), pkt(F, E, "A", 60, 51), pkt(E, F, "S", 49),
        pkt(E, F, "S", 12345), pkt(A, B, "S", 3000), pkt(A, B, "S", 4000),
    ]


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed: nothing to compare with")
def test_stream_numbers_match_tshark(tmp_path: Path) -> None:
    path = write(tmp_path / "streams.pcap", _wireshark_scenarios())
    done = subprocess.run(
        [str(TSHARK), "-n", "-r", str(path), "-T", "fields", "-e", "tcp.stream"],
        capture_output=True, text=True, check=True, timeout=120,
    )
    theirs = [int(field) for field in done.stdout.split()]
    assert streams_of(split_conversations(read_capture(path))) == theirs
