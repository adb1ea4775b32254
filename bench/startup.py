"""What a command costs before it does anything: `harness list` and `harness check FILE
--expect P` as whole processes (interpreter, imports, the catalog or the capture read), the
median of many runs, against an empty interpreter started the same way."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATTERN = ">S <S. >. (>P. <.){3} <F. >. >F. <."
TARGETS = {"harness list": 0.15, "harness check": 0.4}


def _capture(folder: Path) -> Path:
    """A pcapng of one connection like default-close's, written with the harness's writer."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    from harness.pcap.writer import write_pcapng

    c, s = ("127.0.0.1", 40000), ("127.0.0.1", 5000)
    flow = [(c, s, "S", 0, 0), (s, c, "SA", 0, 1), (c, s, "A", 1, 1)]
    for i in range(3):
        flow += [(c, s, "PA", 1 + 100 * i, 1), (s, c, "A", 1, 101 + 100 * i)]
    flow += [(s, c, "FA", 1, 301), (c, s, "A", 301, 2), (c, s, "FA", 301, 2), (s, c, "A", 2, 302)]
    frames = []
    for number, (src, dst, flags, seq, ack) in enumerate(flow):
        data = b"x" * 100 if flags == "PA" else b""
        frame = (Ether() / IP(src=src[0], dst=dst[0])
                 / TCP(sport=src[1], dport=dst[1], flags=flags, seq=seq, ack=ack) / data)
        frame.time = 1_700_000_000 + number / 1000
        frames.append(frame)
    return write_pcapng(folder / "default-close.pcapng", frames)


def _median(argv: list[str], runs: int) -> tuple[float, float]:
    """The median and the fastest wall time of argv, run `runs` times."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              cwd=ROOT, check=False)
        times.append(time.perf_counter() - began)
        if done.returncode not in (0, 1):
            sys.exit(f"bench: {' '.join(argv)} failed: {done.stderr.decode()[-300:]}")
    return statistics.median(times), min(times)


def startup(folder: Path, runs: int = 31) -> dict:
    """Median seconds per command, with the empty interpreter's for comparison."""
    harness = str(Path(sys.executable).parent / "harness")
    commands = {"python -c pass": [sys.executable, "-c", "pass"],
                "harness list": [harness, "list"],
                "harness check": [harness, "check", str(_capture(folder)), "--expect", PATTERN]}
    found = {}
    for name, argv in commands.items():
        median, fastest = _median(argv, runs)
        found[name] = {"median ms": round(median * 1000, 1), "fastest ms": round(fastest * 1000, 1)}
        if name in TARGETS:
            found[name].update(target_ms=TARGETS[name] * 1000, met=median <= TARGETS[name])
    return found


def render(found: dict) -> list[str]:
    """The start-up lines, as printed."""
    rows = ["start-up, whole processes, median of 31 (fastest):"]
    for name, row in found.items():
        goal = (f"; target {row['target_ms']:.0f} ms: {'met' if row['met'] else 'NOT met'}"
                if "target_ms" in row else "")
        rows.append(f"  {name:<16} {row['median ms']:>6.1f} ms ({row['fastest ms']:.1f}){goal}")
    return rows
