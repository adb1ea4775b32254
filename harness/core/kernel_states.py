"""The states the kernel's events imply beyond what they say: the hand-over to a time-wait
socket (no tracepoint reports TIME-WAIT), the last state the kernel moved a side to, held
against the one sock_diag read, and the marks a ladder or a pcap comment shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from harness.core.kernel_events import TIME_WAIT_HANDOFF, KernelRecord

_TIME_WAIT_FROM = ("FIN-WAIT-1", "FIN-WAIT-2", "CLOSING")


def with_time_wait(record: KernelRecord, final: Mapping[str, str]) -> KernelRecord:
    """The record with the hand-over to a time-wait socket (TIME_WAIT_HANDOFF) put in for
    each side whose first connection ended in TIME-WAIT (final: side -> the state sock_diag
    read): at its last change to CLOSE from FIN-WAIT-1, FIN-WAIT-2 or CLOSING that no RST
    caused."""
    added = []
    for side, state in final.items():
        if state != "TIME-WAIT":
            continue
        changes = [e for e in record.transitions(side) if e.event == "inet_sock_set_state"]
        last = changes[-1] if changes else None
        if last is None or last.new != "CLOSE" or last.old not in _TIME_WAIT_FROM:
            continue
        reset = any(e.side == side and e.event in ("tcp_send_reset", "tcp_receive_reset")
                    and abs(e.time - last.time) < 0.001 for e in record.events)
        if not reset:
            added.append(replace(last, event=TIME_WAIT_HANDOFF, new="TIME-WAIT"))
    if not added:
        return record
    events = sorted([*added, *record.events],
                    key=lambda e: (e.time, e.event != TIME_WAIT_HANDOFF))
    return replace(record, events=tuple(events))


#: The states sock_diag may read for a connection whose full socket the kernel last moved to
#: CLOSE: gone, or in a timewait socket (its substate: TIME-WAIT, or FIN-WAIT-2 for an orphan
#: that TCP_LINGER2 keeps).
_AFTER_CLOSE = ("CLOSED", "CLOSE", "TIME-WAIT", "FIN-WAIT-2")


def last_state(record: KernelRecord, side: str) -> str | None:
    """The state the kernel last moved a side's first connection to (the TIME-WAIT it was
    handed over to, not the full socket's CLOSE after it); None without any change."""
    changes = record.transitions(side)
    if not changes:
        return None
    last = changes[-1]
    if last.new == "CLOSE" and len(changes) > 1 and changes[-2].event == TIME_WAIT_HANDOFF:
        return "TIME-WAIT"
    return last.new


def final_state_problem(record: KernelRecord | None, side: str, final: str) -> str | None:
    """Why the state sock_diag read for a side at the end cannot follow the kernel's last
    change of it (None when it can, or nothing was recorded): the two readings cross-check."""
    if record is None or not record.traced or final == "CLOSED" or record.why_untraced("client"):
        return None
    if record.states_read:  # a change after sock_diag read the state is not held against it
        record = replace(record, events=tuple(e for e in record.events
                                              if e.time <= record.states_read))
    last = last_state(record, side)
    if last is None or final == last:
        return None
    if last == "CLOSE" and final in _AFTER_CLOSE:
        return None
    return (f"{side}: sock_diag read {final} at the end, but the kernel's last change of its "
            f"state was to {last}")


def marks_of_transitions(record: KernelRecord) -> list[tuple[float, str, str, str]]:
    """(time, side, old, new) of each state the kernel moved the first connection's sides
    to, in order; the full socket's CLOSE after its hand-over to a time-wait socket is left
    out (the connection is in TIME-WAIT then)."""
    if not record.traced:
        return []
    marks = []
    for side in ("client", "server"):
        changes = record.transitions(side)
        for i, change in enumerate(changes):
            if change.new == "CLOSE" and i > 0 and changes[i - 1].event == TIME_WAIT_HANDOFF:
                continue
            marks.append((change.time, side, change.old, change.new))
    return sorted(marks)
