"""Recording the kernel's TCP tracepoints for each run, in a tracefs instance of this
process's own (harness.lab.child_trace_keeper makes it, and removes it on every way out).

Attribution: tracefs filters cannot read a socket's network namespace, and parallel runs
use the same addresses in different namespaces. So every run's client ports are unique on
the machine: a run takes a slice of PORTS (held by an abstract Unix socket of this
process, which other harness processes cannot bind while we hold it, and which the kernel
releases when we die) and sets its namespaces' ephemeral range to it. The instance's filter
keeps the events of the harness's whole range; a run keeps those of its own 4-tuples.
"""

from __future__ import annotations

import atexit
import errno
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence

from harness.core.kernel_events import KernelEvent, KernelRecord, attribute, parse_trace
from harness.core.vocabulary import Endpoint
from harness.lab.child_trace_keeper import PREFIX

#: Client ports the harness gives its runs (below Linux's default ephemeral range, 32768).
PORTS = (20000, 31999)
#: Ports in one run's slice: more than any scenario's connections (connect() takes the even
#: ones first).
SLICE = 64
_SLICES = (PORTS[1] - PORTS[0] + 1) // SLICE
_KEEPER_READY_WITHIN = 10.0


def _why_not_here() -> str | None:
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


class _Keeper:
    """This process's tracefs instance and the child that keeps it."""

    def __init__(self) -> None:
        self.problem: str | None = None
        self.no_reasons = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._pipe: int | None = None
        self._rest = b""
        self.problem = _why_not_here()
        if self.problem is None:
            self._start()

    def _start(self) -> None:
        name = f"{PREFIX}{os.getpid()}"
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "harness.lab.child_trace_keeper", name, *map(str, PORTS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
        told = self._told()
        if "problem" in told:
            self.problem = str(told["problem"])
            self.close()
            return
        self.no_reasons = str(told.get("no_reasons", ""))
        self.instance = str(told["instance"])
        self._pipe = os.open(os.path.join(self.instance, "trace_pipe"),
                             os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)

    def _told(self) -> dict:
        """The keeper's one line, within its deadline."""
        assert self._proc is not None and self._proc.stdout is not None
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self._proc.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(_KEEPER_READY_WITHIN)
        if not line or not line[0]:
            return {"problem": f"the tracefs keeper did not answer within "
                               f"{_KEEPER_READY_WITHIN:.0f} s"}
        try:
            return json.loads(line[0])
        except ValueError:
            return {"problem": f"the tracefs keeper said {line[0][:80]!r}"}

    def read(self) -> str:
        """Everything the instance holds that was not read yet (whole lines)."""
        if self._pipe is None:
            return ""
        chunks = [self._rest]
        while True:
            try:
                chunk = os.read(self._pipe, 1 << 16)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            if not chunk:
                break
            chunks.append(chunk)
        data = b"".join(chunks)
        cut = data.rfind(b"\n") + 1
        self._rest = data[cut:]
        return data[:cut].decode("ascii", "replace")

    def close(self) -> None:
        """Let go of the instance and wait until the keeper has removed it."""
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=_KEEPER_READY_WITHIN)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None


_keepers: dict[int, _Keeper] = {}
_held: dict[int, socket.socket] = {}  # each process's slice of client ports
_lock = threading.Lock()


def _keeper() -> _Keeper:
    """This process's keeper (a forked child makes its own), started on first use."""
    with _lock:
        keeper = _keepers.get(os.getpid())
        if keeper is None:
            keeper = _keepers[os.getpid()] = _Keeper()
            atexit.register(keeper.close)
        return keeper


def tracing_problem() -> str | None:
    """Why this process cannot record the kernel's events (one line), or None if it can."""
    return _keeper().problem


def close_tracing() -> None:
    """Remove this process's instance now (it is also removed at exit)."""
    with _lock:
        keeper = _keepers.pop(os.getpid(), None)
    if keeper is not None:
        keeper.close()


class RunTrace:
    """One run's share of the instance: its slice of client ports, held until the next
    run of this process takes another (a namespace's sockets may still be torn down just
    after its run), and the events from begin() to record()."""

    def __init__(self) -> None:
        self._keeper = _keeper()
        self.ports = _take_slice()

    def sysctls(self) -> dict[str, str]:
        """The settings that give the run's namespaces this slice as their ephemeral ports."""
        return {"net.ipv4.ip_local_port_range": f"{self.ports[0]} {self.ports[1]}"}

    def begin(self) -> None:
        """From now on, the instance's events are this run's to read."""
        self._keeper.read()
        self._events: list[KernelEvent] = []

    def record(self, server: Endpoint, connections: Mapping[str, Endpoint],
               clients: Iterable[int] = (),
               server_rsts: Sequence[tuple[float, Endpoint]] = ()) -> KernelRecord:
        """The run's events since begin(), attributed to its connections (those whose port
        is the run's: a socket the scenario bound to a port of its own is not traced);
        clients are the pids of the run's client processes, server_rsts the RSTs the
        capture saw from the server (see harness.core.kernel_events.attribute)."""
        self._events += parse_trace(self._keeper.read(), time.time() - time.monotonic())
        low, high = self.ports
        mine = {name: end for name, end in connections.items() if low <= end[1] <= high}
        untraced = tuple((name, f"its port {end[1]} was bound by the scenario, outside the "
                          f"ports the harness traces for this run ({low}-{high})")
                         for name, end in connections.items() if name not in mine)
        return KernelRecord(events=attribute(self._events, server, mine, clients, server_rsts),
                            no_reasons=self._keeper.no_reasons,
                            covered=tuple(mine.values()), untraced=untraced)


def _take_slice() -> tuple[int, int]:
    """A slice of PORTS no other harness process holds, held by this process from now on
    (its previous one let go)."""
    pid = os.getpid()
    previous = _held.pop(pid, None)
    start = random.randrange(_SLICES)
    for step in range(_SLICES):
        index = (start + step) % _SLICES
        lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            lock.bind(f"\0tcp-close-harness-ports-{index}")
        except OSError:
            lock.close()
            continue
        _held[pid] = lock
        if previous is not None:
            previous.close()
        low = PORTS[0] + index * SLICE
        return low, low + SLICE - 1
    raise OSError(errno.EADDRINUSE, f"all {_SLICES} slices of client ports are held by "
                  "other harness processes")


#: The setting that turns the recording off (`HARNESS_KERNEL_EVENTS=off`): the bench's
#: baseline, or a machine whose tracing another tool needs undisturbed.
SWITCH = "HARNESS_KERNEL_EVENTS"


def open_run_trace() -> tuple[RunTrace | None, KernelRecord | None]:
    """A run's trace, or (None, the record saying why the kernel cannot tell)."""
    if os.environ.get(SWITCH, "").lower() == "off":
        return None, KernelRecord(missing=f"turned off ({SWITCH}=off)")
    problem = tracing_problem()
    if problem is not None:
        return None, KernelRecord(missing=problem)
    return RunTrace(), None
