"""What a packet socket needs that scapy does not give: the AF_PACKET constants, tcpdump's
`tcp` filter as classic BPF, and attaching it. Kept apart from the capture so the
user-space link, a process of its own, starts without importing scapy (seconds in a guest
without KVM).
"""

from __future__ import annotations

import ctypes
import socket
import struct

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23
SO_ATTACH_FILTER = 26
# `tcpdump -dd -y EN10MB tcp`: IPv4 with protocol 6, or IPv6 with next header 6 (or a
# fragment header followed by 6). Each instruction is (code, jt, jf, k).
TCP_ONLY = ((0x28, 0, 0, 12), (0x15, 0, 2, 0x0800), (0x30, 0, 0, 23), (0x15, 6, 7, 6),
            (0x15, 0, 6, 0x86DD), (0x30, 0, 0, 20), (0x15, 3, 0, 6), (0x15, 0, 3, 0x2C),
            (0x30, 0, 0, 54), (0x15, 0, 1, 6), (0x6, 0, 0, 0x40000), (0x6, 0, 0, 0))


def attach_filter(sock: socket.socket, program: tuple[tuple[int, int, int, int], ...]) -> None:
    """Attach a classic BPF program (SO_ATTACH_FILTER); the kernel copies it."""
    code = b"".join(struct.pack("HBBI", *insn) for insn in program)
    buffer = ctypes.create_string_buffer(code)
    fprog = struct.pack("HL", len(program), ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
