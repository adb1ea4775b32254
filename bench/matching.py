"""The matcher's worst cases: patterns the loader accepts, built to keep many positions active
at once or to make it build many follow sets, each against 10,000 packets; compile plus match,
in a fresh process each, with that process's peak memory; then the same kind of patterns with
fields on their tokens, against 10,000 Packets. The target: within 2 s and 200 MiB
each. The patterns the issue measured, which no longer compile, are shown refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKETS = 10_000
TARGET_S, TARGET_MIB = 2.0, 200
# pattern -> the packets it is matched against: one token over and over, or a seeded mix
WORST = {
    "((>.?){1000})*": "same",
    "((>.?){1000})*<R.": "same",
    "(>.?){1000}(>.?){1000}": "same",
    "((>.?)(<.?)){1000}": "mixed",
    "(((>.?)(<.?)){999})*": "mixed",
    "((>.|<.)?){999}((>.|<.)?)*": "mixed",
    "((>.|<.)*){1000}": "mixed",
    "(>. (>.|<.){0,998} <.)*": "mixed",
    "(>.{0,1000})*": "same",
    "((>.|>.*)+ (<.?)*)* <R.": "same",
}
# The same with fields, matched against Packets: many positions sharing two sets of fields
# active at once, the slowest case above with fields, and 1000 distinct sets of fields all
# active at every packet (each tested once per packet: the cost fields can add at most).
DISTINCT = "(" + "|".join(f">.[win>={n}]" for n in range(1000)) + ")*"
WORST_FIELDS = {
    "((>.[len=0]|<.[win>0])?){999}((>.|<.)?)*": "mixed",
    "(>.[win>0] (>.|<.[len=0]){0,998} <.)*": "mixed",
    DISTINCT: "same",
}
REFUSED = ["((>.?){1000}){1,50}", "((>.{1000}){1000})"]

_CHILD = """
import json, random, resource, sys, time
from harness.core.pattern import compile_pattern
text, kind, count, facts = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "fields"
rng = random.Random(1)
packets = [">."] * count if kind == "same" else [rng.choice([">.", "<."]) for _ in range(count)]
if facts:
    from harness.core.packet import Packet
    packets = [Packet(token, seq=1, ack=1, len=0, win=64, mss=None, wscale=None, sport=40000,
                      dport=5000, t=i / 1000, dt=0.001, number=i + 1)
               for i, token in enumerate(packets)]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
began = time.perf_counter()
pattern = compile_pattern(text)
compiled = time.perf_counter()
match = pattern.match(packets)
done = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"compile s": round(compiled - began, 3), "match s": round(done - compiled, 3),
                  "total s": round(done - began, 3), "matched": match.ok,
                  "packets read": len(packets) if match.ok else match.failed_at or len(packets),
                  "peak MiB": round(peak / 1024, 1),
                  "growth MiB": round((peak - before) / 1024, 1)}))
"""


def _case(text: str, kind: str, fields: bool = False) -> dict:
    done = subprocess.run([sys.executable, "-c", _CHILD, text, kind, str(PACKETS),
                           "fields" if fields else "tokens"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"bench: matching {_short(text)} failed: {done.stderr[-300:]}")
    return json.loads(done.stdout)


def _short(text: str) -> str:
    """A pattern as the lines show it: a long one cut in the middle."""
    return text if len(text) <= 40 else f"{text[:20]} … {text[-16:]}"


def _refused(text: str) -> str:
    from harness.core.pattern import PatternError, compile_pattern

    try:
        compile_pattern(text)
    except PatternError as exc:
        return exc.message
    return "ACCEPTED"


def matching() -> dict:
    """Each worst case's seconds and memory, whether all met the target, what is refused."""
    cases = {text: _case(text, kind) for text, kind in WORST.items()}
    with_fields = {_short(text): _case(text, kind, fields=True)
                   for text, kind in WORST_FIELDS.items()}
    met = all(c["total s"] <= TARGET_S and c["peak MiB"] <= TARGET_MIB
              for c in [*cases.values(), *with_fields.values()])
    return {"packets": PACKETS, "cases": cases, "with fields": with_fields,
            "target": f"{TARGET_S} s, {TARGET_MIB} MiB", "met": met,
            "refused": {text: _refused(text) for text in REFUSED}}


def render(found: dict) -> list[str]:
    """The matching lines, as printed."""
    rows = [f"matching, worst accepted patterns against {found['packets']:,} packets (fresh "
            "process each):"]
    for text, c in [*found["cases"].items(), *found.get("with fields", {}).items()]:
        rows.append(f"  {text:<42} compile {c['compile s']:.3f} s, match {c['match s']:.3f} s,"
                    f" peak {c['peak MiB']:.0f} MiB (+{c['growth MiB']:.0f}), "
                    f"{c['packets read']:,} packets read")
    rows.append(f"  target {found['target']} each: {'met' if found['met'] else 'NOT met'}")
    rows += [f"  refused: {text}: {why}" for text, why in found["refused"].items()]
    return rows
