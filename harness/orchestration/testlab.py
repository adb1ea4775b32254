"""The lab a pytest test gets, told without pytest: its settings (from the `capture` markers
and the fixture's parameter), its pcap written with the story in it (each packet's steps and
pattern place; the test, its pattern and its outcome in the section comments), and what a
failing test shows of it (calls and packets on one clock, and where the pcap is)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.conversation import split_conversations
from harness.core.errors import UsageError, closest, one_line, quoted
from harness.core.link import Link, LinkError, parse_link
from harness.core.sysctls import SysctlError, parse_sysctls
from harness.core.values import FrozenMap
from harness.core.vocabulary import FAMILIES, SERVER_PORT, TOPOLOGIES
from harness.lab.lab import Lab
from harness.lab.sysctl import sysctl_problem
from harness.orchestration.plan import check_link
from harness.pcap.annotate import frame_comments
from harness.report.terminal import timeline

MARKER = "@pytest.mark.capture"
#: What a test's lab can be told, by keyword (the marker) or in a mapping (the parameter).
KNOWN = ("family", "topology", "link", "port", "sysctls")
#: A test's outcome as its pcap says it, by pytest's word for it.
LABELS = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP", "error": "ERROR"}


@dataclass(frozen=True)
class LabSettings:
    """How a test's lab is made: the family, the topology, the veth link, the server's port,
    the sysctls set in its namespaces."""

    family: str = "ipv4"
    topology: str = "loopback"
    link: Link | None = None
    port: int = SERVER_PORT
    sysctls: FrozenMap = field(default_factory=FrozenMap)

    def make(self, scenario: str, pcap_path: Path) -> Lab:
        """A fresh lab made so."""
        return Lab(family=self.family, scenario=scenario, pcap_path=pcap_path,
                   topology=self.topology, link=self.link, port=self.port,
                   sysctls=self.sysctls)


@dataclass(frozen=True)
class Outcome:
    """How a test ended, as its pcap tells it: `passed`, `failed`, `skipped` or `error` (its
    setup failed), and the first line of why, when it did not pass."""

    status: str
    reason: str = ""

    @property
    def kept_when_failed(self) -> bool:
        """Whether `--harness-keep=failed` keeps the pcap of a test that ended so."""
        return self.status in ("failed", "error")


def lab_settings(marks: Iterable[tuple[Sequence[Any], Mapping[str, Any]]],
                 param: object = None) -> LabSettings:
    """The settings of a test's lab from its capture markers' (args, kwargs), the closest
    first, and the fixture's parameter (a family such as "ipv6", or a mapping of settings),
    which wins. UsageError, one line naming the value and the valid ones, for anything else."""
    told: dict[str, Any] = {}
    for args, kwargs in reversed(list(marks)):
        if args:
            raise UsageError(f"{MARKER} takes keywords ({', '.join(f'{k}=' for k in KNOWN)}), "
                             f"not {quoted(args[0])}")
        told.update(kwargs)
    if isinstance(param, str):
        told["family"] = param
    elif isinstance(param, Mapping):
        told.update(param)
    elif param is not None:
        raise UsageError(f"lab parameter {quoted(param)}: give a family ({' or '.join(FAMILIES)})"
                         f" or a dict of {', '.join(KNOWN)}")
    return _checked(told)


def _checked(told: Mapping[str, Any]) -> LabSettings:
    for key in told:
        if key not in KNOWN:
            near = closest(str(key), list(KNOWN))
            hint = f"; did you mean {near[0]}?" if near else ""
            raise UsageError(f"{MARKER}: unknown setting {quoted(key)}{hint} (known: "
                             f"{', '.join(KNOWN)})")
    family, topology = told.get("family", "ipv4"), told.get("topology", "loopback")
    if family not in FAMILIES:
        hint = (f"; {family!r} is a topology: write {MARKER}(topology={family!r})"
                if family in TOPOLOGIES else "")
        raise UsageError(f"lab family {quoted(family)}: use {' or '.join(FAMILIES)}{hint}")
    if topology not in TOPOLOGIES:
        raise UsageError(f"lab topology {quoted(topology)}: use {' or '.join(TOPOLOGIES)}")
    port = told.get("port", SERVER_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise UsageError(f"lab port {quoted(port)}: give a port from 1 to 65535")
    link = _link(told.get("link"), topology)
    return LabSettings(family, topology, link, port, _sysctls(told.get("sysctls", {})))


def _sysctls(raw: object) -> FrozenMap:
    """The sysctls as a scenario's `sysctls` table takes them, tried here first."""
    try:
        sysctls = parse_sysctls(raw)
    except SysctlError as exc:
        raise UsageError(f"{MARKER}: {exc}") from None
    problem = sysctl_problem(sysctls)
    if problem:
        raise UsageError(f"{MARKER}: {problem}")
    return sysctls


def _link(raw: object, topology: str) -> Link | None:
    """A Link as given, or made from a table as a scenario's `link` is; checked as the
    command line checks --netem."""
    if raw is None:
        return None
    try:
        link = raw if isinstance(raw, Link) else parse_link(raw)
    except LinkError as exc:
        raise UsageError(f"{MARKER}: {exc}") from None
    if topology != "veth":
        raise UsageError(f"{MARKER}: a link impairs the veth between two namespaces: add "
                         "topology=\"veth\"")
    check_link(link, topology)
    return link


def told(nodeid: str, patterns: Sequence[str], outcome: Outcome) -> list[str]:
    """The section comments of a test's pcap: the test, the pattern its packets are placed
    in (the last it expected) and any it expected before, and its outcome."""
    lines = [f"test {nodeid}"]
    if patterns:
        lines.append(f"pattern: {patterns[-1]}")
        lines += [f"expected before it: {'; '.join(patterns[:-1])}"] if patterns[1:] else []
    else:
        lines.append("no pattern expected")
    lines.append(f"verdict: {LABELS.get(outcome.status, outcome.status.upper())}")
    return lines + ([f"- {outcome.reason}"] if outcome.reason else [])


def finish(lab: Lab, nodeid: str, outcome: Outcome, keep_all: bool = True) -> Path | None:
    """End a test's lab: write its pcap with its story, or delete it (from an earlier run
    too) when only the pcaps of failed tests are kept and this one did not fail. The pcap's
    path, or None when none is left."""
    if lab.pcap_path is None:
        return None
    if not keep_all and not outcome.kept_when_failed:
        lab.pcap_path.unlink(missing_ok=True)
        return None
    result = lab.finish(write=False)
    assert lab.unwritten is not None
    lab.unwritten.write(frame_comments(result, lab.wire.last_match),
                        told(nodeid, lab.wire.patterns, outcome))
    return lab.pcap_path


def failure_story(lab: Lab) -> str:
    """What a failing test shows of its lab: its calls and the first connection's packets on
    one clock, and the pcap written when the test ends."""
    try:
        count = len(split_conversations(lab.segments()))
        lines = timeline(lab.calls, lab.conversation(), lab.kernel())
    except Exception as exc:  # a broken capture is said, not raised over the test's failure
        return f"the capture could not be read: {one_line(exc)}"
    out = ["calls and packets on one clock:", *lines]
    if count > 1:
        out.append(f"(the capture holds {count} connections; the first is shown)")
    if lab.pcap_path is not None:
        out.append(f"pcap: {lab.pcap_path}")
    return "\n".join(out)


def first_line(text: str) -> str:
    """The first line of a failure's text that says something."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
