"""Scapy capture on one interface of a namespace: each TCP packet once, none lost at the end,
drops counted.

The AF_PACKET socket is opened by us inside the namespace and handed to scapy's AsyncSniffer
through `opened_socket`, so scapy's per-process interface cache never has to know about the
namespace. On `lo` every frame passes the tap twice (once leaving, once arriving); like
libpcap we keep only the arriving copy, in the kernel with PACKET_IGNORE_OUTGOING (Linux
4.20+) or, failing that, by dropping PACKET_OUTGOING frames as they are read. On one end of
a veth pair each packet passes once, leaving or arriving, and both are kept. A classic BPF
filter (tcpdump's `tcp`) keeps ARP, neighbour discovery and MLD out of the capture.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.sendrecv import AsyncSniffer
from scapy.supersocket import SimpleSocket

from harness.core.errors import LabError
from harness.lab.netns import Namespace
from harness.lab.packet_socket import (
    ETH_P_ALL,
    PACKET_IGNORE_OUTGOING,
    SOL_PACKET,
    TCP_ONLY,
    attach_filter,
)
from harness.pcap.model import Record

PACKET_STATISTICS = 6
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
RECV_BUFFER = 16 * 1024 * 1024
_SNAPLEN = 262144
_CMSG_SPACE = socket.CMSG_SPACE(16)


class CaptureError(LabError):
    """The capture could not start, or lost packets."""


def open_packet_socket(ifname: str = "lo", keep_outgoing: bool = False
                       ) -> tuple[socket.socket, bool]:
    """A packet socket bound to ifname in the caller's namespace, seeing TCP only; True if
    the kernel drops outgoing copies for us (or none need dropping)."""
    # Protocol 0: the socket receives nothing until bind() below, so no frame from before
    # the filter (an MLD report as a veth comes up, say) can be queued.
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        attach_filter(sock, TCP_ONLY)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECV_BUFFER)
        except PermissionError:  # in a user namespace FORCE wants CAP_NET_ADMIN over the host
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)  # to rmem_max
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        kernel_filters = True
        if not keep_outgoing:
            try:
                sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            except OSError:
                kernel_filters = False
        sock.bind((ifname, ETH_P_ALL))
    except BaseException:
        sock.close()
        raise
    return sock, kernel_filters


class PacketSocket(SimpleSocket):
    """Scapy's view of our packet socket: Ethernet frames with kernel timestamps."""

    desc = "packet socket on one interface, each TCP packet once"

    def __init__(self, sock: socket.socket, kernel_filters: bool, ifname: str = "lo") -> None:
        super().__init__(sock, basecls=Ether)
        self.iface = ifname
        self._kernel_filters = kernel_filters
        self.reads = 0  # frames taken from the socket (counted before the read)
        self.skipped = 0  # of them, those not passed on (our own outgoing copies)

    def recv_raw(self, x: int = _SNAPLEN) -> tuple:
        self.reads += 1
        data, ancdata, _flags, addr = self.ins.recvmsg(_SNAPLEN, _CMSG_SPACE)
        if not self._kernel_filters and addr[2] == PACKET_OUTGOING:
            self.skipped += 1
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
    """A running sniffer on one interface of a namespace (`lo` unless told); stop() returns
    every frame once, as Records (Ethernet frames with their kernel timestamps)."""

    def __init__(self, ns: Namespace, on_packet: Callable[[Packet], None] | None = None,
                 ifname: str = "lo", keep_outgoing: bool = False) -> None:
        sock, kernel_filters = ns.run(lambda: open_packet_socket(ifname, keep_outgoing))
        self._sock = PacketSocket(sock, kernel_filters, ifname)
        self._frames: list[Record] = []
        self._lock = threading.Lock()
        self._kept_at = time.monotonic()
        self._on_packet = on_packet
        self._stats: CaptureStats | None = None
        self._sniffer: AsyncSniffer | None = None

    def _keep(self, pkt: Packet) -> None:
        record = Record(bytes(pkt.original or bytes(pkt)), float(pkt.time))
        with self._lock:
            self._frames.append(record)
            self._kept_at = time.monotonic()
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

    def caught_up(self) -> bool:
        """Whether every frame the kernel has queued for the capture so far is among frames():
        nothing waits in the socket and no frame read is still on its way to the list."""
        with self._lock:
            kept = len(self._frames)
        return (not self._sock.pending()
                and self._sock.reads == kept + self._sock.skipped)

    def quiet_for(self) -> float:
        """Seconds since the last frame was kept (since the capture began, before any)."""
        with self._lock:
            return time.monotonic() - self._kept_at

    def frames(self) -> list[Record]:
        """The frames captured so far (a copy; the sniffer may still be adding)."""
        with self._lock:
            return list(self._frames)

    def stop(self) -> list[Record]:
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
        """Stop if running and release the packet socket (in the background: see _Closer)."""
        if self._sniffer is not None:
            self.stop()
        _closer.close(self._sock)


class _Closer:
    """Closes packet sockets on a thread of its own.

    The kernel's release of a packet socket waits out an RCU grace period (synchronize_net
    in packet_release), 5-15 ms measured here, that nothing of ours needs to wait for: the
    namespace goes with the socket's last reference, which is what the kernel's own netns
    teardown does later, in its workqueue. Before the interpreter exits, every socket handed
    over is closed (flush, registered with atexit); a process that dies instead has them
    closed by the kernel.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[SimpleSocket | None] = queue.SimpleQueue()
        self._idle = threading.Event()
        self._idle.set()
        self._owner = 0  # the pid whose thread runs; a forked child starts its own
        self._pending = 0

    def close(self, sock: SimpleSocket) -> None:
        """Close sock soon, on the closer's thread."""
        with self._lock:
            if self._owner != os.getpid():
                self._owner, self._queue, self._pending = os.getpid(), queue.SimpleQueue(), 0
                threading.Thread(target=self._run, name="packet-socket-closer",
                                 daemon=True).start()
            self._pending += 1
            self._idle.clear()
        self._queue.put(sock)

    def _run(self) -> None:
        while True:
            sock = self._queue.get()
            with contextlib.suppress(OSError):
                sock.close()
            with self._lock:
                self._pending -= 1
                if not self._pending:
                    self._idle.set()

    def flush(self, within: float = 10.0) -> bool:
        """Wait until every socket handed over is closed; False if within seconds pass."""
        return self._owner != os.getpid() or self._idle.wait(within)


_closer = _Closer()
atexit.register(_closer.flush)
