"""Wireshark on our pcaps: how tshark is run (a configuration folder of its own, so no profile
of the user's can change what it dissects, and the preferences we rely on), whether it can
compile a display filter, and display filters evaluated on a lab's capture through pyshark."""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from harness.core.crosscheck import PREFERENCES
from harness.core.display_filter import (
    DisplayFilter,
    DisplayFilterError,
    FilterOutcome,
    display_filter,
)
from harness.core.errors import LabError, UsageError
from harness.core.listing import tcpdump_lines
from harness.core.segment import Segment
from harness.pcap.writer import pcapng_bytes


def private_env(folder: str | Path) -> dict[str, str]:
    """The environment tshark runs in: ours, with its configuration in folder (made empty)."""
    config = Path(folder, "wireshark-config")
    config.mkdir(exist_ok=True)
    return {**os.environ, "WIRESHARK_CONFIG_DIR": str(config)}


def tshark_command(*args: str) -> list[str]:
    """tshark with the preferences we rely on, then args."""
    return ["tshark", *(word for pref in PREFERENCES for word in ("-o", pref)), *args]


@functools.lru_cache(maxsize=256)
def filter_problem(text: str, timeout: float = 30.0) -> str | None:
    """What tshark says is wrong with a display filter (its first line), None if it compiles
    (asked once per filter and process)."""
    with tempfile.TemporaryDirectory(prefix="harness-tshark-") as folder:
        empty = Path(folder, "empty.pcapng")
        empty.write_bytes(pcapng_bytes([]))
        done = subprocess.run(tshark_command("-n", "-r", str(empty), "-Y", text),
                              capture_output=True, text=True, timeout=timeout, check=False,
                              env=private_env(folder))
    if done.returncode == 0:
        return None
    said = [line.removeprefix("tshark: ").strip() for line in done.stderr.splitlines()
            if line.strip() and not line.startswith("Running as user")]
    return said[0] if said else f"tshark exit status {done.returncode}"


@contextlib.contextmanager
def _private_config() -> Iterator[None]:
    """WIRESHARK_CONFIG_DIR set to an empty folder of ours while pyshark starts its tshark
    (pyshark passes our environment on; it takes no environment of its own)."""
    before = os.environ.get("WIRESHARK_CONFIG_DIR")
    with tempfile.TemporaryDirectory(prefix="harness-pyshark-") as folder:
        os.environ["WIRESHARK_CONFIG_DIR"] = folder
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("WIRESHARK_CONFIG_DIR", None)
            else:
                os.environ["WIRESHARK_CONFIG_DIR"] = before


def evaluate(pcap: str | Path, wish: DisplayFilter) -> FilterOutcome:
    """The frames of pcap (numbered from 1) that the filter matches, as Wireshark sees them;
    DisplayFilterError (one line) for a filter tshark cannot compile."""
    import pyshark  # only a test that asks a display filter pays for it

    problem = filter_problem(wish.text)  # pyshark would say only that tshark "crashed"
    if problem:
        raise DisplayFilterError(f"display filter {wish.text!r}: {problem}")
    prefs = {name: value for name, value in (pref.split(":", 1) for pref in PREFERENCES)}
    with _private_config():
        capture = pyshark.FileCapture(str(pcap), display_filter=wish.text, use_json=True,
                                      keep_packets=False, override_prefs=prefs,
                                      custom_parameters=["-j", "frame"])
        try:
            frames = tuple(int(packet.number) for packet in capture)
        except Exception as exc:  # pyshark raises its own kinds, and tshark's exit as one
            said = " ".join(str(exc).split())
            raise LabError(f"tshark (through pyshark) failed on {pcap}: {said}") from None
        finally:
            with contextlib.suppress(Exception):  # a tshark that failed fails its close too
                capture.close()
            _release_child_watcher()
    return FilterOutcome(wish, frames)


def _release_child_watcher() -> None:
    """Undo what pyshark leaves behind in the main thread: a SafeChildWatcher whose SIGCHLD
    handler writes to a wakeup pipe nothing reads, so that every later child's exit (a
    peer's) would fill it and asyncio print "BlockingIOError" from its signal handler."""
    import asyncio
    import warnings

    with warnings.catch_warnings(), contextlib.suppress(Exception):
        warnings.simplefilter("ignore", DeprecationWarning)  # the watchers go in Python 3.14
        watcher = asyncio.get_child_watcher()
        if isinstance(watcher, asyncio.SafeChildWatcher):
            watcher.close()  # detaches it: removes the SIGCHLD handler and the wakeup fd
            asyncio.set_child_watcher(None)


def filter_failure(outcome: FilterOutcome, segments: Sequence[Segment], pcap: Path) -> str:
    """Why a display filter assertion failed: what it found, and the capture listed with the
    frames it matched marked."""
    lines = tcpdump_lines(list(segments))
    listing = [f"  {'->' if seg.index in outcome.frames else '  '} {seg.index:>4}  {line}"
               for seg, line in zip(segments, lines, strict=True)]
    return "\n".join([outcome.sentence(), "frames (-> matched):", *listing, f"pcap: {pcap}"])


def expect_filter(text: str, count: int | str, save: Callable[[], Path | None],
                  segments: Callable[[], Sequence[Segment]],
                  outcomes: list[FilterOutcome]) -> FilterOutcome:
    """Lab.expect_display_filter: the capture so far, written by save(), evaluated; the
    outcome added to outcomes; an AssertionError with the listing when it does not hold."""
    __tracebackhide__ = True
    wish = display_filter(text, count)  # a malformed count is refused at once
    pcap = save()
    if pcap is None:
        raise UsageError("expect_display_filter reads the lab's pcap: give Lab a pcap_path")
    outcome = evaluate(pcap, wish)
    outcomes.append(outcome)
    if not outcome.ok:
        raise AssertionError(filter_failure(outcome, segments(), pcap))
    return outcome
