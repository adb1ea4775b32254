"""The shell's side of the kernel's events, without privileges: reading the instance in whole
lines without blocking, each run's events from its own begin(), and the slices of client
ports no two runs hold at once."""

from __future__ import annotations

import os
import socket

import pytest

from harness.lab import tracing
from harness.lab.trace_instance import Instance

SYN_SENT = ("python-8279 (   8277) [000] ..... 16136.659131: inet_sock_set_state: family=AF_INET "
            "protocol=IPPROTO_TCP sport=20001 dport=5000 saddr=127.0.0.1 daddr=127.0.0.1 "
            "saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_SYN_SENT "
            "newstate=TCP_ESTABLISHED\n")


@pytest.fixture
def fed() -> tuple[Instance, int]:
    """An Instance reading a pipe the test writes to, as it reads trace_pipe."""
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    made = object.__new__(Instance)
    made.__dict__.update(problem=None, no_reasons="", events=[], lost=0, _base=0,
                         _readers=set(), _proc=None, _pipe=read_end, _rest=b"")
    yield made, write_end
    os.close(read_end)
    os.close(write_end)


def test_the_instance_is_read_in_whole_lines_without_blocking(fed) -> None:
    made, pipe = fed
    assert made.read() == ""  # nothing there: EAGAIN, not a wait
    os.write(pipe, SYN_SENT.encode()[:50])
    assert made.read() == ""  # half a line waits for its end
    os.write(pipe, SYN_SENT.encode()[50:] + SYN_SENT.encode()[:10])
    assert made.read() == SYN_SENT
    os.write(pipe, SYN_SENT.encode()[10:])
    assert made.read() == SYN_SENT


def test_each_run_reads_from_its_own_begin_and_lost_events_are_counted(fed) -> None:
    made, pipe = fed
    first, second = object(), object()
    os.write(pipe, SYN_SENT.encode())
    mark_a, lost_a = made.begin(first)  # what came before any run is let go
    assert lost_a == 0 and made.events == []
    os.write(pipe, SYN_SENT.encode())
    mark_b, _ = made.begin(second)
    os.write(pipe, SYN_SENT.encode() + b"CPU:1 [LOST 3 EVENTS]\n")
    assert len(made.since(mark_a)) == 2 and len(made.since(mark_b)) == 1
    assert made.lost == 3
    made.end(first)
    made.end(second)
    made.begin(first)  # nobody reads the old ones: let go
    assert made.events == []


def test_no_two_runs_hold_one_slice_and_a_run_lets_its_slice_cool(monkeypatch) -> None:
    (low, high), lock = tracing._take_slice()
    assert high - low + 1 == tracing.SLICE and tracing.PORTS[0] <= low < high <= tracing.PORTS[1]
    index = (low - tracing.PORTS[0]) // tracing.SLICE
    name = f"\0tcp-close-harness-ports-{index}"
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with pytest.raises(OSError):  # another process could not take it
        other.bind(name)
    other.close()
    (low2, _), lock2 = tracing._take_slice()
    assert low2 != low
    run = object.__new__(tracing.RunTrace)
    run._instance, run._lock = Instance.__new__(Instance), lock
    run._instance.__dict__.update(_readers=set())
    run.close()  # the first run ends: its slice cools, still held
    again = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with pytest.raises(OSError):
        again.bind(name)
    (_, _), lock3 = tracing._take_slice()  # the next slice taken lets the cooled one go
    again.bind(name)
    for held in (again, lock2, lock3):
        held.close()


def test_the_switch_turns_the_recording_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tracing.SWITCH, "off")
    trace, record = tracing.open_run_trace()
    assert trace is None and record is not None
    assert record.missing == "turned off (HARNESS_KERNEL_EVENTS=off)"
