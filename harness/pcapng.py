"""Writing captured frames to a pcapng file that Wireshark and tcpdump open."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from scapy.packet import Packet
from scapy.utils import wrpcapng


def write_pcapng(path: str | os.PathLike, frames: Sequence[Packet]) -> Path:
    """Write frames (with their capture timestamps) to path, making its folder if needed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    wrpcapng(str(target), list(frames))
    return target
