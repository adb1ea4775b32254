"""A plan of runs, checked before anything runs: the scenarios asked for, the families and
topologies they declare, where their pcaps go, the link, the deadline, the workers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.core.calls import CALLS
from harness.core.catalog import find, load_catalog, load_file
from harness.core.errors import UsageError
from harness.core.link import Link
from harness.core.scenario import Scenario
from harness.core.vocabulary import TOPOLOGIES
from harness.orchestration.batch import Planned, default_jobs
from harness.orchestration.files import writable_folder


def choose(ids: Sequence[str]) -> list[Scenario]:
    """The scenarios asked for: catalog ids, or paths of scenario files (*.toml); all of the
    catalog when none is named."""
    catalog = load_catalog()
    if not ids:
        return catalog
    files = {i: load_file(i) for i in ids if i.endswith(".toml")}
    named = find(catalog, [i for i in ids if i not in files])
    by_id = {sc.id: sc for sc in named}
    return [files[i] if i in files else by_id[i] for i in ids]


def pcap_name(sc: Scenario, family: str, topology: str = "loopback") -> str:
    """`default-close-ipv4.pcapng`; `default-close-ipv4-veth.pcapng` on veth."""
    return f"{sc.id}-{family}{'' if topology == 'loopback' else '-' + topology}.pcapng"


def wanted(topology: str) -> tuple[str, ...]:
    """The topologies an option names (`both` is each)."""
    return TOPOLOGIES if topology == "both" else (topology,)


def make_plan(ids: Sequence[str], pcap_dir: str | None, family: str, topology: str,
              link: Link | None, deadline: float) -> list[Planned]:
    """The runs asked for, each scenario on the families and topologies it declares."""
    chosen = choose(ids)
    if link is not None and topology == "loopback":
        raise UsageError("--netem impairs the link between two namespaces: add --topology "
                         "veth (or both)")
    if not 0 < deadline <= 86_400:
        raise UsageError(f"--deadline {deadline:g}: give a positive number of seconds (at "
                         "most a day)")
    if pcap_dir is not None:
        writable_folder(pcap_dir, "--pcap-dir")
    plan = [Planned(sc, f, t, Path(pcap_dir) / pcap_name(sc, f, t) if pcap_dir else None,
                    link if t == "veth" else None, deadline)
            for t in wanted(topology) for sc in chosen for f in sc.families
            if family in ("both", f) and t in sc.topologies]
    _kernel_can(chosen)
    if not plan:
        declared = ", ".join(f"{sc.id} ({'/'.join(sc.families)} on "
                             f"{'/'.join(sc.topologies)})" for sc in chosen)
        raise UsageError(f"no run left on {family}, {topology}: the chosen scenarios declare "
                         f"only these: {declared}")
    return plan


def _kernel_can(chosen: Sequence[Scenario]) -> None:
    """UsageError (one line) for the first scenario with a call this kernel cannot make
    (found by trying, only for scenarios that have such a call)."""
    if not any(CALLS[step.call].needs for sc in chosen for step in sc.steps):
        return
    from harness.lab.features import scenario_problem

    for sc in chosen:
        problem = scenario_problem(sc)
        if problem:
            raise UsageError(problem)


def workers(jobs: int | None) -> int:
    """How many runs at a time: jobs, or one per CPU for 0."""
    if not jobs:
        return default_jobs()
    if jobs < 0:
        raise UsageError(f"--jobs {jobs}: give the number of runs at a time (0: one per CPU)")
    return jobs


def require_capture() -> None:
    """UsageError (one line) unless this process may make namespaces and capture."""
    from harness.lab.privileges import capture_problem

    problem = capture_problem()
    if problem:
        raise UsageError(problem)


def check_link(link: Link | None, topology: str) -> None:
    """A netem link needs a kernel with netem and valid arguments; said before anything
    runs."""
    if link is None or topology == "loopback":
        return
    from harness.lab.topology import netem_problem

    problem = netem_problem(link)
    if problem:
        raise UsageError(problem)


def check_sysctls(plan: Sequence[Planned]) -> None:
    """Every scenario's sysctls can be set in a namespace here; said before anything runs,
    naming the scenario."""
    from harness.lab.sysctl import sysctl_problem

    for scenario in {id(p.scenario): p.scenario for p in plan}.values():
        problem = sysctl_problem(scenario.sysctls)
        if problem:
            raise UsageError(f"{scenario.path or scenario.id}: {problem}")
