"""Scapy capture on a namespace's `lo`: each packet once, none lost at the end, drops counted.

The AF_PACKET socket is opened by us inside the namespace and handed to scapy's AsyncSniffer
through `opened_socket`, so scapy's per-process interface cache never has to know about the
namespace. On `lo` every frame passes the tap twice (once leaving, once arriving); like
libpcap we keep only the arriving copy, in the kernel with PACKET_IGNORE_OUTGOING (Linux
4.20+) or, failing that, by dropping PACKET_OUTGOING frames as they are read.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass

from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.sendrecv import AsyncSniffer
from scapy.supersocket import SimpleSocket

from harness.netns import Namespace

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_IGNORE_OUTGOING = 23
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
RECV_BUFFER = 16 * 1024 * 1024
_SNAPLEN = 262144
_CMSG_SPACE = socket.CMSG_SPACE(16)


class CaptureError(RuntimeError):
    """The capture could not start, or lost packets."""


def open_packet_socket(ifname: str = "lo") -> tuple[socket.socket, bool]:
    """A packet socket bound to ifname in the caller's namespace; True if the kernel
    drops outgoing copies for us."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECV_BUFFER)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        try:
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            kernel_filters = True
        except OSError:
            kernel_filters = False
        sock.bind((ifname, ETH_P_ALL))
    except BaseException:
        sock.close()
        raise
    return sock, kernel_filters


class LoopbackSocket(SimpleSocket):
    """Scapy's view of our packet socket: Ethernet frames with kernel timestamps."""

    desc = "packet socket on lo, arriving copies only"

    def __init__(self, sock: socket.socket, kernel_filters: bool) -> None:
        super().__init__(sock, basecls=Ether)
        self.iface = "lo"
        self._kernel_filters = kernel_filters

    def recv_raw(self, x: int = _SNAPLEN) -> tuple:
        data, ancdata, _flags, addr = self.ins.recvmsg(_SNAPLEN, _CMSG_SPACE)
        if not self._kernel_filters and addr[2] == PACKET_OUTGOING:
            return None, None, None
        stamp = None
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("=qq", payload[:16])
                stamp = sec + nsec / 1e9
        return self.basecls, data, stamp

    def pending(self) -> bool:
        """True when a frame is waiting to be read."""
        return bool(select.select([self.ins], [], [], 0)[0])

    def kernel_stats(self) -> tuple[int, int]:
        """(packets, drops) since the last call; reading resets the kernel's counters."""
        raw = self.ins.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        return struct.unpack("=II", raw)


@dataclass(frozen=True)
class CaptureStats:
    """What the capture saw: frames kept, and what the kernel counted and dropped."""

    frames: int
    kernel_packets: int
    kernel_drops: int


class Capture:
    """A running sniffer on `lo` of one namespace; stop() returns every frame once."""

    def __init__(self, ns: Namespace, on_packet: Callable[[Packet], None] | None = None):
        sock, kernel_filters = ns.run(open_packet_socket)
        self._sock = LoopbackSocket(sock, kernel_filters)
        self._frames: list[Packet] = []
        self._lock = threading.Lock()
        self._on_packet = on_packet
        self._stats: CaptureStats | None = None
        self._sniffer: AsyncSniffer | None = None

    def _keep(self, pkt: Packet) -> None:
        with self._lock:
            self._frames.append(pkt)
        if self._on_packet is not None:
            self._on_packet(pkt)

    def start(self, deadline: float = 5.0) -> None:
        """Start sniffing and return once the sniffer is reading its socket."""
        ready = threading.Event()
        self._sniffer = AsyncSniffer(opened_socket=self._sock, store=False, prn=self._keep,
                                     started_callback=ready.set)
        self._sniffer.start()
        if not ready.wait(deadline):
            raise CaptureError(f"the sniffer did not report started within {deadline:.1f} s")

    def frames(self) -> list[Packet]:
        """The frames captured so far (a copy; the sniffer may still be adding)."""
        with self._lock:
            return list(self._frames)

    def stop(self) -> list[Packet]:
        """Stop the sniffer, read what is still queued in the socket, check for drops."""
        if self._sniffer is not None and self._sniffer.running:
            self._sniffer.stop()
        self._sniffer = None
        while self._sock.pending():
            pkt = self._sock.recv()
            if pkt is not None:
                self._keep(pkt)
        packets, drops = self._sock.kernel_stats()
        self._stats = CaptureStats(len(self._frames), packets, drops)
        return self.frames()

    @property
    def stats(self) -> CaptureStats | None:
        """Counts from the last stop(), None before."""
        return self._stats

    def close(self) -> None:
        """Stop if running and release the packet socket."""
        if self._sniffer is not None:
            self.stop()
        self._sock.close()
