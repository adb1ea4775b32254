"""The kernel features calls need (harness.core.call_spec.Needs), each found by trying it once
in this process (and remembered), never by reading the kernel's configuration; a scenario or
a call that needs one the kernel lacks is refused before it runs, in one line."""

from __future__ import annotations

import platform
from collections.abc import Callable, Mapping
from types import MappingProxyType

from harness.core.call_spec import Needs
from harness.core.calls import CALLS
from harness.core.errors import UserError
from harness.core.scenario import Scenario
from harness.lab import sockdiag

#: How to find out whether the kernel has each feature: True when it has.
PROBES: Mapping[Needs, Callable[[], bool]] = MappingProxyType({
    Needs.SOCK_DESTROY: sockdiag.destroy_supported})


class KernelLacks(UserError):
    """A call needs a kernel feature this kernel does not have."""


def lacks(needs: Needs) -> str | None:
    """Why this kernel cannot do what needs names, None when it can."""
    if PROBES[needs]():
        return None
    return (f"needs {needs.value}, which this kernel ({platform.release()}) lacks (trying it "
            "was refused with EOPNOTSUPP): run it on a kernel that has it")


def require(needs: Needs, call: str = "") -> None:
    """KernelLacks (one line) unless the kernel has the feature."""
    problem = lacks(needs)
    if problem:
        raise KernelLacks(f"{call or 'this call'} {problem}")


def scenario_problem(scenario: Scenario) -> str | None:
    """The first step of scenario whose call needs what this kernel lacks, in one line."""
    for number, step in enumerate(scenario.steps, 1):
        needs = CALLS[step.call].needs
        problem = lacks(needs) if needs is not None else None
        if problem:
            return (f"{scenario.path or scenario.id} step {number} ({step.text()}): "
                    f"{step.call} {problem}")
    return None
