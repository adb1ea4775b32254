"""The leader of a contained process tree's session (harness.lab.contained): it starts the
command as its child and ends the whole session, the command's TMPDIR removed, the moment
the harness is gone, however it went (SIGKILL included: its end of the lifeline pipe closes).

`python -m harness.lab.child_session_guard TMPDIR -- ARGV...`, stdin the lifeline. Its exit
status is the command's (128 + N for a command killed by signal N).
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import time

from harness.lab.contained import members

#: Seconds the session's processes have to vanish after SIGKILL.
GONE_WITHIN = 10.0


def _others(session: int) -> list[int]:
    """The live processes of the session, this one aside."""
    return [pid for pid in members(session) if pid != os.getpid()]


def end_session(tmpdir: str) -> None:
    """SIGKILL every other process of this session until none is left (or GONE_WITHIN
    passes), then remove tmpdir."""
    session, until = os.getsid(0), time.monotonic() + GONE_WITHIN
    while (left := _others(session)) and time.monotonic() < until:
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        select.select([], [], [], 0.05)  # the kills are sent; their exits take a moment
    shutil.rmtree(tmpdir, ignore_errors=True)


def main(argv: list[str]) -> int:
    tmpdir, separator, command = argv[0], argv[1], argv[2:]
    assert separator == "--" and command, "usage: child_session_guard TMPDIR -- ARGV..."
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    pidfd = os.pidfd_open(child.pid)
    lifeline = sys.stdin.fileno()
    while True:
        ready = select.select([lifeline, pidfd], [], [])[0]
        if pidfd in ready:
            status = child.wait()
            return status if status >= 0 else 128 - status
        if lifeline in ready and not os.read(lifeline, 4096):  # the harness is gone
            end_session(tmpdir)
            return 137


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
