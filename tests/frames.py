"""Scapy packets built in a test, dissected the way the harness dissects captured frames."""

from __future__ import annotations

from collections.abc import Iterable

from scapy.layers.dot11 import Dot11, RadioTap
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Ether, Loopback
from scapy.layers.ppp import HDLC
from scapy.packet import Packet

from harness.core.segment import Segment, segment_from_frame

# The link type of a frame, by the class of its outermost layer.
LINKTYPE_OF = {Ether: 1, Loopback: 0, CookedLinux: 113, CookedLinuxV2: 276, IP: 101,
               IPv6: 101, HDLC: 50, Dot11: 105, RadioTap: 127}


def segment_of(packet: Packet, index: int) -> Segment | None:
    """The segment the harness reads from packet's bytes, as frame number index."""
    linktype = LINKTYPE_OF[type(packet)]
    return segment_from_frame(bytes(packet), linktype, float(packet.time), index)


def segments_of(packets: Iterable[Packet]) -> list[Segment]:
    """The segments among packets, numbered from 1 as the frames of a capture."""
    found = (segment_of(packet, number) for number, packet in enumerate(packets, start=1))
    return [seg for seg in found if seg is not None]
