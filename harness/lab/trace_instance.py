"""This process's tracefs instance, as its runs read it: started once (the keeper, harness.lab.
child_trace_keeper, makes it and removes it on every way out), read without blocking, and
its events kept, parsed, from the moment the oldest run still reading began.

A child forked from this process (a worker, a test's own fork) lets go of all of it at once:
it must not hold the keeper's pipe (the keeper would outlive us) or the instance's trace_pipe
(the keeper could not remove it).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import subprocess
import sys
import threading
import time

from harness.core.kernel_events import KernelEvent, lost_events, parse_trace
from harness.lab.child_trace_keeper import PREFIX

#: Client ports the harness gives its runs (below Linux's default ephemeral range, 32768):
#: the instance keeps the events of these only, where a tracepoint has ports.
PORTS = (20000, 31999)
_ANSWER_WITHIN = 10.0  # seconds for the keeper to make the instance, or to remove it


def why_not_here() -> str | None:
    """Why this process cannot trace before trying: not root, or inside a user namespace."""
    if os.geteuid() != 0:
        return "not root (tracefs needs root)"
    try:
        with open("/proc/self/uid_map", encoding="ascii") as file:
            first = file.read().split()
    except OSError:
        return None
    if first[:3] != ["0", "0", "4294967295"]:
        return "inside a user namespace (tracefs cannot be mounted there)"
    return None


class Instance:
    """The instance, its keeper and the events read from it. `problem` says why there is
    none; `no_reasons` why its RSTs carry no reason; `lost` counts the events the kernel
    had to drop (its buffer full) since the events were last let go."""

    def __init__(self) -> None:
        self.no_reasons = ""
        self.events: list[KernelEvent] = []
        self.lost = 0
        self._base = 0  # the number of events let go before events[0]
        self._readers: set[int] = set()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pipe: int | None = None
        self._rest = b""
        self.problem = why_not_here()
        if self.problem is None:
            self.problem = self._start()

    def _start(self) -> str | None:
        name = f"{PREFIX}{os.getpid()}"
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "harness.lab.child_trace_keeper", name, *map(str, PORTS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
        told = self._told()
        try:
            if "problem" in told:
                raise OSError(0, str(told["problem"]))
            self.no_reasons = str(told.get("no_reasons", ""))
            self._pipe = os.open(os.path.join(str(told["instance"]), "trace_pipe"),
                                 os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, KeyError) as exc:
            self.close()
            return (exc.strerror if isinstance(exc, OSError) and exc.strerror
                    else f"the tracefs keeper's answer was not usable ({exc})")
        return None

    def _told(self) -> dict:
        """The keeper's one line, within its deadline; a problem when it ends without one."""
        assert self._proc is not None and self._proc.stdout is not None
        out, line = self._proc.stdout, []
        reader = threading.Thread(target=lambda: line.append(out.readline()), daemon=True)
        reader.start()
        reader.join(_ANSWER_WITHIN)
        if not line:
            return {"problem": f"the tracefs keeper did not answer within {_ANSWER_WITHIN:.0f} s"}
        if not line[0]:
            code = self._proc.wait(timeout=_ANSWER_WITHIN)
            return {"problem": f"the tracefs keeper ended without an answer (exit status {code})"}
        try:
            return json.loads(line[0])
        except ValueError:
            return {"problem": f"the tracefs keeper said {line[0][:80]!r}"}

    def read(self) -> str:
        """Everything the instance holds that was not read yet, in whole lines."""
        if self._pipe is None:
            return ""
        chunks = [self._rest]
        while True:
            try:
                chunk = os.read(self._pipe, 1 << 16)
            except BlockingIOError:
                break
            except InterruptedError:
                continue
            if not chunk:
                break
            chunks.append(chunk)
        data = b"".join(chunks)
        cut = data.rfind(b"\n") + 1
        self._rest = data[cut:]
        return data[:cut].decode("ascii", "replace")

    def pull(self) -> None:
        """Read what came since the last pull into events (times on the capture's clock)."""
        text = self.read()
        if text:
            self.lost += lost_events(text)
            self.events += parse_trace(text, time.time() - time.monotonic())

    def begin(self, reader: object) -> tuple[int, int]:
        """A run starts reading: (where its events begin, the lost count then)."""
        if self._readers:
            self.pull()
        else:  # nobody needs the older events: read past them unparsed
            self.lost += lost_events(self.read())
            self._base += len(self.events)
            self.events.clear()
        self._readers.add(id(reader))
        return self._base + len(self.events), self.lost

    def since(self, mark: int) -> list[KernelEvent]:
        """The events read since mark (a begin()'s), after a pull."""
        self.pull()
        return self.events[max(mark - self._base, 0):]

    def end(self, reader: object) -> None:
        """A run has stopped reading."""
        self._readers.discard(id(reader))

    def forget(self) -> None:
        """In a forked child: let go of the parent's pipe and trace_pipe, without waiting
        (the keeper is the parent's; it is kept referenced, never waited on, here)."""
        if self._pipe is not None:
            with contextlib.suppress(OSError):
                os.close(self._pipe)
        if self._proc is not None:
            for stream in (self._proc.stdin, self._proc.stdout):
                with contextlib.suppress(OSError):
                    if stream is not None:
                        stream.close()
            _parents_keepers.append(self._proc)
        self._pipe, self._proc = None, None

    def close(self) -> None:
        """Let go of the instance and wait until the keeper has removed it."""
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        if self._proc is not None:
            assert self._proc.stdin is not None and self._proc.stdout is not None
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
            try:
                self._proc.wait(timeout=_ANSWER_WITHIN)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc.stdout.close()
            self._proc = None


_instances: dict[int, Instance] = {}
_parents_keepers: list[subprocess.Popen[bytes]] = []  # in a forked child: not ours to reap
_lock = threading.Lock()


def instance() -> Instance:
    """This process's instance (a forked child makes its own), started on first use."""
    with _lock:
        found = _instances.get(os.getpid())
        if found is None:
            found = _instances[os.getpid()] = Instance()
            atexit.register(found.close)
        return found


def close_instance() -> None:
    """Remove this process's instance now (it is also removed at exit)."""
    with _lock:
        found = _instances.pop(os.getpid(), None)
    if found is not None:
        found.close()


def _forget_after_fork() -> None:
    for inherited in _instances.values():
        inherited.forget()
    _instances.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
