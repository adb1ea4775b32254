"""Waiting for a run's final states, both sides at once, each decided as soon as it is in its
state or in one from which that state can no longer follow; and the check of the side and
state a wait is given.

A TCP state change follows the packet that caused it, and the capture sees each packet before
TCP does, so once the states are reached every packet that led there is queued in the capture
socket.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from harness.core.errors import UsageError, closest, quoted
from harness.core.vocabulary import LATER_STATES, SIDES, STATE_NAMES
from harness.lab.waiting import WaitTimeout, wait_until


def check_state(side: str, state: str) -> None:
    """UsageError (one line, with the closest names) unless side and state are valid."""
    for value, names, what in ((side, SIDES, "side"), (state, STATE_NAMES, "TCP state")):
        if value not in names:
            near = closest(str(value), list(names))
            hint = f"; did you mean {near[0]}?" if near else ""
            raise UsageError(f"wait_state: unknown {what} {quoted(value)}{hint} (known: "
                             f"{', '.join(names)})")


def settle(state: Callable[[str], str], states: Mapping[str, str], within: float) -> list[str]:
    """Wait until each side (state(side) reads its state now) is in its expected final state,
    at most within seconds; a note for each that never got there or never can."""
    pending, notes = dict(states), []

    def settled() -> bool:
        for side, want in list(pending.items()):
            now = state(side)
            if now != want and want in LATER_STATES[now]:
                continue
            if now != want:
                notes.append(f"the {side} is in {now}, from which {want} cannot follow: "
                             "not waiting for it")
            del pending[side]
        return not pending

    try:
        wait_until(settled, within, "the final states")
    except WaitTimeout:
        notes += [f"timed out after {within:.2f} s waiting for: the {side} to reach {want} "
                  f"(it is in {state(side)})" for side, want in pending.items()]
    return notes
