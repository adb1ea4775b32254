"""The results document (results.json) as frozen values: the kernel, and each run with what
it was, what it found and the story it told, exactly the keys results.json has.

`to_json()` gives the document's stable shape, which CI users parse; `Results.from_json()`
reads one back (for `harness report`), refusing a value of the wrong type with one line that
names its place. Keys a file leaves out take the values an empty run would have.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.core.display_filter import FilterOutcome
from harness.core.entries import (
    CallEntry,
    ClaimEntry,
    MatchEntry,
    PacketEntry,
    ResultsError,
    crosscheck,
    each,
    filter_outcome,
    final_state,
    strings,
    table,
    take,
)
from harness.core.kernel_entry import kernel_from_json, kernel_json
from harness.core.kernel_events import KernelRecord
from harness.core.result import CaptureCounts, Phases
from harness.core.values import FrozenMap
from harness.core.verdict import CrossCheck

__all__ = ["Results", "ResultsError", "RunEntry"]


@dataclass(frozen=True)
class RunEntry:
    """One run: the scenario, where it ran, its verdict, its wire, calls, states and claims."""

    id: str
    family: str = ""
    topology: str = "loopback"
    verdict: str = ""
    title: str = ""
    statement: str = ""
    source: str = ""
    pattern: str = ""
    observed: tuple[str, ...] = ()
    pcap: str | None = None
    calls: tuple[CallEntry, ...] = ()
    client_address: str | None = None
    server_address: str | None = None
    origin: float = 0.0
    packets: tuple[PacketEntry, ...] = ()
    match: MatchEntry | None = None
    states: FrozenMap = field(default_factory=FrozenMap)  # side -> FinalState
    capture: CaptureCounts | None = None
    phases: Phases = field(default_factory=Phases)
    claims: tuple[ClaimEntry, ...] = ()
    crosscheck: CrossCheck | None = None
    story: tuple[str, ...] = ()
    reason: str | None = None  # the reasons joined by "; " (the key results.json always had)
    reasons: tuple[str, ...] = ()
    display_filters: tuple[FilterOutcome, ...] = ()
    kernel: KernelRecord | None = None  # the kernel's events, times from origin

    def first_reason(self) -> str:
        """The first reason the run did not pass ("" for a pass)."""
        return self.reasons[0] if self.reasons else ""

    def to_json(self) -> dict[str, Any]:
        """The run as results.json writes it."""
        entry: dict[str, Any] = {
            "id": self.id, "title": self.title, "statement": self.statement,
            "source": self.source, "family": self.family, "topology": self.topology,
            "verdict": self.verdict, "pattern": self.pattern, "observed": list(self.observed),
            "pcap": self.pcap, "calls": [c.to_json() for c in self.calls],
            "client_address": self.client_address, "server_address": self.server_address,
            "origin": self.origin, "packets": [p.to_json() for p in self.packets],
            "match": self.match.to_json() if self.match else None,
            "states": {side: state.to_json() for side, state in self.states.items()},
            "capture": self.capture.to_json() if self.capture else {},
            "phases": self.phases.to_json(), "claims": [c.to_json() for c in self.claims],
            **({"crosscheck": self.crosscheck.to_json()} if self.crosscheck else {}),
            **({"display_filters": [f.to_json() for f in self.display_filters]}
               if self.display_filters else {}),
            **(kernel_json(self.kernel, 0.0) if self.kernel is not None else {}),
            "story": list(self.story)}
        if self.reason is not None:
            entry["reason"] = self.reason
            entry["reasons"] = list(self.reasons)
        return entry

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], where: str = "run") -> RunEntry:
        """A run read back from results.json; ResultsError names a value of the wrong type."""
        raw = table(raw, where)
        run_id = take(raw, "id", (str,), "", where)
        if not run_id:
            raise ResultsError(f"{where}: id is missing; each run names its scenario")
        where = f"{where} ({run_id})"
        match = raw.get("match")
        reason = take(raw, "reason", (str,), None, where)
        reasons = strings(raw, "reasons", where) or ((reason,) if reason else ())
        return cls(
            id=run_id, family=take(raw, "family", (str,), "", where),
            topology=take(raw, "topology", (str,), "loopback", where),
            verdict=take(raw, "verdict", (str,), "", where),
            title=take(raw, "title", (str,), "", where),
            statement=take(raw, "statement", (str,), "", where),
            source=take(raw, "source", (str,), "", where),
            pattern=take(raw, "pattern", (str,), "", where),
            observed=strings(raw, "observed", where), pcap=take(raw, "pcap", (str,), None, where),
            calls=each(raw, "calls", where, CallEntry.from_json),
            client_address=take(raw, "client_address", (str,), None, where),
            server_address=take(raw, "server_address", (str,), None, where),
            origin=take(raw, "origin", (int, float), 0.0, where),
            packets=each(raw, "packets", where, PacketEntry.from_json),
            match=MatchEntry.from_json(table(match, f"{where}: match"), f"{where}: match")
            if match is not None else None,
            states=_states(raw.get("states", {}), where), capture=_capture(raw, where),
            phases=_phases(raw.get("phases", {}), where),
            claims=each(raw, "claims", where, ClaimEntry.from_json),
            crosscheck=crosscheck(raw.get("crosscheck"), f"{where}: crosscheck"),
            story=strings(raw, "story", where), reason=reason, reasons=reasons,
            display_filters=each(raw, "display_filters", where, filter_outcome),
            kernel=kernel_from_json(raw, where))


def _states(raw: Any, where: str) -> FrozenMap:
    states = table(raw, f"{where}: states")
    return FrozenMap({side: final_state(table(value, f"{where}: states.{side}"),
                                        f"{where}: states.{side}")
                      for side, value in states.items()})


def _capture(raw: Mapping[str, Any], where: str) -> CaptureCounts | None:
    counts = table(raw.get("capture", {}), f"{where}: capture")
    if not counts:
        return None
    number = {key: take(counts, key, (int,), 0, f"{where}: capture")
              for key in ("frames", "kernel_packets", "kernel_drops")}
    return CaptureCounts(number["frames"], number["kernel_packets"], number["kernel_drops"])


def _phases(raw: Any, where: str) -> Phases:
    phases = table(raw, f"{where}: phases")
    return Phases(tuple((name, float(take(phases, name, (int, float), 0.0, f"{where}: phases")))
                        for name in phases))


#: The version of results.json's shape: raised when a key changes meaning or goes away
#: (keys are only ever added within one version).
SCHEMA = 1


@dataclass(frozen=True)
class Results:
    """results.json: the kernel the runs were made on, the harness that made them, and every
    run in plan order; its summary is made from the runs."""

    kernel: str
    runs: tuple[RunEntry, ...] = ()
    harness: str = ""
    schema: int = SCHEMA

    def not_passed(self) -> tuple[RunEntry, ...]:
        """The runs whose verdict is not a pass, in plan order."""
        return tuple(run for run in self.runs if run.verdict != "pass")

    def summary(self) -> dict[str, Any]:
        """How many runs there were and how each came out; every run that did not pass with
        its first reason."""
        verdicts = [run.verdict for run in self.runs]
        return {"runs": len(self.runs), "passed": verdicts.count("pass"),
                "failed": verdicts.count("fail"), "errors": verdicts.count("error"),
                "not_passed": [{"id": run.id, "family": run.family, "topology": run.topology,
                                "verdict": run.verdict, "reason": run.first_reason()}
                               for run in self.not_passed()]}

    def to_json(self) -> dict[str, Any]:
        """The whole document, as results.json writes it."""
        return {"schema": self.schema, "harness": self.harness, "kernel": self.kernel,
                "summary": self.summary(), "runs": [run.to_json() for run in self.runs]}

    @classmethod
    def from_json(cls, raw: Any, where: str = "results.json") -> Results:
        """A document read back; ResultsError names the first value of the wrong type."""
        if not isinstance(raw, Mapping) or not isinstance(raw.get("runs"), list):
            raise ResultsError(f"{where}: no list of runs in it; give the results.json that "
                               "`harness verify` writes")
        schema = take(raw, "schema", (int,), SCHEMA, where)
        if schema > SCHEMA:
            raise ResultsError(f"{where}: schema {schema} is newer than this harness reads "
                               f"({SCHEMA}); render it with the harness that wrote it")
        runs = tuple(RunEntry.from_json(run, f"{where}: run {i}")
                     for i, run in enumerate(raw["runs"], 1))
        return cls(kernel=str(raw.get("kernel", "unknown")), runs=runs,
                   harness=take(raw, "harness", (str,), "", where), schema=schema)
