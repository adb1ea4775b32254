"""The commands that read a capture without running anything: `show` (a capture as tcpdump
lists it, or as a ladder) and `check` (a capture against a pattern). Neither needs privileges
or imports the lab."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.core.conversation import Conversation, pick, split_conversations
from harness.core.errors import UsageError
from harness.core.listing import tcpdump_lines
from harness.core.pattern import compile_pattern
from harness.core.vocabulary import tcpdump_endpoint

if TYPE_CHECKING:  # read_file and capture_segments are imported by the commands that read
    from harness.pcap.model import CaptureFile


def cmd_show(path: str, stream: int | None, ladder: bool = False) -> int:
    """Print the capture's TCP segments, tcpdump-style (or as a ladder diagram)."""
    from harness.pcap.reader import read_file
    from harness.pcap.segments import capture_segments

    capture = read_file(path)
    segments = capture_segments(capture, path)
    conversations = _tcp_conversations(path, capture, segments)
    if ladder:
        conv = _one_stream(path, conversations, stream, "draw")
        return _show_ladder(path, capture, conversations, conv)
    if stream is not None:
        segments = list(_one_stream(path, conversations, stream, "list").segments)
    for line in tcpdump_lines(segments):
        print(line)
    return 0


def cmd_check(path: str, pattern: str, stream: int | None) -> int:
    """Match one connection of a capture against a pattern: 0 if it matches, 1 if not."""
    from harness.pcap.reader import read_file
    from harness.pcap.segments import capture_segments

    compiled = compile_pattern(pattern)
    capture = read_file(path)
    conversations = _tcp_conversations(path, capture, capture_segments(capture, path))
    conv = _one_stream(path, conversations, stream, "check")
    how = "sent the first SYN" if conv.client_known else "sent the first packet (no SYN seen)"
    print(f"stream {conv.index}: client {tcpdump_endpoint(conv.client)} ({how})")
    match = compiled.match(conv.packets())
    if match.ok:
        print(f"match: {' '.join(match.observed)}")
        return 0
    print(match.explain(tcpdump_lines(list(conv.segments))))
    return 1


def _tcp_conversations(path: str, capture: CaptureFile, segments: list) -> list[Conversation]:
    """The capture's TCP connections; UsageError (one line) when it holds none."""
    conversations = split_conversations(segments)
    if conversations:
        return conversations
    count = len(capture.records)
    held = {0: "no packets at all", 1: "1 packet, not TCP over IPv4 or IPv6"}.get(
        count, f"{count} packets, none of them TCP over IPv4 or IPv6")
    raise UsageError(f"{path}: no TCP segments in this capture (it holds {held}); give a "
                     "capture of TCP traffic, e.g. one written by `tcpdump -w FILE tcp`")


def _one_stream(path: str, conversations: Sequence[Conversation], stream: int | None,
                doing: str) -> Conversation:
    """The connection --stream names, or the only one; UsageError (one line) when --stream
    is out of range, or missing while the capture holds several connections."""
    count = len(conversations)
    if stream is None and count > 1:
        listed = ", ".join(f"{conv.index} = {_endpoints(conv)} ({len(conv.segments)} packets)"
                           for conv in conversations[:5])
        more = f", … ({count - 5} more)" if count > 5 else ""
        raise UsageError(f"{path}: {count} TCP connections in this capture; say which to "
                         f"{doing} with --stream N: {listed}{more}")
    if stream is not None and not 0 <= stream < count:
        valid = "0" if count == 1 else f"0 to {count - 1}"
        held = "1 connection" if count == 1 else f"{count} connections"
        raise UsageError(f"{path}: --stream {stream} is out of range: the capture holds "
                         f"{held}, numbered from 0 as in Wireshark's tcp.stream; give "
                         f"--stream {valid}")
    return pick(conversations, stream)


def _endpoints(conv: Conversation) -> str:
    """`10.0.0.1.40000 > 10.0.0.2.80`, client first, as tcpdump writes them."""
    guess = "" if conv.client_known else " (no SYN seen)"
    return f"{tcpdump_endpoint(conv.client)} > {tcpdump_endpoint(conv.server)}{guess}"


def _show_ladder(path: str, capture: CaptureFile, conversations: Sequence[Conversation],
                 conv: Conversation) -> int:
    """The connection as a ladder, with the steps the harness wrote into the pcapng (a
    classic pcap, or one not written by us, has none to show)."""
    from harness.report.ladder import ladder_from_capture, render_text

    comments = {n: list(r.comments) for n, r in enumerate(capture.records, 1)}
    section = list(capture.section.comments) if capture.sections else []
    title = f"{path}, stream {conv.index} of {len(conversations)}"
    print(render_text(ladder_from_capture(title, list(conv.segments), comments, conv.client,
                                          section)))
    return 0
