"""The TCP segments of a capture file, each frame dissected by its interface's link type."""

from __future__ import annotations

import os
from collections.abc import Iterable

from harness.core.segment import LINKTYPES, Segment, linktype_name, segment_from_frame
from harness.pcap.model import CaptureFile, Record
from harness.pcap.reader import CaptureFileError, read_file


def read_capture(path: str | os.PathLike[str]) -> list[Segment]:
    """The TCP segments of a pcap or pcapng file; CaptureFileError if it cannot be read."""
    return capture_segments(read_file(path), os.fspath(path))


def capture_segments(capture: CaptureFile, name: str) -> list[Segment]:
    """The TCP segments of a capture already read; frames are numbered from 1.

    CaptureFileError when packets come from an interface whose link type is not dissected.
    """
    used = {record.interface for record in capture.records}
    for number in sorted(used):
        linktype = capture.interfaces[number].linktype
        if linktype not in LINKTYPES:
            raise CaptureFileError(
                f"{name}: its packets have link type {linktype_name(linktype)}, which the "
                "harness does not dissect (it reads Ethernet, Linux cooked SLL and SLL2, raw "
                "IP, BSD loopback, PPP and 802.11); convert it, e.g. `editcap -T ether`, or "
                "capture with `tcpdump -i any`")
    types = [interface.linktype for interface in capture.interfaces]
    return records_to_segments(capture.records, types)


def records_to_segments(records: Iterable[Record], linktypes: list[int]) -> list[Segment]:
    """The TCP segments among records (each of the interface it names), numbered from 1."""
    found = (segment_from_frame(r.data, linktypes[r.interface], r.time, number)
             for number, r in enumerate(records, start=1))
    return [seg for seg in found if seg is not None]

