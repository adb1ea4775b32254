"""Watching a lab's capture as it fills: its segments, the first connection, waits on the
pattern (each pattern and the last match kept, for the pcap's comments), expectations, and
the story a failing test shows."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.core.conversation import Conversation, pick, split_conversations
from harness.core.listing import tcpdump_lines
from harness.core.packet import Packet
from harness.core.pattern import Match, compile_pattern
from harness.core.result import Call
from harness.core.segment import LINKTYPE_ETHERNET, Segment, segment_from_frame
from harness.lab.capture import Capture
from harness.lab.waiting import WaitTimeout, wait_until


class Watch:
    """The capture of one lab, read as it fills; each frame is dissected once.

    `calls` is the lab's list of calls (for the story), `save_pcap` writes what was captured
    so far and returns where (None when the lab has no pcap path). `patterns` lists every
    pattern waited on with wait_pattern or expect, in order; `last_match` is the last match.
    """

    def __init__(self, calls: Sequence[Call], save_pcap: Callable[[], Path | None]) -> None:
        self.capture: Capture | None = None
        self._calls = calls
        self._save = save_pcap
        self._segments: list[Segment] = []
        self._dissected = 0
        self._arrived = threading.Condition()
        self._last = time.monotonic()
        self.patterns: list[str] = []
        self.last_match: Match | None = None

    def notify(self) -> None:
        """A packet arrived: wake whoever waits on the wire."""
        with self._arrived:
            self._last = time.monotonic()
            self._arrived.notify_all()

    def segments(self) -> list[Segment]:
        """Every TCP segment captured so far."""
        assert self.capture is not None, "the watch has no capture yet"
        frames = self.capture.frames()
        for number in range(self._dissected + 1, len(frames) + 1):
            frame = frames[number - 1]
            seg = segment_from_frame(frame.data, LINKTYPE_ETHERNET, frame.time, number)
            if seg is not None:
                self._segments.append(seg)
        self._dissected = len(frames)
        return list(self._segments)

    def conversation(self) -> Conversation | None:
        """The first connection in the capture, None before any packet."""
        conversations = split_conversations(self.segments())
        return pick(conversations, None) if conversations else None

    def observed(self) -> list[str]:
        """The tokens of the first connection, `>S <S. ...`."""
        conv = self.conversation()
        return conv.tokens() if conv else []

    def packets(self) -> list[Packet]:
        """The packets of the first connection, with the facts a pattern's fields compare."""
        conv = self.conversation()
        return conv.packets() if conv else []

    def wait_pattern(self, pattern: str, within: float = 2.0,
                     finished: Callable[[], bool] | None = None) -> Match:
        """Wait until the capture matches pattern, or can no longer match it (a packet that
        does not fit: no later packet can mend that), or within seconds pass; the last match.

        finished() says whether nothing more can come (the sockets gone quiet): asked while
        the packets so far are a beginning of the pattern, it ends the wait early too.
        """
        compiled = compile_pattern(pattern)
        with self._arrived:
            match = compiled.match(self.packets())
            end = time.monotonic() + within
            while not match.ok and match.failed_at is None:
                left = end - time.monotonic()
                if left <= 0:
                    break
                if finished is not None and finished():
                    # The capture may have kept frames whose notify() waits for this lock:
                    # judge every packet finished() vouched for, not the last wake's.
                    match = compiled.match(self.packets())
                    break
                self._arrived.wait(left if finished is None else min(left, 0.01))
                match = compiled.match(self.packets())
        self.patterns.append(compiled.text)
        self.last_match = match
        return match

    def quiet_for(self) -> float:
        """Seconds since the last packet arrived (since the watch began, before any): the
        capture's own count, which a notify() still waiting for the lock cannot hold back."""
        if self.capture is not None:
            return self.capture.quiet_for()
        return time.monotonic() - self._last

    def wait_wire(self, pattern: str, within: float = 5.0) -> None:
        """Wait until the packets so far begin with pattern; WaitTimeout names it otherwise."""
        compiled = compile_pattern(pattern)

        def seen() -> bool:
            return compiled.prefix_matches(self.packets())

        with self._arrived:
            end = time.monotonic() + within
            while not seen():
                left = end - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(f"the wire to show {pattern} (it shows "
                                      f"{' '.join(self.observed()) or 'nothing'})", within)
                self._arrived.wait(left)

    def expect(self, pattern: str, within: float = 2.0,
               finished: Callable[[], bool] | None = None) -> Match:
        """Assert that the first connection on the wire matches pattern (tcpdump notation);
        the AssertionError is explain(match)."""
        __tracebackhide__ = True  # pytest shows the test's own line, not these frames
        match = self.wait_pattern(pattern, within, finished)
        if not match.ok:
            raise AssertionError(self.explain(match))
        return match

    def explain(self, match: Match) -> str:
        """A failed match in a sentence (where and why it broke), then the pattern and the
        listing, tokens and tcpdump lines, with an arrow at the packet that did not fit."""
        lines = tcpdump_lines(list(match_segments(self.conversation(), match)))
        return "\n".join([match.sentence(), *match.explain(lines).splitlines()[:-1]])

    def story(self) -> str:
        """The wire (token and tcpdump line per packet), the calls and the pcap path."""
        conv = self.conversation()
        wire = [f"{token:<5} {line}" for token, line in zip(
            conv.tokens(), tcpdump_lines(list(conv.segments)), strict=True)] if conv else []
        return "\n".join(["wire:", *wire, *self._calls_and_pcap()])

    def _calls_and_pcap(self) -> list[str]:
        lines = ["calls:", *(f"  {c.peer:<6} {c.describe()}" for c in self._calls)]
        pcap = self._save()
        return [*lines, f"pcap: {pcap}"] if pcap else lines

    def wait_quiet(self, period: float = 0.2, within: float = 2.0) -> bool:
        """Wait until no packet has been captured for period seconds (at most within
        seconds); False if packets kept coming until then."""
        assert self.capture is not None, "the watch has no capture yet"
        capture, seen = self.capture, {"count": -1, "since": 0.0}

        def quiet() -> bool:
            count, now = len(capture.frames()), time.monotonic()
            if count != seen["count"]:
                seen.update(count=count, since=now)
            return now - seen["since"] >= period

        try:
            wait_until(quiet, within, f"{period:.2f} s without a packet")
        except WaitTimeout:
            return False
        return True


def match_segments(conv: Conversation | None, match: Match) -> list[Segment]:
    """The segments of conv that match saw (packets may have come since it was made)."""
    return list(conv.segments[: len(match.observed)]) if conv else []
