"""The TCP options a segment keeps: the SYN's MSS and window scale, read from the option list
as RFC 9293 and RFC 7323 lay it out, and nothing invented when the list is absent or broken."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from frames import segment_of
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw
from scapy.utils import wrpcap

from harness.core.segment import Segment, segment_from_frame

TCPDUMP = shutil.which("tcpdump")
LINUX_SYN = [("MSS", 65495), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None),
             ("WScale", 10)]


def _syn(options: list, family: str = "ipv4") -> Segment:
    ip = IP(src="10.0.0.1", dst="10.0.0.2") if family == "ipv4" else IPv6(src="::1", dst="::2")
    seg = segment_of(ip / TCP(sport=40000, dport=5000, flags="S", options=options), 1)
    assert seg is not None
    return seg


def _raw_options(options: bytes) -> Segment:
    """A SYN whose option bytes are exactly options (padded to whole words with zeros)."""
    padded = options + b"\0" * (-len(options) % 4)
    tcp = TCP(sport=40000, dport=5000, flags="S", dataofs=5 + len(padded) // 4)
    seg = segment_of(IP(src="10.0.0.1", dst="10.0.0.2") / tcp / Raw(padded), 1)
    assert seg is not None
    return seg


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_linux_syn_options_give_mss_and_wscale(family: str) -> None:
    seg = _syn(LINUX_SYN, family)
    assert (seg.mss, seg.wscale, seg.length) == (65495, 10, 0)


def test_each_option_alone() -> None:
    assert (_syn([("MSS", 1460)]).mss, _syn([("MSS", 1460)]).wscale) == (1460, None)
    assert (_syn([("WScale", 7)]).mss, _syn([("WScale", 7)]).wscale) == (None, 7)
    assert _syn([("WScale", 0)]).wscale == 0  # a shift of 0 is an option, not its absence


def test_a_segment_without_options_has_none() -> None:
    seg = segment_of(IP() / TCP(flags="A") / b"data", 1)
    assert seg is not None and (seg.mss, seg.wscale, seg.length) == (None, None, 4)


def test_a_segment_built_by_hand_has_no_options() -> None:
    seg = Segment(0.0, "ipv4", "10.0.0.1", 1, "10.0.0.2", 2, 0x02, 0, 0, 0, 0, 1)
    assert (seg.mss, seg.wscale) == (None, None)


@pytest.mark.parametrize(
    ("options", "mss", "wscale"),
    [
        (b"\x02\x04\x05\xb4\x01\x03\x03\x07", 1460, 7),  # MSS, NOP, WScale
        (b"\x00\x02\x04\x05\xb4", None, None),  # end of list first: nothing after it counts
        (b"\x02\x04\x05\xb4\x00\x03\x03\x07", 1460, None),  # end of list between them
        (b"\x02\x00\x05\xb4\x03\x03\x07", None, None),  # a length of 0: the list breaks off
        (b"\x02\x01\x03\x03\x07", None, None),  # a length of 1 cannot be
        (b"\x02\x03\x05\x03\x03\x07", None, 7),  # an MSS of the wrong size is not an MSS
        (b"\x03\x04\x07\x00\x02\x04\x05\xb4", 1460, None),  # nor a window scale
        (b"\x01\x01\x01\x03\x03\x0e", None, 14),  # NOPs are one byte each
        (b"\x08\x0a" + b"\0" * 8 + b"\x02\x04\x05\xb4", 1460, None),  # after a timestamp
        (b"\x02\x04\x05\xb4\x03\x09\x07", 1460, None),  # a length past the header's end
        (b"\xfe\x04\xff\xff\x02\x04\x00\x00", 0, None),  # unknown kind skipped; MSS 0 kept
    ],
)
def test_malformed_option_lists(options: bytes, mss: int | None, wscale: int | None) -> None:
    seg = _raw_options(options)
    assert (seg.mss, seg.wscale) == (mss, wscale)


def test_options_cut_by_the_snap_length_are_read_up_to_the_cut() -> None:
    frame = bytes(IP(src="10.0.0.1", dst="10.0.0.2")
                  / TCP(flags="S", options=[("MSS", 1460), ("NOP", None), ("WScale", 7)]))
    whole = segment_from_frame(frame, 101, 0.0, 1)
    cut = segment_from_frame(frame[:20 + 20 + 5], 101, 0.0, 1)  # IP, TCP, MSS and the NOP
    assert whole is not None and (whole.mss, whole.wscale) == (1460, 7)
    assert cut is not None and (cut.mss, cut.wscale, cut.length) == (1460, None, 0)


def test_a_data_offset_below_five_words_reads_no_options() -> None:
    frame = bytearray(bytes(IP(src="10.0.0.1", dst="10.0.0.2")
                            / TCP(flags="S", options=[("MSS", 1460)])))
    frame[20 + 12] = 0x20  # data offset 2 words: impossible, so there is no option list
    seg = segment_from_frame(bytes(frame), 101, 0.0, 1)
    assert seg is not None and (seg.mss, seg.wscale) == (None, None)


@pytest.mark.skipif(TCPDUMP is None, reason="tcpdump is not installed")
def test_tcpdump_reads_the_same_options(tmp_path: Path) -> None:
    packets = [IP(src="10.0.0.1", dst="10.0.0.2") / TCP(flags="S", options=LINUX_SYN),
               IP(src="10.0.0.2", dst="10.0.0.1") / TCP(flags="SA", options=[("MSS", 1460)])]
    wrpcap(str(tmp_path / "syn.pcap"), packets)
    done = subprocess.run([str(TCPDUMP), "-n", "-r", str(tmp_path / "syn.pcap")],
                          capture_output=True, text=True, check=True, timeout=60)
    first, second = done.stdout.splitlines()
    assert "mss 65495," in first and "wscale 10]" in first
    assert "options [mss 1460]" in second and "wscale" not in second
    assert [(s.mss, s.wscale) for s in (segment_of(p, 1) for p in packets) if s] == [
        (65495, 10), (1460, None)]
