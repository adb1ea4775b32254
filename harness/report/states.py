"""The TCP states a ladder writes on its lifelines: marks of (time, side, state), and the text
they are written in and read back from (`client CLOSED, server FIN-WAIT-1 (send_q 2985985,
orphan)`, as a run's story and its verdict line write the final states).

A run knows the state each side ended in, the one sock_diag read (a mark without a time), and,
where the kernel's tracepoints were recorded, every state each side entered (a mark with a
time, drawn at that moment).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.core.kernel_events import KernelRecord
from harness.core.kernel_states import marks_of_transitions
from harness.core.result import FinalState
from harness.core.vocabulary import SIDES

#: How a line that lists the final states begins (a story's line, a pcapng section comment).
FINAL_STATES = "final states: "
_SIDE_STATE = re.compile(r"(?P<side>\w+) (?P<state>[A-Z][A-Z0-9-]*)(?: \((?P<detail>[^)]*)\))?")


@dataclass(frozen=True)
class StateMark:
    """A side's TCP state on its lifeline: entered at `time` (seconds from the ladder's origin),
    or, with time None, the state the side was in when the run ended; `detail` adds what the
    kernel said of the socket then (`send_q 2985985, orphan`)."""

    side: str
    state: str
    time: float | None = None
    detail: str = ""

    @property
    def text(self) -> str:
        """`FIN-WAIT-1 (send_q 2985985, orphan)`, or just `CLOSED`."""
        return self.state + (f" ({self.detail})" if self.detail else "")

    @property
    def final(self) -> bool:
        """Whether this is the state the side ended in rather than one it passed through."""
        return self.time is None


def mark_of(side: str, state: FinalState) -> StateMark:
    """The final state sock_diag read for side, with its queues and whether it was orphaned."""
    detail = [f"{name} {value}" for name, value in (("recv_q", state.recv_q),
                                                   ("send_q", state.send_q)) if value]
    detail += ["orphan"] if state.orphan else []
    return StateMark(side=side, state=state.state, detail=", ".join(detail))


def final_marks(states: Mapping[str, FinalState]) -> list[StateMark]:
    """A final mark for each side whose state is known (client first); other keys are no
    lifeline's."""
    return [mark_of(side, states[side]) for side in SIDES if side in states]


def marks_text(marks: Sequence[StateMark]) -> str:
    """`client CLOSED, server FIN-WAIT-1 (send_q 2985985, orphan)`."""
    return ", ".join(f"{mark.side} {mark.text}" for mark in marks)


def read_marks(text: str) -> list[StateMark]:
    """The final marks of marks_text's text (sides that name no lifeline are left out)."""
    return [StateMark(side=m["side"], state=m["state"], detail=m["detail"] or "")
            for m in _SIDE_STATE.finditer(text) if m["side"] in SIDES]


def marks_in(lines: Sequence[str]) -> list[StateMark]:
    """The final marks of the first line that lists them (`final states: ...`), if any does."""
    for line in lines:
        if line.strip().startswith(FINAL_STATES):
            return read_marks(line.strip().removeprefix(FINAL_STATES))
    return []


def transition_marks(record: KernelRecord | None) -> list[StateMark]:
    """A timed mark for each state the kernel says a side of the first connection entered
    (times from the record's origin; harness.core.kernel_states.marks_of_transitions)."""
    if record is None:
        return []
    return [StateMark(side=side, state=new, time=when)
            for when, side, _old, new in marks_of_transitions(record)]
