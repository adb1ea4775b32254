"""JUnit XML of a results document, for CI's test reports: one testcase per run.

The shape is the one the de-facto JUnit schema (Jenkins' junit-10.xsd) allows and the GitHub
publisher of .github/workflows/verify.yml (mikepenz/action-junit-report) reads; our own
schema, tests/data/junit.xsd, states it. A FAIL run has a <failure>, an ERROR run an <error>:
its message the first reason, its text every reason, one a line, then the run's story. That
schema allows <properties> on a testsuite only, so each run's facts (the answer to each of its
claims, its pcap, the tokens observed, the pattern) are properties of the one suite, named
after the run's testcase; the testcase's <system-out> lists them again, then the story.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from harness.core.document import Results, RunEntry
from harness.core.entries import ClaimEntry
from harness.report.runs import verdict_label

SUITE = "harness verify"
#: The element a verdict other than pass is reported with (anything unknown is an error).
OUTCOME = {"fail": "failure", "error": "error"}
# What XML 1.0 cannot hold, not even escaped: most control characters, lone surrogates.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    """Text XML can hold: a character it cannot is written as `\\xNN`."""
    return _NOT_XML.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


def case_name(run: RunEntry) -> str:
    """A run's testcase name: `linger-abort-server[ipv4-loopback]`."""
    return f"{run.id}[{run.family}-{run.topology}]"


def case_classname(run: RunEntry) -> str:
    """`catalog.linger-abort-server`: the part after the last dot is what the publisher looks
    for as `<that>.*` in the checkout, so a failure's annotation lands on the scenario file."""
    return f"catalog.{run.id}"


def run_seconds(run: RunEntry) -> float:
    """A run's time: the seconds of all its phases."""
    return sum(run.phases.values())


def claim_answer(claim: ClaimEntry) -> str:
    """`holds`, `does not hold` or `undecided`, with UNEXPECTED where the answer is not the
    one the catalog records for Linux."""
    if claim.verdict in (claim.linux, "undecided"):
        return claim.verdict
    return f"{claim.verdict} (UNEXPECTED: Linux is expected to show it {claim.linux})"


def run_facts(run: RunEntry) -> list[tuple[str, str]]:
    """A run's facts as (name, value): each claim's answer, the pcap, observed, pattern."""
    facts = [(f"claim:{claim.id}", claim_answer(claim)) for claim in run.claims]
    if run.pcap:
        facts.append(("pcap", run.pcap))
    return [*facts, ("observed", " ".join(run.observed)), ("pattern", run.pattern)]


def run_reasons(run: RunEntry) -> list[str]:
    """Why a run did not pass, one reason an item: its reasons, else its one joined reason;
    a sentence saying so when it recorded none."""
    found = [reason for reason in run.reasons if reason] or ([run.reason] if run.reason else [])
    return found or [f"the run is {verdict_label(run.verdict)}; no reason was recorded"]


@dataclass(frozen=True)
class Outcome:
    """Why a run did not pass, as its <failure> or <error> says it."""

    tag: str
    message: str
    text: str


def outcome(run: RunEntry) -> Outcome | None:
    """The run's <failure> (FAIL) or <error> (ERROR); None for a pass."""
    if run.verdict == "pass":
        return None
    why = run_reasons(run)
    text = "\n".join([*why, "", *run.story]) if run.story else "\n".join(why)
    message = next(iter(why[0].splitlines()), "")
    return Outcome(OUTCOME.get(run.verdict, "error"), message, text)


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def _add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: _clean(v) for k, v in attrs.items()})
    if text is not None:
        element.text = _clean(text)
    return element


def _testcase(suite: ET.Element, run: RunEntry) -> None:
    case = _add(suite, "testcase", name=case_name(run), classname=case_classname(run),
                time=_seconds(run_seconds(run)))
    found = outcome(run)
    if found is not None:
        _add(case, found.tag, found.text, message=found.message,
             type=verdict_label(run.verdict))
    facts = [f"{name}: {value}" for name, value in run_facts(run)]
    _add(case, "system-out", "\n".join([*facts, "", *run.story]))


def _properties(suite: ET.Element, results: Results) -> None:
    properties = _add(suite, "properties")
    _add(properties, "property", name="kernel", value=results.kernel)
    for run in results.runs:
        for name, value in run_facts(run):
            _add(properties, "property", name=f"{case_name(run)} {name}", value=value)


def _counts(runs: Sequence[RunEntry]) -> dict[str, str]:
    tags = [found.tag if (found := outcome(run)) else "" for run in runs]
    return {"tests": str(len(runs)), "failures": str(tags.count("failure")),
            "errors": str(tags.count("error"))}


def render_junit(results: Results, *, suite: str = SUITE, timestamp: datetime | None = None,
                 hostname: str | None = None) -> str:
    """The whole JUnit XML document: <testsuites> holding one <testsuite> named suite
    ("harness verify"), its properties, then a <testcase> per run in plan order; timestamp
    (when the runs started) and hostname are written when given."""
    counts = _counts(results.runs)
    seconds = _seconds(sum(run_seconds(run) for run in results.runs))
    root = ET.Element("testsuites", {"name": "harness", **counts, "time": seconds})
    when = {"timestamp": timestamp.isoformat(timespec="seconds")} if timestamp else {}
    element = _add(root, "testsuite", name=suite, **counts, skipped="0", time=seconds, **when,
                   **({"hostname": hostname} if hostname else {}))
    _properties(element, results)
    for run in results.runs:
        _testcase(element, run)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
