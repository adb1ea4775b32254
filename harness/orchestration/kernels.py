"""`harness kernels`: the catalog on the host and in a guest of each kernel asked for, and
the table of what changed between them (OUT/kernels.json).

Every `--kernel` is found before anything runs (a name apt does not know is one line, exit
2). The host's catalog runs first, as a child like the guests' (harness.lab.child_catalog);
then each kernel is fetched into the cache and booted (`--jobs` guests at a time), each with
its deadline. A kernel whose guest does not give results is an ERROR column with its console's
last lines; the others go on. Ctrl-C stops every guest and leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import platform
import re
import shutil
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core import kernel_table, link_fidelity
from harness.core.document import Results, ResultsError
from harness.core.errors import HarnessError, UsageError
from harness.core.link import LINK_ENV, LINK_START_ENV, link_start
from harness.lab import contained, guest, kernel_cache
from harness.orchestration.files import writable_folder
from harness.orchestration.kernel_report import FIDELITY, fidelity_of, write_table
from harness.orchestration.pages import read_results, render_pages

#: Seconds a guest may take, boot to power-off, unless --deadline says otherwise.
GUEST_DEADLINE = 900.0
#: Lines of a console an ERROR column keeps.
CONSOLE_LINES = 20


@dataclass(frozen=True)
class Settings:
    """What every catalog run is given: the subset, where it goes, how long it may take."""

    topology: str = "both"
    family: str = "both"
    deadline: float = GUEST_DEADLINE
    out: Path = Path("pcaps/kernels")
    memory: str = "2G"
    cpus: int = 2
    link: str = "auto"  # HARNESS_LINK inside the guests (harness.core.link.link_path)
    scenarios: tuple[str, ...] = ()  # only these (ids or FILE.toml paths); all when empty
    fidelity: bool = True  # the netem scenarios again in each guest, with both links
    host: bool = True  # the host's own catalog as the first column (off: one CI job a kernel)


def cmd_kernels(asked: Sequence[str], settings: Settings, jobs: int = 1,
                cache: str | None = None) -> int:
    """Run the host and each kernel's guest; 1 when outcome_problems finds any, else 0."""
    if not asked:
        raise UsageError("harness kernels: name at least one --kernel (6.1, 6.12, a "
                         "linux-image-…-amd64 package or a vmlinuz path)")
    if not 0 < settings.deadline <= 86_400:
        raise UsageError(f"--deadline {settings.deadline:g}: give a positive number of seconds "
                         "(at most a day)")
    if not 1 <= settings.cpus <= 64:
        raise UsageError(f"--cpus {settings.cpus}: give each guest 1 to 64 virtual CPUs")
    if jobs < 1:
        raise UsageError(f"--jobs {jobs}: give how many guests may run at once (1 or more)")
    if not re.fullmatch(r"[1-9]\d*[KMG]?", settings.memory):
        raise UsageError(f"--memory {settings.memory}: give a size as QEMU's -m takes it, a "
                         "number of MiB or one ending in K, M or G (2G, 2048M)")
    from harness.orchestration.plan import make_plan

    make_plan(settings.scenarios, None, settings.family, settings.topology, None, 60.0)
    fidelity = fidelity_ids(settings)
    kernels = _unique([kernel_cache.resolve(text) for text in asked])
    cache_dir = Path(cache).expanduser() if cache else kernel_cache.default_cache()
    writable_folder(str(settings.out), "--out")
    missing = guest.missing_tools()
    if missing:  # said before the host's run, so it is not found out minutes later
        _say(f"harness kernels: {missing}")
    columns = [_host(settings)] if settings.host else []
    columns += _guests(kernels, settings, jobs, cache_dir, fidelity, missing)
    folders = {c.label: settings.out / ("host" if c.host else c.label) for c in columns}
    table, files = write_table(columns, folders, settings.out)
    print("\n".join(kernel_table.lines(table)))
    for path in files:
        print(f"kernels: {path}")
    problems = outcome_problems(columns)
    print(f"kernels: {'; '.join(problems)}" if problems else
          "kernels: every kernel gave results, the host's runs passed, no guest's run was an "
          "ERROR and the user-space link played every impaired-link run as netem did (a run "
          "that fails on another kernel is a difference, listed above, not a failure)")
    return 1 if problems else 0


def outcome_problems(columns: Sequence[kernel_table.Column]) -> list[str]:
    """Why `harness kernels` exits 1 (none: 0): a kernel without results, a host run that
    did not pass, a guest's run the harness could not judge (ERROR), a link-fidelity
    difference. A guest's FAIL is the kernel differing, which the table shows."""
    problems = []
    for c in columns:
        if c.results is None:
            problems.append(f"{c.label} gave no results")
        elif c.host and c.results.not_passed():
            problems.append(f"{len(c.results.not_passed())} of the host's runs did not pass")
        elif errors := [r for r in c.results.runs if r.verdict == "error"]:
            problems.append(f"{len(errors)} of {c.label}'s runs were ERRORs")
        if c.fidelity and c.fidelity.get("differing"):
            problems.append(f"on {c.label} the user-space link and netem differ in "
                            f"{c.fidelity['differing']} runs")
    return problems


def _unique(kernels: list[kernel_cache.Kernel]) -> list[kernel_cache.Kernel]:
    seen: dict[str, kernel_cache.Kernel] = {}
    for kernel in kernels:
        seen.setdefault(kernel.release, kernel)
    return list(seen.values())


def _verify(out: Path, settings: Settings, ids: Sequence[str], topology: str,
            jobs: int) -> list[str]:
    return ["verify", *ids, "--pcap-dir", str(out), "--topology", topology,
            "--family", settings.family, "--jobs", str(jobs), "--no-pages"]


def passes(out: Path, settings: Settings, jobs: int,
           fidelity_ids: Sequence[str] = ()) -> list[dict[str, Any]]:
    """What the child runs in turn: the catalog into out, then (given the impaired-link
    scenarios) those on veth with the kernel's netem and with the user-space link, one run at
    a time in the child's own process, whose imports and trace instance the first made.
    Where the catalog has them on veth with the kernel's netem already, its runs are the
    kernel's side (see catalog_link)."""
    covered = _catalog_is_kernel_side(settings, fidelity_ids)
    done = [{"name": "catalog", "env": {LINK_ENV: catalog_link(settings, fidelity_ids)},
             "argv": _verify(out, settings, settings.scenarios, settings.topology, jobs)}]
    for player, folder in FIDELITY.items() if fidelity_ids else ():
        if player == "kernel" and covered:
            continue
        done.append({"name": f"link-{player}", "env": {LINK_ENV: player},
                     "argv": _verify(out / folder, settings, fidelity_ids, "veth", 1)})
    return done


def _catalog_is_kernel_side(settings: Settings, fidelity_ids: Sequence[str]) -> bool:
    """Whether a guest's catalog runs the impaired-link scenarios on veth with the kernel's
    netem, so that no pass of its own is needed for the kernel's side of link fidelity."""
    return bool(fidelity_ids) and settings.topology != "loopback" and settings.link != "user"


def catalog_link(settings: Settings, fidelity_ids: Sequence[str] = ()) -> str:
    """The link path a guest's catalog runs with (and its column shows): the kernel's netem,
    not auto, when it is the kernel's side of link fidelity; what was asked otherwise."""
    return "kernel" if _catalog_is_kernel_side(settings, fidelity_ids) else settings.link


def catalog_argv(out: Path, settings: Settings, jobs: int,
                 fidelity_ids: Sequence[str] = ()) -> list[str]:
    """The child that runs the passes into out (on the host or in a guest); unbuffered, so
    a guest's console shows each run as it ends, up to a death."""
    return [sys.executable, "-u", "-m", "harness.lab.child_catalog", str(out),
            json.dumps(passes(out, settings, jobs, fidelity_ids))]


def fidelity_ids(settings: Settings) -> list[str]:
    """The scenarios (of those asked for) whose veth link netem plays: the ones a guest runs
    with both players."""
    if not settings.fidelity:
        return []
    from harness.orchestration.plan import choose

    chosen = choose(settings.scenarios)
    return [s.id for s in chosen if s.link is not None and s.link.netem
            and not s.link.in_user_space and "veth" in s.topologies]


#: How many times longer than on the host the user-space link may take to start in a guest
#: without KVM (TCG runs the guest's Python several times slower).
TCG_SLOWDOWN = 6


def guest_env(*, kvm: bool) -> list[str]:
    """`env NAME=VALUE` before the guest's command (virtme-ng does not pass the host's
    environment in): the user-space link's start deadline, longer under TCG. The link path
    is each pass's own (`passes`)."""
    start = link_start() * (1 if kvm else TCG_SLOWDOWN)
    return ["env", f"{LINK_START_ENV}={start:g}"]


def _say(line: str) -> None:
    print(line, flush=True)


def _host(settings: Settings) -> kernel_table.Column:
    label, out = platform.release(), settings.out / "host"
    _say(f"kernel {label} (host): running the catalog")
    outcome = contained.run(catalog_argv(out, settings, 0), out / "output.log",
                            settings.deadline, cwd=Path.cwd(), marker=out / "catalog.json")
    return _column(label, out, outcome, {}, host=True)  # its seconds: catalog.json's


def _guests(kernels: Sequence[kernel_cache.Kernel], settings: Settings, jobs: int,
            cache: Path, fidelity: Sequence[str] = (),
            missing: str = "") -> list[kernel_table.Column]:
    if missing:
        for kernel in kernels:
            _say(f"kernel {_label(kernel)}: ERROR {missing}")
        return [kernel_table.Column(_label(k), error=missing) for k in kernels]
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_guest, k, settings, cache, stop, fidelity) for k in kernels]
        try:
            return [f.result() for f in futures]
        except KeyboardInterrupt:
            stop.set()  # each guest's wait sees it and ends its guest
            for f in futures:
                f.cancel()
            raise


def _guest(kernel: kernel_cache.Kernel, settings: Settings, cache: Path,
           stop: threading.Event, fidelity: Sequence[str] = ()) -> kernel_table.Column:
    label = _label(kernel)
    out = settings.out / label
    try:
        if kernel.vmlinuz is None:
            _say(f"kernel {label}: fetching {kernel.package} into {cache}")
        kernel = kernel_cache.fetch(kernel, cache)
        assert kernel.vmlinuz is not None
        kvm_problem = guest.kvm_problem(kernel.vmlinuz)
        accel = "tcg" if kvm_problem else "kvm"
        _say(f"kernel {label}: booting under {accel.upper()}"
             + (f" (no KVM: {kvm_problem})" if kvm_problem else ""))
        command = [*guest_env(kvm=not kvm_problem),
                   *catalog_argv(out, settings, settings.cpus, fidelity)]
        spent, attempts = 0.0, 0
        while True:
            attempts += 1
            _clear(out)
            outcome = guest.boot(kernel.vmlinuz, out, command, out / "console.log",
                                 settings.deadline - spent, marker=out / "catalog.json",
                                 kvm=not kvm_problem, memory=settings.memory,
                                 cpus=settings.cpus, stop=stop, lines=Progress(label).line)
            spent += outcome.seconds
            if attempts == BOOTS or not _boot_failed(outcome, out):
                break
            last = (outcome.tail(1) or ("",))[0][:120]
            _say(f"kernel {label}: did not boot (status {outcome.status}: {last}); booting "
                 "it once more")
    except HarnessError as exc:
        _say(f"kernel {label}: ERROR {exc}")
        return kernel_table.Column(label, error=str(exc))
    facts = {"asked": kernel.asked, "package": kernel.package, "accel": accel,
             "memory": settings.memory, "cpus": settings.cpus,
             "link": catalog_link(settings, fidelity),
             "qemu_peak_rss_mb": round(outcome.peak_rss / 2**20), "boots": attempts,
             "guest_seconds": round(spent, 1)}
    return _column(label, out, outcome, facts, fidelity=bool(fidelity))


#: Boots a guest is given: a boot that panics before its command begins is tried once more
#: (6.12 under TCG once oopsed on an int3 in sched_clock_cpu 3 s in, and booted the next
#: time); a kernel that cannot boot fails both and is an ERROR column.
BOOTS = 2


def _boot_failed(outcome: contained.Outcome, out: Path) -> bool:
    """Whether the guest ended by itself before its command began (not stopped, not past
    its deadline)."""
    return (not outcome.timed_out and not outcome.interrupted
            and not (out / "catalog.json").exists())


class Progress:
    """A guest's progress from its console: each run that did not pass, every EVERY-th run
    and the last of a pass, as `kernel REL: [40/178] PASS ...`."""

    EVERY = 20
    _RUN = re.compile(r"^\[\s*(\d+)/(\d+)\] (\w+)\s")

    def __init__(self, label: str) -> None:
        self.label = label

    def line(self, text: str) -> None:
        found = self._RUN.match(text)
        if found is None:
            return
        index, total, verdict = int(found[1]), int(found[2]), found[3]
        if verdict != "PASS" or index % self.EVERY == 0 or index == total:
            rest = " ".join(text[text.index("]") + 1:].split())
            _say(f"kernel {self.label}: [{index}/{total}] {rest}")


def _label(kernel: kernel_cache.Kernel) -> str:
    """A guest's column label and folder name: its release, marked when the host has the same
    one (so the two columns stay apart)."""
    return kernel.release + ("-guest" if kernel.release == platform.release() else "")


def _clear(out: Path) -> None:
    """A guest's folder without what an earlier guest left (so its files are not taken for
    this one's)."""
    for name in ("catalog.json", "results.json"):
        (out / name).unlink(missing_ok=True)
    for folder in FIDELITY.values():
        shutil.rmtree(out / folder, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)


def _column(label: str, out: Path, outcome: contained.Outcome, facts: dict[str, Any],
            host: bool = False, fidelity: bool = False) -> kernel_table.Column:
    """A kernel's column from what its run left in out; an ERROR with the output's tail
    where it gave no results."""
    told = _read(out / "catalog.json")
    if told is not None and "began_uptime" in told and not host:
        facts["boot_seconds"] = round(float(told["began_uptime"]), 1)
    if outcome.marked_after is not None and not host:
        facts["boot_seconds_host"] = round(outcome.marked_after, 1)
    for one in (told or {}).get("passes", []):
        facts[f"{one['name']}_seconds"] = one["seconds"]
    problem = _problem(outcome, told, label)
    results = None
    if not problem:
        try:
            results = Results.from_json(_read(out / "results.json"), str(out / "results.json"))
        except ResultsError as exc:
            problem = f"its results.json cannot be read: {exc}"
    name = f"kernel {label}{' (host)' if host else ''}"
    if problem or results is None:
        _say(f"{name}: ERROR {problem}")
        return kernel_table.Column(label, host, error=problem,
                                   console=outcome.tail(CONSOLE_LINES), facts=facts)
    s = results.summary()
    _say(f"{name}: {s['runs']} runs in {outcome.seconds:.0f} s, {s['passed']} passed")
    _pages(out, results)
    compared = _fidelity(label, out) if fidelity else None
    return kernel_table.Column(label, host, results, facts=facts, fidelity=compared)


def _pages(out: Path, results: Results) -> None:
    """A kernel's REPORT.md and index.html, and its link-fidelity passes', rendered here
    (seconds under TCG, a fraction of one on the host)."""
    render_pages(results, out, Path.cwd())
    for folder in FIDELITY.values():
        path = out / folder / "results.json"
        if path.is_file():
            with contextlib.suppress(UsageError, ResultsError):
                render_pages(read_results(str(path)), path.parent, Path.cwd())


def _fidelity(label: str, out: Path) -> dict[str, Any] | None:
    """The link-fidelity passes compared, or None (said) where one left no results."""
    compared, problem = fidelity_of(out)
    if compared is None:
        _say(f"kernel {label}: no link fidelity: {problem}")
        return None
    for line in link_fidelity.lines(label, compared):
        _say(line)
    return compared


def _problem(outcome: contained.Outcome, told: dict[str, Any] | None, label: str) -> str:
    where = f"(console: {outcome.output})"
    if outcome.interrupted:
        return f"interrupted {where}"
    if outcome.timed_out:
        stage = "booting" if told is None else "running the catalog"
        return f"still {stage} at its deadline, so it was killed {where}"
    if told is None:
        return f"never began the catalog: the kernel did not boot (status {outcome.status}) {where}"
    if "status" not in told:
        return f"died while running the catalog (status {outcome.status}) {where}"
    if told["status"] not in (0, 1):
        return f"the catalog ended with status {told['status']} {where}"
    if told.get("release") and told["release"] != label.removesuffix("-guest"):
        return f"booted {told['release']}, not {label} {where}"
    return ""


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
