"""Sending a crafted segment into a run's network as if a side had sent it.

The segment is built with scapy (IP or IPv6 header, TCP header and checksum) and sent
through a raw socket opened inside the sending side's namespace, so it leaves by the route
that side's own packets take: out of lo, or out of its end of the veth. The capture sees it
as it sees the side's own packets, and the receiver's kernel cannot tell it from one.
"""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING

from harness.core.conversation import Conversation, split_conversations
from harness.core.injection import Crafted, InjectError, craft
from harness.core.result import Call
from harness.lab.netns import Namespace
from harness.lab.waiting import WaitTimeout, wait_until

if TYPE_CHECKING:
    from harness.lab.lab import Lab

_FAMILIES = {"ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}


def build(crafted: Crafted) -> bytes:
    """The whole IP packet, header and checksums filled in."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6
    from scapy.packet import Raw

    network = (IP(src=crafted.src, dst=crafted.dst) if crafted.family == "ipv4"
               else IPv6(src=crafted.src, dst=crafted.dst))
    segment = TCP(sport=crafted.sport, dport=crafted.dport, seq=crafted.seq, ack=crafted.ack,
                  flags=crafted.flags, window=crafted.win)
    packet = network / segment
    if crafted.payload:
        packet = packet / Raw(crafted.payload)
    return bytes(packet)


def send(ns: Namespace, crafted: Crafted) -> None:
    """Send the segment from inside ns (a raw socket that takes the whole IP packet)."""
    packet = build(crafted)

    def out() -> None:
        with socket.socket(_FAMILIES[crafted.family], socket.SOCK_RAW, socket.IPPROTO_RAW) as s:
            s.sendto(packet, (crafted.dst, 0))

    ns.run(out)


def inject(lab: Lab, side: str, flags: str, seq: int = 0, ack: int = 0, payload: bytes = b"",
           win: int | None = None, connection: str = "client", within: float = 2.0) -> Call:
    """Craft a segment as `side` would send it on a connection (seq and ack relative to what
    the capture has seen), send it, wait until the capture has it; the lab's call for it."""
    start, began = time.time(), time.monotonic()
    args = {"flags": flags, "seq": seq, **({"ack": ack} if ack else {}),
            **({"len": len(payload)} if payload else {})}
    try:
        wait_until(lab.wire_settled, within, f"the wire quiet for {lab.in_flight * 1000:.0f} "
                                             "ms and the capture caught up with it")
        conv = _conversation(lab, connection)
        crafted = craft(conv, side, flags, seq, ack, payload, win)
        send(lab.topology.ns_of(side), crafted)
        wait_until(lambda: _captured(lab, crafted), within, "the capture to see it")
        error, info = None, {"injected": _facts(crafted)}
    except (WaitTimeout, InjectError) as exc:
        error, info = str(exc), {}
    except OSError as exc:
        error, info = f"the raw socket would not send it: {exc.strerror}", {}
    call = Call(peer="lab", sock=side, call="inject", args=args, ret=None if error else 0,
                start=start, elapsed=time.monotonic() - began, error=error, info=info)
    lab.calls.append(call)
    return call


def _conversation(lab: Lab, connection: str) -> Conversation:
    """The captured connection the client socket named connection made."""
    local = lab.connection_address(connection)
    for conv in split_conversations(lab.segments()):
        # A client whose connect() reported no address (EINPROGRESS) made the first one.
        if conv.client == local or (local is None and connection == "client"):
            return conv
    raise InjectError(f"inject on connection {connection!r}: the capture holds no packet of "
                      "it yet")


def _captured(lab: Lab, crafted: Crafted) -> bool:
    return any(seg.sport == crafted.sport and seg.dport == crafted.dport
               and seg.seq == crafted.seq and seg.flags == crafted.flags
               for seg in lab.segments())


def _facts(crafted: Crafted) -> dict[str, object]:
    """What results.json and the annotations keep of an injected segment."""
    return {"src": crafted.src, "sport": crafted.sport, "dst": crafted.dst,
            "dport": crafted.dport, "flags": crafted.flags, "seq": crafted.seq,
            "ack": crafted.ack, "win": crafted.win, "len": len(crafted.payload),
            "text": crafted.describe()}
