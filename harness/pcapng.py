"""Writing captured frames to a pcapng file that Wireshark and tcpdump open."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from scapy.data import DLT_EN10MB
from scapy.packet import Packet
from scapy.utils import PcapNgWriter


def write_pcapng(path: str | os.PathLike, frames: Sequence[Packet]) -> Path:
    """Write frames (Ethernet, as `lo` delivers them, with their capture timestamps) to path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with PcapNgWriter(str(target)) as writer:
        writer.linktype = DLT_EN10MB  # stated, so that a run with no packets is a valid file too
        if frames:
            writer.write(list(frames))
        else:
            writer.write_header(None)
    return target
