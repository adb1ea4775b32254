"""The impaired link of a veth lab, in user space: a process in a namespace between the client
and the server that forwards every TCP frame from one interface to the other after a fixed
delay, losing a share of them at random and dropping the first RSTs from a side, or the
first packets that fit a pattern token, when told.

It stands in for `tc qdisc … netem` on kernels built without netem (this project's CI kernel
among them). Frames are read and written with PACKET_VNET_HDR, so a segment the sender's
stack left for segmentation offload (larger than the MTU) crosses as it came, with its
offload header. Each direction is a FIFO with a constant delay, so frames keep their order,
as netem's do without jitter.

Run as `python -m harness.lab.child_link_agent --netns-fd FD --parent PID --client IF --server IF
[--delay-client S] [--delay-server S] [--loss P] [--drop-rst-from SIDE --drop-rst-count N]
[--drop TOKEN:COUNT ...]`
(delays are per egress side, in seconds); it prints one line, `ready`, once both packet
sockets are bound, and forwards until its parent dies or stdin closes. The harness forks it
from its own interpreter by default (harness.lab.agent_process), which then calls
`run_forked` with those options: in a guest under TCG a fresh interpreter took 6-13 s to
start, since every file it imports is read over 9p.
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import selectors
import signal
import socket
import struct
import time
from dataclasses import dataclass, field

from harness.core.packet import Packet, PacketBuilder
from harness.core.packet_token import PacketToken, parse_packet_token
from harness.core.segment import LINKTYPE_ETHERNET, segment_from_frame
from harness.core.vocabulary import SIDES
from harness.lab.netns import join_for_life
from harness.lab.packet_socket import (
    ETH_P_ALL,
    PACKET_IGNORE_OUTGOING,
    SOL_PACKET,
    TCP_ONLY,
    attach_filter,
)

PACKET_VNET_HDR = 15
_VNET_HDR = 10  # struct virtio_net_hdr
_FRAME = 65536 + _VNET_HDR
_ETH_IPV4, _ETH_IPV6 = 0x0800, 0x86DD
_RST = 0x04


def tcp_flags(frame: bytes) -> int | None:
    """The TCP flags of an Ethernet frame (without the offload header), None if not TCP."""
    if len(frame) < 14:
        return None
    kind = struct.unpack_from("!H", frame, 12)[0]
    if kind == _ETH_IPV4 and len(frame) >= 34 and frame[23] == 6:
        offset = 14 + (frame[14] & 0x0F) * 4
    elif kind == _ETH_IPV6 and len(frame) >= 54 and frame[20] == 6:
        offset = 54
    else:
        return None
    return frame[offset + 13] if len(frame) > offset + 13 else None


@dataclass
class Chosen:
    """Packets to drop: those that fit `token` (fields and all), the first `left` of them."""

    token: PacketToken
    left: int

    def takes(self, packet: Packet) -> bool:
        """Whether the packet is dropped (and counted)."""
        if self.left and self.token.fits(packet):
            self.left -= 1
            return True
        return False


class Connections:
    """What the link has seen of each connection, so that a frame can be read as a pattern
    reads it: direction, relative numbers, times (harness.core.packet)."""

    def __init__(self) -> None:
        self._builders: dict[frozenset, PacketBuilder] = {}
        self._count = 0

    def packet(self, frame: bytes, from_client: bool) -> Packet | None:
        """The frame (an Ethernet frame) as a Packet of its connection; None if not TCP."""
        self._count += 1
        seg = segment_from_frame(frame, LINKTYPE_ETHERNET, time.time(), self._count)
        if seg is None:
            return None
        key = frozenset(seg.endpoints)
        if key not in self._builders:
            sender, receiver = seg.endpoints
            self._builders[key] = PacketBuilder(sender if from_client else receiver)
        return self._builders[key].add(seg)


@dataclass
class Direction:
    """One way across the link: where frames leave, how long they take, what is lost."""

    out: socket.socket
    delay: float
    drop_rst: int = 0
    chosen: list[Chosen] = field(default_factory=list)
    from_client: bool = True
    queue: list[tuple[float, int, bytes]] = field(default_factory=list)


@dataclass
class Rules:
    """How the link treats frames: the loss share and the generator that decides it."""

    loss: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    connections: Connections = field(default_factory=Connections)

    def keep(self, direction: Direction, frame: bytes) -> bool:
        """Whether a frame crosses: not lost at random, not one of the RSTs or chosen packets
        to drop."""
        flags = tcp_flags(frame[_VNET_HDR:])
        if direction.drop_rst and flags is not None and flags & _RST:
            direction.drop_rst -= 1
            return False
        if direction.chosen:
            packet = self.connections.packet(frame[_VNET_HDR:], direction.from_client)
            if packet is not None and any(rule.takes(packet) for rule in direction.chosen):
                return False
        return not (self.loss and self.rng.random() < self.loss)


def open_link_socket(ifname: str) -> socket.socket:
    """A packet socket on ifname that reads arriving TCP frames with their offload header."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    attach_filter(sock, TCP_ONLY)
    sock.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)  # not what we send ourselves
    sock.bind((ifname, ETH_P_ALL))
    return sock


def forward(ways: dict[socket.socket, Direction], rules: Rules, control: int) -> None:
    """Move frames until the control descriptor (the harness's pipe) closes: read what
    arrives, send what is due."""
    sel = selectors.DefaultSelector()
    for sock in ways:
        sel.register(sock, selectors.EVENT_READ)
    sel.register(control, selectors.EVENT_READ)
    order = 0
    while True:
        due = min((d.queue[0][0] for d in ways.values() if d.queue), default=None)
        wait = None if due is None else max(0.0, due - time.monotonic())
        for key, _ in sel.select(wait):
            if key.fileobj is control:
                if not os.read(control, 4096):
                    return
                continue
            sock, way = key.fileobj, ways[key.fileobj]
            frame = sock.recv(_FRAME)
            if rules.keep(way, frame):
                order += 1
                heapq.heappush(way.queue, (time.monotonic() + way.delay, order, frame))
        now = time.monotonic()
        for way in ways.values():
            while way.queue and way.queue[0][0] <= now:
                way.out.send(heapq.heappop(way.queue)[2])


def chosen_drops(rules: list[str]) -> dict[str, list[Chosen]]:
    """`--drop TOKEN:COUNT` rules by the side that sends the packets (`>` the client's)."""
    by_side: dict[str, list[Chosen]] = {side: [] for side in SIDES}
    for rule in rules:
        text, count = rule.rsplit(":", 1)
        token = parse_packet_token(text)
        by_side["client" if token.direction == ">" else "server"].append(
            Chosen(token, int(count)))
    return by_side


def parser(add_help: bool = True) -> argparse.ArgumentParser:
    """The link's own options: what a forked link is given (an executed one is also told
    --netns-fd and --parent, see main)."""
    options = argparse.ArgumentParser(prog="python -m harness.lab.child_link_agent",
                                      add_help=add_help)
    options.add_argument("--client", required=True, help="the interface towards the client")
    options.add_argument("--server", required=True, help="the interface towards the server")
    options.add_argument("--delay-client", type=float, default=0.0,
                         help="seconds added to frames the client sends")
    options.add_argument("--delay-server", type=float, default=0.0,
                         help="seconds added to frames the server sends")
    options.add_argument("--loss", type=float, default=0.0, help="share of frames lost, 0..1")
    options.add_argument("--drop-rst-from", choices=SIDES)
    options.add_argument("--drop-rst-count", type=int, default=1)
    options.add_argument("--drop", action="append", default=[], metavar="TOKEN:COUNT",
                         help="drop the first COUNT packets that fit a pattern token (`<F.`)")
    return options


def main() -> None:
    """Executed afresh: the link's options, and the namespace and parent, from the command
    line; then run as a forked link does."""
    process = argparse.ArgumentParser(prog="python -m harness.lab.child_link_agent",
                                      parents=[parser(add_help=False)])
    process.add_argument("--netns-fd", type=int, required=True)
    process.add_argument("--parent", type=int, required=True)
    args = process.parse_args()
    run_forked(args.netns_fd, args.parent, args)


def run_forked(netns_fd: int, parent: int, args: argparse.Namespace) -> None:
    """In a process the harness started (executed or forked): join the middle namespace, tie
    our life to the parent's, then forward until descriptor 0 closes; the process ends here.
    args are the options `parser()` read."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the orchestrator's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked child keeps the harness's handler
    join_for_life(netns_fd, parent)
    towards_client, towards_server = open_link_socket(args.client), open_link_socket(args.server)
    drops = {side: args.drop_rst_count if args.drop_rst_from == side else 0
             for side in SIDES}
    chosen = chosen_drops(args.drop)
    ways = {towards_client: Direction(towards_server, args.delay_client, drops["client"],
                                      chosen["client"]),
            towards_server: Direction(towards_client, args.delay_server, drops["server"],
                                      chosen["server"], from_client=False)}
    os.write(1, b"ready\n")
    forward(ways, Rules(args.loss), 0)
    os._exit(0)


if __name__ == "__main__":
    main()
