"""The tracing phase of `make bench`: what recording the kernel's events costs a run.

Runs with and without the recording (HARNESS_KERNEL_EVENTS=off), interleaved round by round
in this process, the same scenarios: the median `kernel events` phase of a traced run (its
port slice, the reads of the instance, parsing and attributing; target 2 ms), and the median
wall time of both, as a ratio. The instance's own making and removing happen once per
process; they are timed apart.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from harness.core.catalog import load_catalog
from harness.lab.tracing import SWITCH, close_tracing, tracing_problem
from harness.orchestration.batch import Planned

SCENARIOS = ["default-close", "linger-abort-server", "unread-data-close", "write-after-peer-close"]
TARGET_MS = 2.0
RunRound = Callable[[list[Planned]], list[dict]]


def _round(planned: list[Planned], traced: bool, run_round: RunRound
           ) -> list[tuple[float, float]]:
    """(wall s, kernel events phase s) of each planned run, traced or not."""
    if traced:
        os.environ.pop(SWITCH, None)
    else:
        os.environ[SWITCH] = "off"
    try:
        return [(row["wall"], row["phases"].get("kernel events", 0.0))
                for row in run_round(planned)]
    finally:
        os.environ.pop(SWITCH, None)


def tracing(rounds: int, folder: Path, run_round: RunRound) -> dict:
    """The tracing's cost, per run and once per process; run_round runs planned runs in this
    process (bench.harness_round) and gives each one's wall time and phases."""
    close_tracing()
    began = time.perf_counter()
    problem = tracing_problem()
    setup = time.perf_counter() - began
    if problem is not None:
        return {"recorded": False, "why": problem}
    catalog = {sc.id: sc for sc in load_catalog()}
    planned = [Planned(catalog[i], family, "loopback", folder / f"trace-{i}-{family}.pcapng")
               for i in SCENARIOS for family in ("ipv4", "ipv6")]
    _round(planned, True, run_round)  # warm up
    on: list[tuple[float, float]] = []
    off: list[tuple[float, float]] = []
    for _ in range(rounds):
        on += _round(planned, True, run_round)
        off += _round(planned, False, run_round)
    began = time.perf_counter()
    close_tracing()
    removal = time.perf_counter() - began
    phase = statistics.median(p for _, p in on) * 1000
    wall_on, wall_off = (statistics.median(w for w, _ in rows) * 1000 for rows in (on, off))
    return {"recorded": True, "runs": len(on), "kernel events phase ms": round(phase, 3),
            "target ms": TARGET_MS, "met": phase <= TARGET_MS,
            "traced run ms": round(wall_on, 1), "untraced run ms": round(wall_off, 1),
            "ratio": round(wall_on / wall_off, 3),
            "instance setup ms": round(setup * 1000, 1),
            "instance removal ms": round(removal * 1000, 1)}


def render(found: dict) -> list[str]:
    """The tracing's lines, as printed."""
    if not found.get("recorded"):
        return [f"kernel events: not recorded here ({found.get('why')}); nothing to time"]
    return [f"kernel events ({found['runs']} runs, loopback): the tracing phase "
            f"{found['kernel events phase ms']:.2f} ms a run (target {TARGET_MS:.0f} ms: "
            f"{'met' if found['met'] else 'NOT met'}); a run {found['traced run ms']:.1f} ms "
            f"traced, {found['untraced run ms']:.1f} ms not: {found['ratio']:.3f}x; once per "
            f"process: the instance made in {found['instance setup ms']:.0f} ms, removed in "
            f"{found['instance removal ms']:.0f} ms"]
