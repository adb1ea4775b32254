"""A run's kernel events in results.json: `kernel` says whether they were recorded (and why
not), `transitions` gives each side's state changes (time, old, new; `connection` on those
of a connection other than the first; `by` "sock_diag" on the hand-over to a time-wait
socket, which no tracepoint reports) and `resets` each RST the kernel sent, with its
reason. Times count from the run's origin, as the packets' and calls' do."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.core.entries import each, table, take
from harness.core.kernel_events import STATE_EVENTS, TIME_WAIT_HANDOFF, KernelEvent, KernelRecord
from harness.core.vocabulary import SIDES


def kernel_json(record: KernelRecord, start: float) -> dict[str, Any]:
    """The record's keys for a run's entry (its times from start)."""
    if not record.traced:
        return {"kernel": {"traced": False, "why": record.missing}}
    def at(e: KernelEvent) -> float:
        return round(e.time - start, 6)
    def conn(e: KernelEvent) -> dict[str, str]:
        return {} if e.connection == "client" else {"connection": e.connection}
    def told(e: KernelEvent) -> dict[str, Any]:
        return {"by": "sock_diag"} if e.event == TIME_WAIT_HANDOFF else {}
    transitions = {side: [{"time": at(e), "old": e.old, "new": e.new, **conn(e), **told(e)}
                          for e in record.events
                          if e.event in STATE_EVENTS and e.side == side]
                   for side in SIDES}
    resets = [{"time": at(e), "from": e.side, "reason": e.reason, "state": e.state, **conn(e)}
              for e in record.resets()]
    kernel: dict[str, Any] = {"traced": True}
    if record.no_reasons:
        kernel["no_reasons"] = record.no_reasons
    if record.untraced:
        kernel["untraced"] = [{"connection": name, "why": why} for name, why in record.untraced]
    return {"kernel": kernel, "transitions": transitions, "resets": resets}


def kernel_from_json(raw: Mapping[str, Any], where: str) -> KernelRecord | None:
    """The record a run's entry holds (times as written), None for an entry without one."""
    if "kernel" not in raw:
        return None
    kernel = table(raw["kernel"], f"{where}: kernel")
    if not take(kernel, "traced", (bool,), False, f"{where}: kernel"):
        return KernelRecord(missing=take(kernel, "why", (str,), "not recorded",
                                         f"{where}: kernel") or "not recorded")
    events: list[KernelEvent] = []
    transitions = table(raw.get("transitions", {}), f"{where}: transitions")
    for side in SIDES:
        events += each(transitions, side, f"{where}: transitions",
                       lambda item, at, side=side: _event(
                           item, at, side, TIME_WAIT_HANDOFF if item.get("by") == "sock_diag"
                           else "inet_sock_set_state"))
    events += each(raw, "resets", where,
                   lambda item, at: _event(item, at, take(item, "from", (str,), "", at),
                                           "tcp_send_reset"))
    untraced = each(kernel, "untraced", f"{where}: kernel", lambda item, at: (
        take(item, "connection", (str,), "", at), take(item, "why", (str,), "", at)))
    return KernelRecord(events=tuple(sorted(events, key=lambda e: e.time)),
                        no_reasons=take(kernel, "no_reasons", (str,), "", f"{where}: kernel"),
                        untraced=untraced)


def _event(item: Mapping[str, Any], where: str, side: str, kind: str) -> KernelEvent:
    def text(key: str) -> str:
        return take(item, key, (str,), "", where)
    return KernelEvent(time=float(take(item, "time", (int, float), 0.0, where)), event=kind,
                       old=text("old"), new=text("new"), state=text("state"),
                       reason=text("reason"), side=side,
                       connection=text("connection") or "client")
