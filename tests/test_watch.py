"""Watch.wait_pattern against a capture that fills while the wait decides (no privileges)."""

from __future__ import annotations

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from harness.lab.watch import Watch
from harness.pcap.model import Record

CLIENT, SERVER = ("192.0.2.1", 40000), ("192.0.2.2", 5000)


def _frame(outgoing: bool, flags: str, at: float) -> Record:
    src, dst = (CLIENT, SERVER) if outgoing else (SERVER, CLIENT)
    pkt = Ether() / IP(src=src[0], dst=dst[0]) / TCP(sport=src[1], dport=dst[1], flags=flags)
    return Record(bytes(pkt), at)


class _Capture:
    """Frames a test adds; frames() is all a Watch reads of a capture."""

    def __init__(self, frames: list[Record]) -> None:
        self.kept = frames

    def frames(self) -> list[Record]:
        return list(self.kept)


def test_frames_kept_while_finished_decides_are_judged() -> None:
    # The race CI met: the sniffer kept the last frames, but its notify() waited for the lock
    # the wait held while finished() asked the sockets, which by then were silent.
    capture = _Capture([_frame(True, "S", 0.0), _frame(False, "SA", 0.001)])
    watch = Watch([], lambda: None)
    watch.capture = capture  # type: ignore[assignment]

    def finished() -> bool:
        capture.kept.append(_frame(True, "A", 0.002))
        return True

    match = watch.wait_pattern(">S <S. >.", within=2.0, finished=finished)
    assert match.ok, match


def test_a_wait_without_more_packets_ends_at_once_when_finished() -> None:
    capture = _Capture([_frame(True, "S", 0.0)])
    watch = Watch([], lambda: None)
    watch.capture = capture  # type: ignore[assignment]
    match = watch.wait_pattern(">S <S.", within=30.0, finished=lambda: True)
    assert not match.ok and match.failed_at is None
