"""A process tree run whole or not at all: started in a session of its own with a private
TMPDIR, its output kept in a file, stopped past its deadline or when asked (Ctrl-C), and on
every way out every process of its session gone and the TMPDIR removed. The session's leader
is a guard (harness.lab.child_session_guard) that does the same by itself if the harness dies
without a word (SIGKILL): nothing of a guest outlives the command that started it.

`harness kernels` runs each guest (virtme-ng and the QEMU it starts) and the host's own
catalog this way. While it waits it samples the largest peak RSS among the session's
processes (QEMU's, for a guest) and notes when a marker file appears (the command inside
began: the guest has booted).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import LabError

#: Seconds between looks at the process (its exit ends a wait at once).
POLL = 0.25
#: Seconds a tree has after SIGTERM before SIGKILL, and after SIGKILL before it is a problem.
GRACE = 5.0
#: How much of the end of the output the tail reads.
TAIL_BYTES = 64 * 1024
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Outcome:
    """How the tree ended: its exit status (None when it was stopped), the seconds it took,
    whether its deadline passed or it was asked to stop, when its marker appeared (seconds
    from the start), the largest peak RSS of its processes (bytes) and where its output is."""

    status: int | None
    seconds: float
    timed_out: bool
    interrupted: bool
    marked_after: float | None
    peak_rss: int
    output: Path

    def tail(self, lines: int = 20) -> tuple[str, ...]:
        """The output's last lines that say something, escapes and carriage returns gone."""
        return tail(self.output, lines)


def tail(path: Path, lines: int = 20) -> tuple[str, ...]:
    """A file's last non-empty lines, cleaned for a one-line-each display."""
    try:
        with path.open("rb") as file:
            file.seek(max(0, file.seek(0, os.SEEK_END) - TAIL_BYTES))
            text = file.read().decode("utf-8", "replace")
    except OSError:
        return ()
    cleaned = (_clean(line) for line in text.split("\n"))
    return tuple(line for line in cleaned if line.strip())[-lines:]


def _clean(line: str) -> str:
    """A line as a terminal would leave it: what the last carriage return did not blank
    (a CRLF line keeps its text), without escapes."""
    shown = next((part for part in reversed(line.split("\r")) if part), "")
    return _ESCAPES.sub("", shown).rstrip()


def run(argv: Sequence[str], output: Path, deadline: float, *, cwd: Path,
        env: Mapping[str, str] | None = None, marker: Path | None = None,
        stop: threading.Event | None = None,
        lines: Callable[[str], None] | None = None) -> Outcome:
    """Run argv to its end, its deadline or stop; nothing of it is left when this returns or
    raises (KeyboardInterrupt included). Its output (stdout and stderr) comes through one
    pipe into the output file, each whole line to `lines` as it comes (a guest's progress):
    a pipe, not the file itself, since QEMU opens its chardev files anew (/proc/self/fd/N,
    truncated) and several writers at their own offsets would overwrite each other."""
    scratch = Path(tempfile.mkdtemp(prefix="harness-contained-"))
    began = time.monotonic()
    environment = {**(env if env is not None else os.environ), "TMPDIR": str(scratch)}
    watch = _Watch(marker, began)
    proc: subprocess.Popen[bytes] | None = None
    copier: threading.Thread | None = None
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness.lab.child_session_guard", str(scratch), "--",
             *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            cwd=cwd, env=environment, start_new_session=True)
        assert proc.stdout is not None
        copier = threading.Thread(target=_copy, args=(proc.stdout, output, lines),
                                  name="harness-contained-output", daemon=True)
        copier.start()
        status, timed_out, interrupted = _wait(proc, began + deadline, watch, stop)
    except OSError as exc:
        raise LabError(f"{argv[0]}: cannot start it ({exc.strerror})") from None
    finally:
        if proc is not None:
            _end(proc)
        if copier is not None:
            copier.join(timeout=GRACE)  # every writer is gone: the pipe is at its end
        shutil.rmtree(scratch, ignore_errors=True)
    return Outcome(status, time.monotonic() - began, timed_out, interrupted,
                   watch.marked_after, watch.peak_rss, output)


def _copy(pipe, output: Path, lines: Callable[[str], None] | None) -> None:
    """The pipe's bytes into output as they come, each whole line to `lines`."""
    partial = b""
    with pipe, output.open("wb") as sink:
        while chunk := pipe.read1(65536):
            sink.write(chunk)
            sink.flush()
            if lines is None:
                continue
            *whole, partial = (partial + chunk).split(b"\n")
            for line in whole:
                lines(_clean(line.decode("utf-8", "replace")))
    if lines is not None and partial:  # the last line, ended without a newline
        lines(_clean(partial.decode("utf-8", "replace")))


class _Watch:
    """What the wait samples: the marker's first appearance and the largest peak RSS."""

    def __init__(self, marker: Path | None, began: float) -> None:
        self.marker, self.began = marker, began
        self.marked_after: float | None = None
        self.peak_rss = 0

    def look(self, session: int) -> None:
        if self.marker is not None and self.marked_after is None and self.marker.exists():
            self.marked_after = time.monotonic() - self.began
        for pid in members(session):
            self.peak_rss = max(self.peak_rss, _peak_rss(pid))


def _wait(proc: subprocess.Popen[bytes], end: float, watch: _Watch,
          stop: threading.Event | None) -> tuple[int | None, bool, bool]:
    """(status, timed out, interrupted): waits for the exit, looking every POLL seconds."""
    while True:
        watch.look(proc.pid)
        try:
            return proc.wait(timeout=max(0.0, min(POLL, end - time.monotonic()))), False, False
        except subprocess.TimeoutExpired:
            pass
        if stop is not None and stop.is_set():
            return None, False, True
        if time.monotonic() >= end:
            return None, True, False


def members(session: int) -> list[int]:
    """The live (not zombie) processes of a session."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(entry))
    return found


def _peak_rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _signal_all(session: int, signum: int) -> None:
    for pid in members(session):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Every process of proc's session gone and proc reaped: SIGTERM, then SIGKILL."""
    session = proc.pid
    if proc.poll() is None:
        _signal_all(session, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=GRACE)
    _signal_all(session, signal.SIGKILL)
    proc.wait()
    if proc.stdin is not None:
        proc.stdin.close()
    gone_by = time.monotonic() + GRACE
    while members(session):
        if time.monotonic() > gone_by:
            raise LabError(f"processes {members(session)} of session {session} outlived "
                           "SIGKILL; stop them by hand")
        _signal_all(session, signal.SIGKILL)
        threading.Event().wait(0.05)  # SIGKILL is delivered; waiting for the exit to finish
