"""`make bench`: the harness against the shell baseline a user would write, in the same run.

1. Per scenario, interleaved round by round: bench/baseline.sh (ip netns add, tcpdump
   --immediate-mode started and waited for, the peers, tcpdump stopped, tshark -T fields -e
   tcp.flags.str, ip netns del) against the harness running the same scenario in-process,
   its pcap cross-checked by tshark (one tshark per round, as `harness verify` does). The
   harness also runs with its peers executed afresh (HARNESS_PEER_START=exec), to show what
   forking them saves.
2. The harness's own cost per run, phase by phase (median over every run).
3. The whole loopback catalog, both families: its wall time against the sum of the waits its
   scenarios need by their nature (their exchange phases), serially and with --jobs 2.
4. `pytest -m capture` with -n 2 against -n 0 (skip with --no-pytest).
5. The failure path (bench/failures.py): a run whose wire does not match, and one whose final
   state is wrong, against the passing run of the same scenario.
6. Start-up: `harness list` and `harness check FILE --expect P` as whole processes
   (bench/startup.py), and the matcher's worst cases against 10,000 packets
   (bench/matching.py). `--quick` runs only these two, which need no privileges.
7. The tracing phase (bench/tracing.py): runs with the kernel's events recorded against the
   same runs without, and the instance's making and removal once per process.

Prints the ratios and tables; writes bench/results.json. Medians, not means: one slow round
(a page fault storm, a busy core) says nothing about the code.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import failures  # noqa: E402
import matching  # noqa: E402
import startup  # noqa: E402
import tracing  # noqa: E402

from harness.core.catalog import load_catalog  # noqa: E402
from harness.core.result import PHASES  # noqa: E402
from harness.lab.privileges import capture_problem  # noqa: E402
from harness.orchestration.batch import Planned, default_jobs, execute  # noqa: E402
from harness.orchestration.tshark import read_pcaps  # noqa: E402

SCENARIOS = ["default-close", "linger-abort-server", "linger-abort-client"]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def baseline_once(scenario: str, folder: Path) -> dict:
    """One run of bench/baseline.sh: its wall time and its own phase split, in ms."""
    began = time.perf_counter()
    done = subprocess.run(["bash", str(ROOT / "bench" / "baseline.sh"), scenario, str(folder)],
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"bench: the baseline failed for {scenario}: {done.stderr.strip()[-300:]}")
    return {"wall": _ms(wall), **json.loads(done.stdout.strip().splitlines()[-1])}


def harness_round(planned: list[Planned], peers: str) -> list[dict]:
    """Each planned run once, in this process (the cross-check is charged later)."""
    os.environ["HARNESS_PEER_START"] = peers
    rows = []
    for run in planned:
        began = time.perf_counter()
        result, verdict = run.run()
        wall = time.perf_counter() - began
        if verdict.status != "pass":
            sys.exit(f"bench: {run.scenario.id} did not pass: {'; '.join(verdict.reasons)}")
        rows.append({"wall": wall, "phases": dict(result.phases)})
    return rows


def compare(rounds: int, folder: Path) -> dict:
    """Baseline against harness, scenario by scenario, rounds interleaved."""
    catalog = {sc.id: sc for sc in load_catalog()}
    planned = [Planned(catalog[i], "ipv4", "loopback", folder / f"{i}.pcapng")
               for i in SCENARIOS]
    runs: dict[str, dict[str, list]] = {i: {"baseline": [], "fork": [], "exec": []}
                                         for i in SCENARIOS}
    harness_round(planned, "fork")  # warm up: imports, first namespace, page cache
    for _ in range(rounds):
        for scenario in SCENARIOS:
            runs[scenario]["baseline"].append(baseline_once(scenario, folder))
        for peers in ("fork", "exec"):
            for scenario, row in zip(SCENARIOS, harness_round(planned, peers), strict=True):
                runs[scenario][peers].append(row)
    os.environ.pop("HARNESS_PEER_START", None)
    return runs


def summarise(runs: dict[str, dict[str, list]], cross_check: float) -> dict:
    """Medians per scenario, and the ratios; each harness run is charged cross_check
    seconds, its share of one tshark reading the whole catalog's pcaps."""
    table = {}
    for found in runs.values():
        for row in (*found["fork"], *found["exec"]):
            row["phases"]["cross-check"] = cross_check
            row["wall"] += cross_check
    for scenario, found in runs.items():
        baseline = statistics.median(r["wall"] for r in found["baseline"])
        harness = statistics.median(r["wall"] for r in found["fork"]) * 1000
        executed = statistics.median(r["wall"] for r in found["exec"]) * 1000
        exchange = statistics.median(r["phases"]["exchange"] for r in found["fork"]) * 1000
        overhead = statistics.median(r["wall"] - r["phases"]["exchange"]  # all but the waits
                                     for r in found["fork"]) * 1000
        table[scenario] = {
            "baseline ms": round(baseline, 1), "harness ms": round(harness, 1),
            "harness, peers executed ms": round(executed, 1),
            "exchange ms": round(exchange, 1), "harness overhead ms": round(overhead, 1),
            "baseline overhead ms": round(baseline - exchange, 1),
            "ratio": round(baseline / harness, 1),
            "overhead ratio": round((baseline - exchange) / overhead, 1)}
    phases = {name: round(statistics.median(r["phases"].get(name, 0.0)
                                            for found in runs.values() for r in found["fork"])
                          * 1000, 2) for name in PHASES}
    baseline_phases = {name: round(statistics.median(r[name] for found in runs.values()
                                                     for r in found["baseline"]), 1)
                       for name in ("namespace", "capture start", "peers and exchange",
                                    "capture stop", "tshark", "teardown")}
    return {"scenarios": table, "harness phases ms": phases,
            "baseline phases ms": baseline_phases}


def catalog_timing(folder: Path) -> dict:
    """The loopback catalog, both families, serially and with 2 jobs, pcaps written and read
    back by one tshark (as `harness verify` does): wall time against the inherent waits."""
    plan = [Planned(sc, family, "loopback", folder / f"{sc.id}-{family}.pcapng")
            for sc in load_catalog() for family in sc.families if "loopback" in sc.topologies]
    found = {}
    for jobs in (1, 2):
        began = time.perf_counter()
        done = execute(plan, jobs)
        checked = time.perf_counter()
        read_pcaps([result.pcap for result, _ in done])
        tshark = time.perf_counter() - checked
        wall = time.perf_counter() - began
        bad = [r.scenario for r, v in done if v.status != "pass"]
        if bad:
            sys.exit(f"bench: catalog runs did not pass: {', '.join(bad)}")
        found[jobs] = (wall, sum(r.phases.get("exchange", 0.0) for r, _ in done), tshark)
    wall, waits, tshark = found[1]
    return {"runs": len(plan), "cross-check per run ms": round(tshark / len(plan) * 1000, 2),
            "serial s": round(wall, 2), "jobs 2 s": round(found[2][0], 2),
            "inherent waits s": round(waits, 2),
            "serial beyond the waits s": round(wall - waits, 2),
            "overhead per run ms": round((wall - waits) / len(plan) * 1000, 1),
            "target": "serial within the waits + 5 s",
            "met": wall <= waits + 5.0}


def pytest_timing() -> dict:
    """`pytest -m capture`, -n 0 against -n 2."""
    found = {}
    for workers in ("0", "2"):
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "capture", "-n",
                               workers, "-p", "no:cacheprovider"], cwd=ROOT,
                              capture_output=True, text=True, check=False)
        found[workers] = time.perf_counter() - began
        if done.returncode != 0:
            sys.exit(f"bench: pytest -n {workers} failed:\n{done.stdout[-2000:]}")
    return {"-n 0 s": round(found["0"], 1), "-n 2 s": round(found["2"], 1),
            "speed-up": round(found["0"] / found["2"], 2), "target": 1.7,
            "met": found["0"] / found["2"] >= 1.7}


def render(summary: dict, catalog: dict, tests: dict | None) -> str:
    """The tables and ratios, as printed."""
    rows = ["scenario (ipv4, loopback)     baseline  harness  (peers exec)  exchange  "
            "overhead: baseline  harness   ratio  overhead ratio"]
    for scenario, r in summary["scenarios"].items():
        rows.append(f"{scenario:<29} {r['baseline ms']:>6.1f}  {r['harness ms']:>7.1f}  "
                    f"{r['harness, peers executed ms']:>12.1f}  {r['exchange ms']:>8.1f}  "
                    f"{r['baseline overhead ms']:>18.1f}  {r['harness overhead ms']:>7.1f}  "
                    f"{r['ratio']:>5.1f}x  {r['overhead ratio']:>13.1f}x")
    rows += ["", "harness phases, median ms per run: " + ", ".join(
        f"{k} {v:.2f}" for k, v in summary["harness phases ms"].items()),
        "baseline phases, median ms per run: " + ", ".join(
        f"{k} {v:.1f}" for k, v in summary["baseline phases ms"].items()), "",
        f"catalog ({catalog['runs']} runs, loopback, both families, pcaps written and "
        f"cross-checked): serial "
        f"{catalog['serial s']:.2f} s = inherent waits {catalog['inherent waits s']:.2f} s + "
        f"{catalog['serial beyond the waits s']:.2f} s ({catalog['overhead per run ms']:.1f} ms "
        f"a run); --jobs 2: {catalog['jobs 2 s']:.2f} s; target (waits + 5 s) "
        f"{'met' if catalog['met'] else 'NOT met'}"]
    if tests:
        rows.append(f"pytest -m capture: -n 0 {tests['-n 0 s']:.1f} s, -n 2 {tests['-n 2 s']:.1f}"
                    f" s: {tests['speed-up']:.2f}x (target 1.7x: "
                    f"{'met' if tests['met'] else 'NOT met'})")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds per scenario (7)")
    parser.add_argument("--no-pytest", action="store_true", help="skip the pytest timing")
    parser.add_argument("--quick", action="store_true",
                        help="only the start-up and matching measures (no privileges needed)")
    args = parser.parse_args()
    problem = None if args.quick else capture_problem()
    if problem:
        print(f"bench: {problem}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as folder:
        starting = startup.startup(Path(folder))
        matched = matching.matching()
        print("\n".join([*startup.render(starting), *matching.render(matched)]), flush=True)
        document = {"kernel": platform.release(), "cpus": default_jobs(),
                    "python": platform.python_version(), "start-up": starting,
                    "matching": matched}
        if not args.quick:
            catalog = catalog_timing(Path(folder))
            runs = compare(args.rounds, Path(folder))
            summary = summarise(runs, catalog["cross-check per run ms"] / 1000)
            failing = failures.failures(args.rounds)
            print("\n".join(failures.render(failing)), flush=True)
            traced = tracing.tracing(args.rounds, Path(folder),
                                     lambda planned: harness_round(planned, "fork"))
            print("\n".join(tracing.render(traced)), flush=True)
            tests = None if args.no_pytest else pytest_timing()
            print(render(summary, catalog, tests))
            document.update(rounds=args.rounds, **summary, catalog=catalog, failures=failing,
                            tracing=traced,
                            **({"pytest": tests} if tests else {}))
    out = ROOT / "bench" / ("results-quick.json" if args.quick else "results.json")
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
