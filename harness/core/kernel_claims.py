"""Observations the kernel's own events decide (harness.core.kernel_events): which reason the
kernel gave for a side's RSTs, and which states a side's socket went through. Each gives a
line of evidence; None for "cannot tell" where the events were not recorded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.core.kernel_events import KernelRecord


def observe_kernel(spec: Mapping[str, Any], record: KernelRecord | None
                   ) -> tuple[bool | None, str]:
    """(met, evidence) for a rst_reason or transitions observation; met is None when the
    kernel's events are missing, or the RSTs carry no reason on this kernel."""
    if record is None or not record.traced:
        why = record.missing if record is not None else "not recorded"
        return None, f"the kernel's events were not recorded ({why}): undecided"
    if "rst_reason" in spec:
        if not record.resets(spec.get("from")) and record.untraced:
            name, why = record.untraced[0]
            return None, f"no RST was traced, and connection {name} was not ({why}): undecided"
        return _rst_reason(spec, record)
    why = record.why_untraced(spec.get("connection", "client"))
    if why:
        return None, f"the connection was not traced ({why}): undecided"
    return _transitions(spec, record)


def _rst_reason(spec: Mapping[str, Any], record: KernelRecord) -> tuple[bool | None, str]:
    side = spec.get("from")
    resets = record.resets(side)
    who = f"the {side}" if side else "either side"
    if record.no_reasons:
        return None, f"{record.no_reasons}: undecided"
    if not resets:
        return False, f"the kernel sent no RST from {who}"
    said = ", ".join(f"{e.reason} (state {e.state or 'none'})" for e in resets)
    ok = any(e.reason == spec["rst_reason"] for e in resets)
    return ok, f"the kernel's RST{'s' * (len(resets) != 1)} from {who}: reason {said}"


def _transitions(spec: Mapping[str, Any], record: KernelRecord) -> tuple[bool, str]:
    side, connection = spec["transitions"], spec.get("connection", "client")
    entered = record.entered(side, connection)
    which = "" if connection == "client" else f" (connection {connection})"
    path = " -> ".join(entered) if entered else "no state change"
    if "exactly" in spec:
        ok = entered == list(spec["exactly"])
        return ok, f"the {side}{which} entered {path}" + (
            "" if ok else f"; exactly {' -> '.join(spec['exactly'])} was wanted")
    ok = passes_through(entered, spec["through"])
    return ok, f"the {side}{which} entered {path}" + (
        "" if ok else f"; it did not pass through {' -> '.join(spec['through'])} in order")


def passes_through(entered: Sequence[str], through: Sequence[str]) -> bool:
    """Whether the states through come in entered, in order (others allowed between)."""
    states = iter(entered)
    return all(any(state == want for state in states) for want in through)
