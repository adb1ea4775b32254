"""A connection's Packets (harness.core.packet, Conversation.packets()): the numbers are the
listing's, the times whole microseconds since the first and the previous packet, the options
the SYN's."""

from __future__ import annotations

import re
from decimal import Decimal

from frames import segments_of
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6

from harness.core.conversation import split_conversations
from harness.core.listing import tcpdump_lines
from harness.core.packet import Packet, PacketBuilder

T0 = Decimal("1700000000.000001")
CLIENT, SERVER = ("10.0.0.1", 40123), ("10.0.0.2", 5000)


def _exchange(v6: bool = False) -> list:
    """A handshake with options, 100 bytes each way, and an RST from the server."""
    addresses = {CLIENT: "2001:db8::1", SERVER: "2001:db8::2"} if v6 else {
        CLIENT: CLIENT[0], SERVER: SERVER[0]}

    def pkt(src: tuple, dst: tuple, flags: str, seq: int, ack: int, data: bytes = b"",
            options: list | None = None, at: str = "0") -> object:
        ip = (IPv6(src=addresses[src], dst=addresses[dst]) if v6
              else IP(src=addresses[src], dst=addresses[dst]))
        frame = ip / TCP(sport=src[1], dport=dst[1], flags=flags, seq=seq, ack=ack,
                         window=512, options=options or []) / data
        frame.time = T0 + Decimal(at)
        return frame

    return [
        pkt(CLIENT, SERVER, "S", 1000, 0, options=[("MSS", 1460), ("NOP", None),
                                                   ("WScale", 7)]),
        pkt(SERVER, CLIENT, "SA", 5000, 1001, options=[("MSS", 1400)], at="0.300204"),
        pkt(CLIENT, SERVER, "A", 1001, 5001, at="0.300250"),
        pkt(CLIENT, SERVER, "PA", 1001, 5001, b"x" * 100, at="0.4"),
        pkt(SERVER, CLIENT, "A", 5001, 1101, at="0.400001"),
        pkt(SERVER, CLIENT, "PA", 5001, 1101, b"y" * 100, at="0.5"),
        pkt(SERVER, CLIENT, "RA", 5101, 1101, at="1.5"),
    ]


def _listed(line: str, word: str) -> int | None:
    found = re.search(rf"\b{word} (\d+)", line)
    return int(found.group(1)) if found else None


def test_seq_and_ack_are_the_numbers_the_listing_prints() -> None:
    (conv,) = split_conversations(segments_of(_exchange()))
    packets = conv.packets()
    lines = tcpdump_lines(list(conv.segments))
    for got, line in zip(packets, lines, strict=True):
        if _listed(line, "seq") is not None:
            assert got.seq == _listed(line, "seq"), line
        if _listed(line, "ack") is not None:
            assert got.ack == _listed(line, "ack"), line
    assert [(p.seq, p.ack) for p in packets] == [
        (1000, 0), (5000, 1001), (1, 1), (1, 1), (1, 101), (1, 101), (101, 101)]


def test_each_packets_facts() -> None:
    (conv,) = split_conversations(segments_of(_exchange(v6=True)))
    packets = conv.packets()
    assert [p.token for p in packets] == conv.tokens()
    assert packets[0] == Packet(token=">S", seq=1000, ack=0, len=0, win=512, mss=1460,
                                wscale=7, sport=40123, dport=5000, t=0.0, dt=0.0, number=1)
    assert (packets[1].mss, packets[1].wscale, packets[1].sport, packets[1].dport) == (
        1400, None, 5000, 40123)
    assert [p.len for p in packets] == [0, 0, 0, 100, 0, 100, 0]
    assert [p.number for p in packets] == list(range(1, 8))


def test_times_are_whole_microseconds_since_the_first_and_the_previous_packet() -> None:
    (conv,) = split_conversations(segments_of(_exchange()))
    packets = conv.packets()
    assert [p.t for p in packets] == [0.0, 0.300204, 0.30025, 0.4, 0.400001, 0.5, 1.5]
    assert [p.dt for p in packets] == [0.0, 0.300204, 0.000046, 0.09975, 0.000001, 0.099999,
                                       1.0]


def test_a_builder_fed_one_segment_at_a_time_gives_the_same_packets() -> None:
    (conv,) = split_conversations(segments_of(_exchange()))
    builder = PacketBuilder(conv.client)
    assert [builder.add(seg) for seg in conv.segments] == conv.packets()


def test_a_connection_seen_from_the_middle_numbers_from_its_first_packet() -> None:
    (conv,) = split_conversations(segments_of(_exchange()[3:]))
    packets = conv.packets()
    assert (packets[0].token, packets[0].seq, packets[0].t, packets[0].dt) == (">P.", 1001, 0.0,
                                                                               0.0)
    assert [p.seq for p in packets[1:]] == [1, 1, 101]
