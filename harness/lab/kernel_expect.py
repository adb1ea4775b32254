"""A test's expectations on the kernel's own events (Lab.expect_rst_reason, Lab.
expect_transitions): decided as a catalog claim's observation is, an AssertionError with the
kernel's words when not met, and a KernelUndecided warning, not a failure, where this
machine cannot record the events (no tracefs, a user namespace)."""

from __future__ import annotations

import warnings
from collections.abc import Collection, Sequence
from typing import Any

from harness.core.claims import kernel_observation
from harness.core.errors import UsageError, closest, quoted
from harness.core.kernel_claims import observe_kernel
from harness.core.kernel_events import KernelRecord
from harness.core.vocabulary import SIDES


class KernelUndecided(UserWarning):
    """An expectation on the kernel's events that this machine cannot decide."""


def expect_kernel(what: str, spec: dict[str, Any], record: KernelRecord) -> bool | None:
    """True when the kernel's events meet spec (a claim's observation: rst_reason or
    transitions); None, with a KernelUndecided warning, when they were not recorded."""
    __tracebackhide__ = True
    kernel_observation(what, spec)  # a misspelt reason or state is the caller's mistake
    ok, line = observe_kernel(spec, record)
    if ok is None:
        warnings.warn(KernelUndecided(f"{what}: {line}"), stacklevel=3)
        return None
    if not ok:
        raise AssertionError(f"{what}: {line}")
    return True


def transitions_spec(side: str, through: Sequence[str] | None, exactly: Sequence[str] | None,
                     connection: str, known: Collection[str]) -> dict[str, Any]:
    """Lab.expect_transitions' arguments as the observation a claim would write; a mistake
    is a UsageError naming the argument (known: the lab's connections so far)."""
    if side not in SIDES:
        near = closest(str(side), list(SIDES))
        hint = f"; did you mean {near[0]}?" if near else ""
        raise UsageError(f"expect_transitions: side {quoted(side)} is no side{hint} "
                         f"(known: {', '.join(SIDES)})")
    spec: dict[str, Any] = {"transitions": side, "connection": connection}
    for name, states in (("through", through), ("exactly", exactly)):
        if states is None:
            continue
        if isinstance(states, str) or not isinstance(states, Sequence) or not all(
                isinstance(state, str) for state in states):
            raise UsageError(f"expect_transitions: {name} takes a list of TCP states, e.g. "
                             f'["FIN-WAIT-1", "TIME-WAIT"], not {quoted(states)}')
        spec[name] = list(states)
    if known and connection not in known:
        near = closest(str(connection), list(known))
        hint = f"; did you mean {near[0]}?" if near else ""
        raise UsageError(f"expect_transitions: no connection {quoted(connection)}{hint} (the "
                         f"lab's: {', '.join(sorted(known))})")
    return spec
