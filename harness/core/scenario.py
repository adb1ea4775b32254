"""Scenarios as values: the steps a run makes, the wire and states it expects, its claims.

harness.core.catalog reads them from TOML and checks them before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.core.calls import CALLS, CallSpec
from harness.core.claims import Claim
from harness.core.display_filter import DisplayFilter
from harness.core.expect import Expect
from harness.core.link import Link
from harness.core.values import FrozenMap, spelled
from harness.core.vocabulary import FAMILIES, TOPOLOGIES


@dataclass(frozen=True)
class Step:
    """One call by one socket (or, for the lab's waits, on a side or the wire)."""

    on: str
    call: str
    args: FrozenMap = field(default_factory=FrozenMap)
    expect: Expect | None = None

    @property
    def spec(self) -> CallSpec:
        """The call's entry in the table of calls."""
        return CALLS[self.call]

    def arg(self, name: str) -> Any:
        """An argument as given, or the table's default for it."""
        if name in self.args:
            return self.args[name]
        found = self.spec.arg(name)
        return found.default if found else None

    def text(self) -> str:
        """The step as written: `conn.recv(100)`."""
        shown = {a.name for a in self.spec.args if a.shown}
        values = ", ".join(spelled(v) for k, v in self.args.items() if k in shown)
        return f"{self.on}.{self.call}({values})"


@dataclass(frozen=True)
class Scenario:
    """A close scenario: what the literature says, the steps, and what Linux should show."""

    id: str
    title: str
    statement: str
    source: str
    pattern: str
    steps: tuple[Step, ...]
    states: FrozenMap
    families: tuple[str, ...] = FAMILIES
    topologies: tuple[str, ...] = TOPOLOGIES
    claims: tuple[Claim, ...] = ()
    min_send_q: FrozenMap = field(default_factory=FrozenMap)
    wireshark_warnings: tuple[str, ...] = ()
    link: Link | None = None
    path: str = ""
    display_filters: tuple[DisplayFilter, ...] = ()
    sysctls: FrozenMap = field(default_factory=FrozenMap)
