"""Our tcpdump-style listing, checked line by line against the installed tcpdump."""

from __future__ import annotations

import random
import re
import subprocess
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Padding
from scapy.utils import wrpcap

from harness.core.listing import tcpdump_lines
from harness.core.notation import AE, flags_to_str
from harness.core.segment import Segment
from harness.pcap.segments import read_capture

TCPDUMP = Path("/usr/bin/tcpdump")

pytestmark = pytest.mark.skipif(
    not TCPDUMP.exists(), reason="/usr/bin/tcpdump is not installed: nothing to compare with"
)

LINE = re.compile(
    r"^(?P<time>\S+) (?P<family>IP6?) (?P<src>\S+)\.(?P<sport>\d+) > "
    r"(?P<dst>\S+)\.(?P<dport>\d+): Flags \[(?P<flags>[^\]]*)\]"
    r"(?:, seq (?P<seq>\d+)(?::(?P<seq_end>\d+))?)?"
    r"(?:, ack (?P<ack>\d+))?"
    r", win (?P<win>\d+)"
    r"(?:, urg \d+)?"
    r"(?:, options \[[^\]]*\])?"
    r", length (?P<length>\d+)$"
)
FIELDS = ("family", "src", "sport", "dst", "dport", "flags", "seq", "seq_end", "ack", "win")
SYN_OPTIONS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None), ("WScale", 7)]

Lower = Callable[[str, str], Packet]


def ether_v4(src: str, dst: str) -> Packet:
    """Ethernet and IPv4 headers."""
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=src, dst=dst)


def ether_v6(src: str, dst: str) -> Packet:
    """Ethernet and IPv6 headers."""
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IPv6(src=src, dst=dst)


class Flow:
    """Builds the packets of one scripted TCP connection with consistent seq and ack."""

    def __init__(
        self, lower: Lower, client: tuple[str, int], server: tuple[str, int], isns: tuple[int, int]
    ) -> None:
        self.lower = lower
        self.ends = {True: client, False: server}
        self.next_seq = {True: isns[0], False: isns[1]}

    def pkt(self, from_client: bool, flags: str, data: bytes = b"", **tcp: object) -> Packet:
        """The next packet one side sends; SYN, FIN and data advance its sequence number."""
        (src, sport), (dst, dport) = self.ends[from_client], self.ends[not from_client]
        seq = self.next_seq[from_client]
        ack = self.next_seq[not from_client] if "A" in flags else 0
        header = TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, **tcp)
        self.next_seq[from_client] = (seq + len(data) + _consumed(flags)) % 2**32
        packet = self.lower(src, dst) / header
        return packet / data if data else packet

    def handshake(self) -> list[Packet]:
        """SYN, SYN-ACK, ACK."""
        return [
            self.pkt(True, "S", options=SYN_OPTIONS),
            self.pkt(False, "SA", options=SYN_OPTIONS),
            self.pkt(True, "A"),
        ]

    def exchange(self, count: int, size: int) -> list[Packet]:
        """``count`` client data segments, each acknowledged by the server."""
        packets = []
        for number in range(count):
            packets.append(self.pkt(True, "PA", bytes([65 + number]) * size))
            packets.append(self.pkt(False, "A"))
        return packets

    def close(self) -> list[Packet]:
        """FIN from the client, its ACK, FIN from the server, its ACK."""
        return [
            self.pkt(True, "FA"),
            self.pkt(False, "A"),
            self.pkt(False, "FA"),
            self.pkt(True, "A"),
        ]


def _consumed(flags: str) -> int:
    """Sequence space taken by SYN and FIN."""
    return ("S" in flags) + ("F" in flags)


def _interleave(rng: random.Random, *streams: list[Packet]) -> list[Packet]:
    """Merge packet lists at random while keeping each list's own order."""
    queues = [list(stream) for stream in streams if stream]
    merged = []
    while queues:
        queue = rng.choice(queues)
        merged.append(queue.pop(0))
        if not queue:
            queues.remove(queue)
    return merged


def _stamp(packets: list[Packet], rng: random.Random) -> list[Packet]:
    """Give packets increasing, microsecond-exact capture times."""
    micros = 1_700_000_000 * 10**6 + rng.randrange(10**6)
    for packet in packets:
        micros += rng.randrange(1, 40_000)
        packet.time = Decimal(micros) / 10**6
    return packets


def full_close(rng: random.Random) -> list[Packet]:
    """Handshake with random ISNs, three data segments with ACKs, FIN each way."""
    flow = Flow(ether_v4, ("10.0.0.1", 40001), ("10.0.0.2", 5000), _isns(rng))
    return flow.handshake() + flow.exchange(3, 100) + flow.close()


def reset_close(rng: random.Random) -> list[Packet]:
    """Handshake, data, then RST+ACK from the server and a bare RST (padded) from the client."""
    flow = Flow(ether_v4, ("10.0.0.1", 40002), ("10.0.0.2", 5000), _isns(rng))
    packets = flow.handshake() + flow.exchange(1, 10)
    packets.append(flow.pkt(False, "RA"))
    packets.append(flow.pkt(True, "R") / Padding(b"\x00" * 6))
    return packets


def ipv6_close(rng: random.Random) -> list[Packet]:
    """An IPv6 connection whose addresses exercise tcpdump's zero compression."""
    flow = Flow(ether_v6, ("2001:db8::1", 40003), ("2001:db8:0:0:1:0:0:2", 5000), _isns(rng))
    return flow.handshake() + flow.exchange(2, 30) + flow.close()


def ipv6_loopback(rng: random.Random) -> list[Packet]:
    """An IPv6 loopback connection that ends with a reset."""
    flow = Flow(ether_v6, ("::1", 40004), ("::1", 5001), _isns(rng))
    return [*flow.handshake(), *flow.exchange(1, 5), flow.pkt(True, "RA")]


def wrap_around(rng: random.Random) -> list[Packet]:
    """Both sequence spaces cross 2**32 during the connection."""
    flow = Flow(ether_v4, ("10.0.0.3", 40005), ("10.0.0.4", 5002), (2**32 - 150, 2**32 - 1))
    return flow.handshake() + flow.exchange(3, 100) + flow.close()


def mid_stream(rng: random.Random) -> list[Packet]:
    """A capture that starts after the handshake: the first ACK sets tcpdump's bases."""
    flow = Flow(ether_v4, ("10.0.0.5", 40006), ("10.0.0.6", 5003), _isns(rng))
    flow.handshake()
    return flow.exchange(2, 20) + flow.close()


def port_reuse(rng: random.Random) -> list[Packet]:
    """The same four-tuple used twice: the second SYN-ACK resets tcpdump's bases."""
    ends = ("10.0.0.7", 40007), ("10.0.0.8", 5004)
    first, second = (Flow(ether_v4, *ends, _isns(rng)) for _ in range(2))
    return [*first.handshake(), *first.exchange(1, 8), *first.close(), *second.handshake(),
            *second.exchange(1, 8), second.pkt(False, "RA")]


def self_connect(rng: random.Random) -> list[Packet]:
    """A socket connected to itself (same address and port both ways): one tcpdump entry."""
    isn = rng.randrange(2**32)
    flow = Flow(ether_v4, ("127.0.0.1", 7000), ("127.0.0.1", 7000), (isn, isn))
    return [flow.pkt(True, "S"), flow.pkt(False, "SA"), *flow.exchange(1, 4), flow.pkt(True, "FA")]


def odd_flags(rng: random.Random) -> list[Packet]:
    """ECN negotiation, URG, a flagless data segment and a flagless empty one."""
    flow = Flow(ether_v4, ("10.0.0.9", 40008), ("10.0.0.10", 5005), _isns(rng))
    return [
        flow.pkt(True, "SEC"),
        flow.pkt(False, "SAE"),
        flow.pkt(True, "A"),
        flow.pkt(True, "PAU", b"urgent", urgptr=6),
        flow.pkt(True, "", b"no flags"),
        flow.pkt(True, ""),
        flow.pkt(False, "AC"),
        flow.pkt(True, "FPA", b"bye"),
    ]


def _isns(rng: random.Random) -> tuple[int, int]:
    """Two random initial sequence numbers."""
    return rng.randrange(2**32), rng.randrange(2**32)


SCENARIOS = (full_close, reset_close, ipv6_close, ipv6_loopback, wrap_around, mid_stream,
             port_reuse, self_connect, odd_flags)


def realistic_capture(path: Path, seed: int) -> list[Segment]:
    """Write the interleaved scenarios to ``path`` and read them back as segments."""
    rng = random.Random(seed)
    packets = _stamp(_interleave(rng, *(scenario(rng) for scenario in SCENARIOS)), rng)
    wrpcap(str(path), packets)
    return read_capture(path)


def tcpdump(path: Path, *options: str) -> list[str]:
    """tcpdump's listing of a capture file, one string per packet."""
    done = subprocess.run(
        [str(TCPDUMP), "-n", *options, "-r", str(path)],
        capture_output=True, text=True, check=True, timeout=60,
    )
    return done.stdout.splitlines()


def parse(line: str) -> dict[str, str | None]:
    """The fields of one tcpdump line."""
    match = LINE.match(line)
    assert match, f"tcpdump line not understood: {line!r}"
    return match.groupdict()


def without_extras(line: str) -> str:
    """A tcpdump line without the TCP options and urgent pointer that we do not print."""
    return re.sub(r", (options \[[^\]]*\]|urg \d+)", "", line)


@pytest.fixture(params=[1, 2, 3], ids=lambda seed: f"seed{seed}")
def capture(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, list[Segment]]:
    """A realistic capture file and its segments."""
    path = tmp_path / "realistic.pcap"
    return path, realistic_capture(path, request.param)


def test_fields_match_tcpdump(capture: tuple[Path, list[Segment]]) -> None:
    path, segments = capture
    theirs = [parse(line) for line in tcpdump(path)]
    ours = [parse(line) for line in tcpdump_lines(segments, relative_time=False)]
    assert len(ours) == len(theirs) == len(segments)
    for seg, mine, real in zip(segments, ours, theirs, strict=True):
        for name in (*FIELDS, "length"):
            assert mine[name] == real[name], f"frame {seg.index}: {name} differs"


def test_lines_match_tcpdump_exactly(capture: tuple[Path, list[Segment]]) -> None:
    path, segments = capture
    theirs = [without_extras(line) for line in tcpdump(path)]
    assert tcpdump_lines(segments, relative_time=False) == theirs


def test_relative_time_matches_tcpdump(capture: tuple[Path, list[Segment]]) -> None:
    path, segments = capture
    theirs = [_clock_to_seconds(line.split()[0]) for line in tcpdump(path, "-ttttt")]
    ours = [line.split(" ", 1)[0] for line in tcpdump_lines(segments)]
    assert ours == theirs
    assert ours[0] == "0.000000"


def _clock_to_seconds(clock: str) -> str:
    """tcpdump's -ttttt "HH:MM:SS.ffffff" as seconds with six decimals."""
    hms, micros = clock.split(".")
    hours, minutes, seconds = (int(part) for part in hms.split(":"))
    return f"{hours * 3600 + minutes * 60 + seconds}.{micros}"


def test_flags_match_notation(capture: tuple[Path, list[Segment]]) -> None:
    path, segments = capture
    for seg, line in zip(segments, tcpdump(path), strict=True):
        assert parse(line)["flags"] == flags_to_str(seg.flags), f"frame {seg.index}"


def test_ae_flag_is_read_and_printed_as_tcpdump_can(tmp_path: Path) -> None:
    """AE is TCP header bit 8; tcpdump before 4.99.5 does not print it, later ones print "e"."""
    path = tmp_path / "ae.pcap"
    packet = ether_v4("10.0.0.1", "10.0.0.2") / TCP(sport=40000, dport=5000, flags=0x1C2)
    wrpcap(str(path), [packet])
    (seg,) = read_capture(path)
    assert seg.flags == AE | 0xC2
    real = parse(tcpdump(path)[0])["flags"]
    assert real in (flags_to_str(seg.flags), flags_to_str(seg.flags & ~AE))
    assert parse(tcpdump_lines([seg])[0])["flags"] == flags_to_str(seg.flags)


def test_sequence_numbers_wrap_around(tmp_path: Path) -> None:
    path = tmp_path / "wrap.pcap"
    wrpcap(str(path), _stamp(wrap_around(random.Random(0)), random.Random(0)))
    lines = tcpdump_lines(read_capture(path))
    assert [parse(line)["seq"] for line in lines[3:9:2]] == ["1", "101", "201"]
    assert [parse(line)["seq_end"] for line in lines[3:9:2]] == ["101", "201", "301"]


def test_empty_input_gives_no_lines() -> None:
    assert tcpdump_lines([]) == []
