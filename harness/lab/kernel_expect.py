"""A test's expectations on the kernel's own events (Lab.expect_rst_reason, Lab.
expect_transitions): decided as a catalog claim's observation is, an AssertionError with the
kernel's words when not met, and a KernelUndecided warning, not a failure, where this
machine cannot record the events (no tracefs, a user namespace)."""

from __future__ import annotations

import warnings
from typing import Any

from harness.core.claims import kernel_observation
from harness.core.kernel_claims import observe_kernel
from harness.core.kernel_events import KernelRecord


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
