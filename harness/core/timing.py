"""packetdrill's timing tolerance, the one rule for "this long" in the harness: the kernel's
timers tick (and a jiffy may pass between two stamps), so a duration is within
max(4 ms, 12.5 %) of what was expected. A call's `elapsed` and a packet's `dt` and `t`
fields in a pattern both use it."""

from __future__ import annotations

__all__ = ["TOLERANCE_FLOOR", "TOLERANCE_SHARE", "tolerance"]

#: The least slack: 4 ms, whatever the duration.
TOLERANCE_FLOOR = 0.004
#: The slack as a share of the duration: 12.5 %.
TOLERANCE_SHARE = 0.125


def tolerance(expected: float) -> float:
    """How far an observed duration may stray from the expected one, in seconds."""
    return max(TOLERANCE_FLOOR, TOLERANCE_SHARE * expected)
