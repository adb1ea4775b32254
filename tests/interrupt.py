"""Children that Ctrl-C reaches, whatever this process inherited: a shell starts a job in the
background (`cmd &`, `nohup cmd &`) with SIGINT ignored, every child inherits that, and a
Python started so never turns SIGINT into KeyboardInterrupt. The tests that interrupt a run
start it through here, so that they test the harness, not how pytest was started."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


@contextlib.contextmanager
def ctrl_c_reaches_children() -> Iterator[None]:
    """While inside, a child started here gets SIGINT at its default disposition."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
