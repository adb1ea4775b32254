"""TCP segments dissected from captured frames: link layer, IPv4 or IPv6, the TCP header.

Standard library only. The layouts are those of RFC 791 (IPv4), RFC 8200 (IPv6 and its
extension headers), RFC 9293 (TCP; accurate ECN's AE flag is bit 8 of the flags word) and
the link-layer headers tcpdump's LINKTYPE registry describes: Ethernet (with 802.1Q tags),
Linux cooked captures v1 and v2, raw IP, BSD loopback, PPP (RFC 1661: with or without its
address and control bytes, in HDLC-like framing, with a direction byte) and IEEE 802.11
data frames with LLC/SNAP (bare, or behind a radiotap header). A frame that carries no whole
TCP header (ARP, UDP, an ICMP error quoting TCP, a later IP fragment, an encrypted 802.11
frame, a header cut by the snap length) is no segment. The payload length comes from the IP
header, so neither Ethernet padding nor a short snap length changes it. Of the TCP options,
the two a SYN announces are read (RFC 9293 3.2 and RFC 7323 2.2): the maximum segment size
and the window scale shift; an option list that breaks off (a length below 2 or past the
header's end, cut by the snap length) is read up to the break.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from harness.core.vocabulary import Endpoint

__all__ = ["LINKTYPES", "Segment", "linktype_name", "segment_from_frame"]


LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_LOOP = 0, 1, 108
LINKTYPE_SLL, LINKTYPE_SLL2 = 113, 276
LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6 = 101, 228, 229
LINKTYPE_PPP, LINKTYPE_PPP_HDLC, LINKTYPE_PPP_WITH_DIR = 9, 50, 204
LINKTYPE_IEEE802_11, LINKTYPE_RADIOTAP = 105, 127
#: The link types this module dissects, with their names in tcpdump's registry.
LINKTYPES = {LINKTYPE_NULL: "NULL (BSD loopback)", LINKTYPE_ETHERNET: "ETHERNET",
             LINKTYPE_LOOP: "LOOP (OpenBSD loopback)", LINKTYPE_SLL: "LINUX_SLL",
             LINKTYPE_SLL2: "LINUX_SLL2", LINKTYPE_RAW: "RAW", 12: "RAW (OpenBSD)",
             14: "RAW (BSD/OS)", LINKTYPE_IPV4: "IPV4", LINKTYPE_IPV6: "IPV6",
             LINKTYPE_PPP: "PPP", LINKTYPE_PPP_HDLC: "PPP_HDLC",
             LINKTYPE_PPP_WITH_DIR: "PPP_WITH_DIR",
             LINKTYPE_IEEE802_11: "IEEE802_11", LINKTYPE_RADIOTAP: "IEEE802_11_RADIOTAP"}

_ETH_IPV4, _ETH_IPV6 = 0x0800, 0x86DD
_PPP_IPV4, _PPP_IPV6 = 0x0021, 0x0057
_SNAP = b"\xaa\xaa\x03\x00\x00\x00"  # LLC/SNAP with an Ethernet type after it
_VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
_AF_INET6 = (10, 24, 28, 30)  # Linux, NetBSD/OpenBSD, FreeBSD, macOS
_IPPROTO_TCP = 6
# IPv6 extension headers that may stand between the fixed header and TCP (RFC 8200 4.1).
_HOP_BY_HOP, _ROUTING, _FRAGMENT, _DESTINATION, _AUTHENTICATION = 0, 43, 44, 60, 51
_TCP = struct.Struct("!HHIIBBH")  # ports, seq, ack, data offset, flags, window
_TCP_FIXED = 20  # the header before its options, checksum and urgent pointer included
_OPT_END, _OPT_NOP, _OPT_MSS, _OPT_WSCALE = 0, 1, 2, 3


@dataclass(frozen=True)
class Segment:
    """One TCP segment as seen in a capture; ``mss`` and ``wscale`` are its MSS and window
    scale options (None when it carries none, as every segment but a SYN should)."""

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
    mss: int | None = None
    wscale: int | None = None

    @property
    def endpoints(self) -> tuple[Endpoint, Endpoint]:
        """The sender and the receiver, as ((src, sport), (dst, dport))."""
        return (self.src, self.sport), (self.dst, self.dport)


def linktype_name(linktype: int) -> str:
    """`ETHERNET (1)`; `147` for one this module does not know."""
    name = LINKTYPES.get(linktype)
    return f"{name} ({linktype})" if name else str(linktype)


def segment_from_frame(data: bytes, linktype: int, time: float, index: int) -> Segment | None:
    """The TCP segment in one frame of the given link type (frame number index), or None.

    ValueError for a link type not in LINKTYPES.
    """
    offset = _network_offset(data, linktype)
    if offset is None or offset >= len(data):
        return None
    version = data[offset] >> 4
    if version == 4:
        found = _ipv4(data, offset)
    elif version == 6:
        found = _ipv6(data, offset)
    else:
        return None
    if found is None:
        return None
    family, src, dst, tcp_at, ip_payload = found
    if len(data) < tcp_at + _TCP.size:
        return None
    sport, dport, seq, ack, offset_byte, flag_byte, win = _TCP.unpack_from(data, tcp_at)
    header = (offset_byte >> 4) * 4
    mss, wscale = _syn_options(data, tcp_at + _TCP_FIXED, min(tcp_at + header, len(data)))
    return Segment(time=float(time), family=family, src=src, sport=sport, dst=dst,
                   dport=dport, flags=((offset_byte & 0x01) << 8) | flag_byte, seq=seq,
                   ack=ack, win=win, length=max(0, ip_payload - header), index=index,
                   mss=mss, wscale=wscale)


def _syn_options(data: bytes, at: int, end: int) -> tuple[int | None, int | None]:
    """The MSS (kind 2, 4 bytes) and window scale (kind 3, 3 bytes) options among the TCP
    options in data[at:end]; an option of another size is not one of them, and a length
    that cannot be (below 2, or past end) ends the reading."""
    mss = wscale = None
    while at < end:
        kind = data[at]
        if kind == _OPT_END:
            break
        if kind == _OPT_NOP:
            at += 1
            continue
        size = data[at + 1] if at + 1 < end else 0
        if size < 2 or at + size > end:
            break
        if kind == _OPT_MSS and size == 4:
            mss = struct.unpack_from("!H", data, at + 2)[0]
        elif kind == _OPT_WSCALE and size == 3:
            wscale = data[at + 2]
        at += size
    return mss, wscale


def _network_offset(data: bytes, linktype: int) -> int | None:
    """Where the IP header starts in a frame, None when the frame carries no IP."""
    if linktype == LINKTYPE_ETHERNET:
        return _ethernet(data)
    if linktype in (LINKTYPE_RAW, 12, 14, LINKTYPE_IPV4, LINKTYPE_IPV6):
        return 0
    if linktype == LINKTYPE_SLL:
        return _by_ethertype(data, 14, 16)
    if linktype == LINKTYPE_SLL2:
        return _by_ethertype(data, 0, 20)
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        return _bsd_loopback(data, linktype)
    if linktype in (LINKTYPE_PPP, LINKTYPE_PPP_HDLC, LINKTYPE_PPP_WITH_DIR):
        return _ppp(data, 1 if linktype == LINKTYPE_PPP_WITH_DIR else 0)
    if linktype == LINKTYPE_IEEE802_11:
        return _wifi(data, 0)
    if linktype == LINKTYPE_RADIOTAP:
        return _wifi(data, struct.unpack_from("<H", data, 2)[0]) if len(data) >= 4 else None
    raise ValueError(f"link type {linktype} cannot be dissected")


def _ethernet(data: bytes) -> int | None:
    """The IP header's offset after an Ethernet header and any VLAN tags."""
    at = 12
    while len(data) >= at + 2:
        kind = struct.unpack_from("!H", data, at)[0]
        if kind not in _VLAN_TAGS:
            return at + 2 if kind in (_ETH_IPV4, _ETH_IPV6) else None
        at += 4
    return None


def _by_ethertype(data: bytes, field: int, header: int) -> int | None:
    """The IP header's offset after a cooked header whose protocol field is at field."""
    if len(data) < header:
        return None
    kind = struct.unpack_from("!H", data, field)[0]
    return header if kind in (_ETH_IPV4, _ETH_IPV6) else None


def _bsd_loopback(data: bytes, linktype: int) -> int | None:
    """The IP header's offset after a 4-byte address family (host order for NULL, which
    depends on the machine that captured it; network order for LOOP)."""
    if len(data) < 4:
        return None
    orders = ("!",) if linktype == LINKTYPE_LOOP else ("<", ">")
    families = {struct.unpack_from(order + "I", data, 0)[0] for order in orders}
    return 4 if families & {2, *_AF_INET6} else None


def _ppp(data: bytes, at: int) -> int | None:
    """The IP header's offset after a PPP header: address and control (FF 03) if present,
    then a protocol of two bytes, or one when compressed (an odd first byte)."""
    if data[at:at + 2] == b"\xff\x03":
        at += 2
    if len(data) < at + 1:
        return None
    if data[at] & 1:
        protocol, at = data[at], at + 1
    elif len(data) >= at + 2:
        protocol, at = struct.unpack_from("!H", data, at)[0], at + 2
    else:
        return None
    return at if protocol in (_PPP_IPV4, _PPP_IPV6) else None


def _wifi(data: bytes, at: int) -> int | None:
    """The IP header's offset after an 802.11 data frame's header and its LLC/SNAP."""
    if len(data) < at + 24:
        return None
    control, flags = data[at], data[at + 1]
    if (control >> 2) & 0x3 != 2 or flags & 0x40:  # not a data frame, or encrypted
        return None
    header = 24 + (6 if flags & 0x03 == 0x03 else 0)
    if control & 0x80:  # a QoS data frame: a QoS control field, and an HT control with Order
        header += 2 + (4 if flags & 0x80 else 0)
    snap = at + header
    if data[snap:snap + 6] != _SNAP or len(data) < snap + 8:
        return None
    kind = struct.unpack_from("!H", data, snap + 6)[0]
    return snap + 8 if kind in (_ETH_IPV4, _ETH_IPV6) else None


def _ipv4(data: bytes, at: int) -> tuple[str, str, str, int, int] | None:
    """(family, src, dst, where TCP starts, IP payload bytes) of an IPv4 packet carrying the
    start of a TCP segment; None otherwise."""
    if len(data) < at + 20:
        return None
    ihl = (data[at] & 0x0F) * 4
    total, fragment = struct.unpack_from("!H2xH", data, at + 2)
    if ihl < 20 or data[at + 9] != _IPPROTO_TCP or fragment & 0x1FFF:
        return None
    src = socket.inet_ntop(socket.AF_INET, data[at + 12:at + 16])
    dst = socket.inet_ntop(socket.AF_INET, data[at + 16:at + 20])
    return "ipv4", src, dst, at + ihl, total - ihl


def _ipv6(data: bytes, at: int) -> tuple[str, str, str, int, int] | None:
    """The same for IPv6, walking the extension headers to TCP."""
    if len(data) < at + 40:
        return None
    payload, kind = struct.unpack_from("!HB", data, at + 4)
    src = socket.inet_ntop(socket.AF_INET6, data[at + 8:at + 24])
    dst = socket.inet_ntop(socket.AF_INET6, data[at + 24:at + 40])
    header, extensions = at + 40, 0
    while kind != _IPPROTO_TCP:
        if kind not in (_HOP_BY_HOP, _ROUTING, _FRAGMENT, _DESTINATION, _AUTHENTICATION):
            return None
        if len(data) < header + 8:
            return None
        following, size = data[header], data[header + 1]
        if kind == _FRAGMENT:
            if struct.unpack_from("!H", data, header + 2)[0] & 0xFFF8:
                return None  # a later fragment: no TCP header in it
            length = 8
        elif kind == _AUTHENTICATION:
            length = (size + 2) * 4
        else:
            length = (size + 1) * 8
        kind, header, extensions = following, header + length, extensions + length
    return "ipv6", src, dst, header, payload - extensions
