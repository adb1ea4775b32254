"""The checks of a scenario's steps taken together, which no single step shows: where each
socket name stands when a call comes (a bind before listen or connect, a dup of a socket that
exists, no call on a descriptor already closed), expectations only of what the call reports,
and options and addresses that fit the families the scenario runs on. The loader (harness.
core.catalog) refuses the first problem in one line naming the step, before anything runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.core.call_spec import HELD, CallSpec, Opens, Phase, Runner, Target
from harness.core.calls import CALLS
from harness.core.errors import quoted
from harness.core.expect import REPORTED_EXPECTATIONS
from harness.core.scenario import Step
from harness.core.socket_names import FAMILY_LEVELS, OPTIONS, Reads, address_family

#: The calls that make a socket for a name that holds none yet.
MAKERS = tuple(name for name, spec in CALLS.items()
               if spec.phases is not None and Phase.ABSENT in spec.phases
               and spec.leaves is not None)


class StepProblem(ValueError):
    """One step that cannot come where it is; the message names it and what to do."""


@dataclass
class _Names:
    """Where each socket name stands, the step that put it there, and which names are
    descriptors of one socket (dup)."""

    phase: dict[str, Phase] = field(default_factory=dict)
    since: dict[str, str] = field(default_factory=dict)
    socket: dict[str, str] = field(default_factory=dict)

    def now(self, name: str) -> Phase:
        """Where name stands now (ABSENT before any call made it a socket)."""
        return self.phase.get(name, Phase.ABSENT)

    def put(self, name: str, phase: Phase, why: str) -> None:
        """name (and, unless it is a close, every open descriptor of its socket) to phase."""
        root = self.socket.setdefault(name, name)
        together = [name] if phase is Phase.CLOSED else [
            other for other, sock in self.socket.items()
            if sock == root and (other == name or self.now(other) in HELD)]
        for other in together:
            self.phase[other], self.since[other] = phase, why


def check_steps(steps: Sequence[Step], families: Sequence[str]) -> None:
    """StepProblem for the first step that cannot come where it is in steps (numbered from 1,
    repeats unrolled) on these families; its message starts `step N (its text):`."""
    names = _Names()
    for number, step in enumerate(steps, 1):
        try:
            _expectations(step)
            _families(step, families)
            _follow(step, f"step {number} ({step.text()})", names)
        except StepProblem as exc:
            raise StepProblem(f"step {number} ({step.text()}): {exc}") from None


def _follow(step: Step, here: str, names: _Names) -> None:
    """Check where the step's socket stands for its call, then move it on."""
    spec = step.spec
    if spec.runner is not Runner.AGENT or spec.target is not Target.SOCKET:
        return
    name = step.on
    if spec.opens is Opens.ITSELF and spec.opened(step.args):
        name = str(spec.opened(step.args))
    now = names.now(name)
    if now not in (spec.phases if spec.phases is not None else HELD):
        raise StepProblem(_misplaced(spec, name, now, names.since.get(name, "")))
    opened = spec.opened(step.args)
    if spec.opens in (Opens.RETURNED, Opens.ALIAS) and opened is not None:
        if names.now(opened) in HELD and opened != name:
            raise StepProblem(f"a socket named {quoted(opened)} is open already (since "
                              f"{names.since[opened]}): give {spec.name} another name")
        if spec.opens is Opens.ALIAS:
            names.socket[opened] = names.socket.setdefault(name, name)
            names.phase[opened], names.since[opened] = now, here
        else:
            names.socket[opened] = opened
            names.put(opened, Phase.CONNECTED, here)
    if spec.leaves is not None:
        names.put(name, spec.leaves, here)


def _misplaced(spec: CallSpec, name: str, now: Phase, since: str) -> str:
    """Why spec cannot be made on name where it stands, and what to do instead."""
    if now is Phase.ABSENT:
        return (f"{quoted(name)} holds no socket yet: make it first ({', '.join(MAKERS)})")
    if now is Phase.CLOSED:
        return (f"{quoted(name)} was closed by {since}: a call after that needs a descriptor "
                "that is still open (dup one before the close)")
    if spec.name == "bind":
        return (f"bind comes before listen or connect, and once: {quoted(name)} is "
                f"{now.value} since {since}; move the bind before that")
    return f"{spec.name} cannot come once {quoted(name)} is {now.value} (since {since})"


def _expectations(step: Step) -> None:
    """Refuse an expectation of something the step's call does not report."""
    if step.expect is None:
        return
    spec = step.spec
    for key, want in step.expect.given().items():
        if key not in REPORTED_EXPECTATIONS:
            continue
        reported = REPORTED_EXPECTATIONS[key][0]
        if reported not in spec.reports:
            callers = [name for name, other in CALLS.items() if reported in other.reports]
            raise StepProblem(f"expect {key}: {spec.name} reports no {reported} (only "
                              f"{', '.join(callers)} can be expected to)")
        if key == "value":
            _value_reads(step, want)


def _value_reads(step: Step, want: object) -> None:
    """Refuse an expected value of the wrong kind for the option getsockopt reads."""
    name = step.args.get("name")
    option = OPTIONS.get(str(name))
    if option is None:
        return
    if option.reads is Reads.ERRNO and not (isinstance(want, str) or want == 0):
        raise StepProblem(f"expect value: {name} reads as an errno name: write value = "
                          "\"ECONNRESET\" (say), or 0 for no error")
    if option.reads is Reads.INT and isinstance(want, str):
        raise StepProblem(f"expect value: {name} reads as an integer, not {quoted(want)}")


def _families(step: Step, families: Sequence[str]) -> None:
    """Refuse an option or address of one family in a scenario that runs on another."""
    option = OPTIONS.get(str(step.args.get("name"))) if step.call.endswith("sockopt") else None
    only = FAMILY_LEVELS.get(option.level) if option is not None else None
    others = [f for f in families if f != only]
    if only is not None and others:
        raise StepProblem(f"{step.args['name']} is an {option.level} option (of {only} "
                          f"sockets), and the scenario runs on {', '.join(others)} too: write "
                          f"families = [\"{only}\"]")
    address = step.args.get("address") if step.call == "bind" else None
    family = address_family(str(address)) if address is not None else None
    others = [f for f in families if f != family]
    if family is not None and others:
        raise StepProblem(f"address {address} is an {family} address, and the scenario runs "
                          f"on {', '.join(others)} too: write families = [\"{family}\"], or "
                          "leave address out (the family's wildcard address)")
