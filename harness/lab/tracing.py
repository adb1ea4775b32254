"""Recording the kernel's TCP tracepoints for each run, in a tracefs instance of this
process's own (harness.lab.trace_instance; harness.lab.child_trace_keeper makes it and
removes it on every way out).

Attribution: tracefs filters cannot read a socket's network namespace, and parallel runs
use the same addresses in different namespaces. So every run's client ports are unique
among harness processes: a run takes a slice of PORTS, held by an abstract Unix socket
(which no other process of this network namespace can bind while we hold it, and which the
kernel releases when we die), and sets its namespaces' ephemeral range to it. The instance
keeps the events of the harness's whole range; a run keeps those of its own 4-tuples.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import socket
import threading
from collections.abc import Iterable, Mapping, Sequence

from harness.core.kernel_events import KernelEvent, KernelRecord, attribute, client_endpoints
from harness.core.notation import RST
from harness.core.result import Call
from harness.core.segment import Segment
from harness.core.vocabulary import Endpoint
from harness.lab.trace_instance import PORTS, close_instance, instance

#: Ports in one run's slice: more than any scenario's connections (connect() takes the even
#: ones first), so a test of our own with more connections than that runs out of ports
#: (EADDRNOTAVAIL) only where the events are recorded.
SLICE = 64
_SLICES = (PORTS[1] - PORTS[0] + 1) // SLICE
#: The setting that turns the recording off (`HARNESS_KERNEL_EVENTS=off`): the bench's
#: baseline, or a machine whose tracing another tool needs undisturbed.
SWITCH = "HARNESS_KERNEL_EVENTS"

_cooling: dict[int, socket.socket] = {}  # per process: the slice its last run let go
_held: set[socket.socket] = set()  # the slices of the runs going on
_slices = threading.Lock()


def tracing_problem() -> str | None:
    """Why this process cannot record the kernel's events (one line), or None if it can."""
    return instance().problem


def close_tracing() -> None:
    """Remove this process's instance now (it is also removed at exit)."""
    close_instance()


class RunTrace:
    """One run's share of the instance: its slice of client ports (held until this process
    takes another, for a namespace's sockets may still be torn down just after its run),
    and the events from begin() on."""

    def __init__(self) -> None:
        self._instance = instance()
        self.ports, self._lock = _take_slice()
        self._mark, self._lost = 0, 0

    def sysctls(self) -> dict[str, str]:
        """The settings that give the run's namespaces this slice as their ephemeral ports."""
        return {"net.ipv4.ip_local_port_range": f"{self.ports[0]} {self.ports[1]}"}

    def begin(self) -> None:
        """From now on, the instance's events are this run's to read."""
        self._mark, self._lost = self._instance.begin(self)

    def seen(self) -> list[KernelEvent]:
        """Every event the instance read since begin(), of every run (before attribution)."""
        return self._instance.since(self._mark)

    def record(self, server: Endpoint, connections: Mapping[str, Endpoint],
               clients: Iterable[int] = (),
               server_rsts: Sequence[tuple[float, Endpoint]] = ()) -> KernelRecord:
        """The run's events since begin(), attributed to its connections (those whose port
        is the run's slice); clients are the pids of the run's client processes, server_rsts
        the RSTs the capture saw from the server (harness.core.kernel_events.attribute)."""
        events = self._instance.since(self._mark)
        lost = self._instance.lost - self._lost
        if lost:
            return KernelRecord(missing=f"the kernel's trace buffer overflowed during the run "
                                        f"({lost} events lost)")
        low, high = self.ports
        mine = {name: end for name, end in connections.items() if low <= end[1] <= high}
        untraced = tuple((name, f"its port {end[1]} is outside the ports the harness traces "
                          f"for this run ({low}-{high}): one the scenario chose (bind, or an "
                          f"ip_local_port_range of its own)")
                         for name, end in connections.items() if name not in mine)
        return KernelRecord(events=attribute(events, server, mine, clients, server_rsts),
                            no_reasons=self._instance.no_reasons,
                            covered=tuple(mine.values()), untraced=untraced)

    def close(self) -> None:
        """The run is over: it reads no more; its slice cools until the next is taken."""
        self._instance.end(self)
        with _slices:
            previous = _cooling.pop(os.getpid(), None)
            _cooling[os.getpid()] = self._lock
            _held.discard(self._lock)
        if previous is not None:
            previous.close()


def _take_slice() -> tuple[tuple[int, int], socket.socket]:
    """A slice of PORTS no other run holds, and the socket that holds it; this process's
    cooling slice (its last run's) is let go once the new one is held."""
    start = random.randrange(_SLICES)
    for step in range(_SLICES):
        index = (start + step) % _SLICES
        lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            lock.bind(f"\0tcp-close-harness-ports-{index}")
        except OSError:
            lock.close()
            continue
        with _slices:
            cooled = _cooling.pop(os.getpid(), None)
            _held.add(lock)
        if cooled is not None:
            cooled.close()
        low = PORTS[0] + index * SLICE
        return (low, low + SLICE - 1), lock
    raise OSError(errno.EADDRINUSE, f"all {_SLICES} slices of client ports are held by "
                  "other harness runs")


def open_run_trace() -> tuple[RunTrace | None, KernelRecord | None]:
    """A run's trace, or (None, the record saying why the kernel cannot tell)."""
    if os.environ.get(SWITCH, "").lower() == "off":
        return None, KernelRecord(missing=f"turned off ({SWITCH}=off)")
    problem = tracing_problem()
    if problem is not None:
        return None, KernelRecord(missing=problem)
    return RunTrace(), None


def run_record(trace: RunTrace | None, untraced: KernelRecord | None, calls: Sequence[Call],
               segments: Sequence[Segment], server: Endpoint, client_pid: int) -> KernelRecord:
    """A lab's record so far: its trace's events of the connections its calls and packets
    show, or why there is none (untraced)."""
    if trace is None:
        return untraced or KernelRecord(missing="not recorded")
    rsts = [(s.time, (s.dst, s.dport)) for s in segments
            if s.flags & RST and (s.src, s.sport) == server]
    return trace.record(server, client_endpoints(calls, segments, server), [client_pid], rsts)


def _forget_after_fork() -> None:
    """A forked child holds none of its parent's slices."""
    for lock in [*_cooling.values(), *_held]:
        with contextlib.suppress(OSError):
            lock.close()
    _cooling.clear()
    _held.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
