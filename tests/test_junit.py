"""The JUnit XML of `harness run|verify --junit`: valid against our schema of what Jenkins'
junit-10.xsd and the workflow's publisher accept (tests/data/junit.xsd), a schema that refuses
what they refuse and takes what pytest writes; one testcase per run, FAIL a failure and ERROR
an error with the reasons; and what mikepenz/action-junit-report would show of it."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from harness.core.catalog import load_catalog
from harness.core.document import Results, RunEntry
from harness.core.notation import str_to_flags
from harness.core.result import Call, FinalState, Phases, RunResult
from harness.core.segment import Segment
from harness.core.verdict import Verdict, judge
from harness.report.document import run_entry
from harness.report.junit import render_junit

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = etree.XMLSchema(etree.parse(str(ROOT / "tests/data/junit.xsd")))
WORKFLOW = (ROOT / ".github/workflows/verify.yml").read_text()
KERNEL = "6.8.0-31-generic"
C, S = ("127.0.0.1", 40000), ("127.0.0.1", 5000)


def _problems(xml: str | bytes) -> list[str]:
    """What the schema says is wrong with a document; nothing when it is valid."""
    document = etree.fromstring(xml.encode() if isinstance(xml, str) else xml)
    if SCHEMA.validate(document):
        return []
    return [f"line {error.line}: {error.message}" for error in SCHEMA.error_log]


# Three runs of linger-abort-client, judged as the harness judges them (no capture): one as
# Linux behaves, one with a FIN where the RST should be, one the harness could not observe.
def _seg(i: int, token: str) -> Segment:
    src, dst = (C, S) if token[0] == ">" else (S, C)
    return Segment(time=float(i), family="ipv4", src=src[0], sport=src[1], dst=dst[0],
                   dport=dst[1], flags=str_to_flags(token[1:]), seq=0, ack=0, win=100,
                   length=0, index=i + 1)


def _judged(family: str, last: str = ">R.", **changes: Any) -> tuple[RunEntry, Verdict]:
    sc = next(s for s in load_catalog() if s.id == "linger-abort-client")
    calls = [Call(peer="server" if st.on != "client" else "client", sock=st.on, call=st.call,
                  args=st.args, ret=0) for st in sc.steps]
    calls[5] = dataclasses.replace(calls[5], ret=-1, errno="ECONNRESET")
    result = RunResult(
        scenario=sc.id, family=family,
        segments=[_seg(i, t) for i, t in enumerate([">S", "<S.", ">.", last])], calls=calls,
        states={"client": FinalState("CLOSED"), "server": FinalState("CLOSED")},
        pcap=str(ROOT / f"pcaps/{sc.id}-{family}.pcapng"),
        phases=Phases((("namespace", 0.25), ("exchange", 1.5))), **changes)
    verdict = judge(sc, result)
    return run_entry(sc, result, verdict, ROOT), verdict


PASSED, _ = _judged("ipv4")
FAILED, FAIL_VERDICT = _judged("ipv6", ">F.")
ERRORED, ERROR_VERDICT = _judged("ipv4", error="the kernel dropped 3 packets")
ERRORED = dataclasses.replace(ERRORED, topology="veth")
RESULTS = Results(KERNEL, (PASSED, FAILED, ERRORED))
XML = render_junit(RESULTS, timestamp=datetime(2025, 6, 1, 12, 0, 5, tzinfo=UTC),
                   hostname="runner-1")
TREE = ET.fromstring(XML)
SUITE = TREE.find("testsuite")
CASES = TREE.findall("testsuite/testcase")


def test_the_three_runs_are_as_judged() -> None:
    assert [run.verdict for run in RESULTS.runs] == ["pass", "fail", "error"]
    assert len(FAIL_VERDICT.reasons) >= 2 and ERROR_VERDICT.reasons[0].startswith("the kernel")


def test_the_document_is_valid_against_the_schema() -> None:
    assert _problems(XML) == []
    assert XML.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites ')


def test_without_timestamp_and_hostname_it_is_valid_too_and_leaves_them_out() -> None:
    bare = ET.fromstring(render_junit(RESULTS))
    assert _problems(render_junit(RESULTS)) == []
    assert {"timestamp", "hostname"}.isdisjoint(bare.find("testsuite").attrib)
    assert SUITE.get("timestamp") == "2025-06-01T12:00:05+00:00"
    assert SUITE.get("hostname") == "runner-1"


def test_no_runs_is_a_valid_empty_suite_named_as_asked() -> None:
    empty = render_junit(Results(KERNEL), suite="harness run")
    assert _problems(empty) == []
    assert ET.fromstring(empty).find("testsuite").attrib == {
        "name": "harness run", "tests": "0", "failures": "0", "errors": "0", "skipped": "0",
        "time": "0.000"}


def _moved_properties(root: Any) -> None:
    suite = root.find("testsuite")
    suite.find("testcase").insert(0, suite.find("properties"))


# Each of these breaks a rule junit-10.xsd states as well: the schema is not a rubber stamp.
BREAKAGES: dict[str, Callable[[Any], None]] = {
    "properties inside a testcase": _moved_properties,
    "a testsuite without tests": lambda root: root.find("testsuite").attrib.pop("tests"),
    "a file attribute on a testcase": lambda root: root.find(".//testcase").set("file", "x"),
    "skipped on testsuites": lambda root: root.set("skipped", "0"),
    "a property without a value": lambda root: root.find(".//property").attrib.pop("value"),
    "a suite time that is no number": lambda root: root.find("testsuite").set("time", "fast"),
    "an element junit does not know": lambda root: etree.SubElement(root.find(".//testcase"),
                                                                    "verdict"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_the_schema_refuses_a_broken_document(breakage: str) -> None:
    root = etree.fromstring(XML.encode())
    BREAKAGES[breakage](root)
    assert _problems(etree.tostring(root)), f"the schema accepts {breakage}"


_PYTEST_CASES = '''
import pytest

def test_passes(record_testsuite_property):
    record_testsuite_property("kernel", "6.8")

def test_fails():
    assert 1 == 2, "one is not two"

def test_is_skipped():
    pytest.skip("not here")

@pytest.fixture
def broken():
    raise RuntimeError("no lab")

def test_errors(broken):
    pass
'''


def test_the_schema_takes_what_pytest_writes_for_junit_family_xunit2(tmp_path: Path) -> None:
    """pytest's own tests check its xunit2 output against junit-10.xsd: ours must take it."""
    (tmp_path / "test_sample.py").write_text(_PYTEST_CASES)
    report = tmp_path / "junit.xml"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:harness",
         "-p", "no:xdist", "-o", "junit_family=xunit2", f"--junitxml={report}",
         "test_sample.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "HARNESS_USERNS": "0", "PYTHONDONTWRITEBYTECODE": "1"})
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    written = report.read_text()
    assert {"<failure", "<error", "<skipped", "<property"} <= set(re.findall(r"<\w+", written))
    assert _problems(written) == []


def test_one_testcase_per_run_named_by_scenario_family_and_topology() -> None:
    assert [case.get("name") for case in CASES] == [
        "linger-abort-client[ipv4-loopback]", "linger-abort-client[ipv6-loopback]",
        "linger-abort-client[ipv4-veth]"]
    assert {case.get("classname") for case in CASES} == {"catalog.linger-abort-client"}


def test_the_counts_agree_with_the_cases() -> None:
    for element in (TREE, SUITE):
        assert (element.get("tests"), element.get("failures"), element.get("errors")) == (
            "3", "1", "1")
    assert SUITE.get("name") == "harness verify" and SUITE.get("skipped") == "0"


def test_a_runs_time_is_its_phases_and_the_suites_their_sum() -> None:
    assert [case.get("time") for case in CASES] == ["1.750"] * 3
    assert SUITE.get("time") == TREE.get("time") == "5.250"


def test_a_fail_is_a_failure_with_every_reason_then_the_story() -> None:
    failure = CASES[1].find("failure")
    reasons = list(FAIL_VERDICT.reasons)
    assert failure.get("type") == "FAIL" and failure.get("message") == reasons[0]
    lines = failure.text.split("\n")
    assert lines[:len(reasons) + 1] == [*reasons, ""]
    assert lines[len(reasons) + 1:] == list(FAILED.story)
    assert CASES[1].find("error") is None


def test_an_error_is_an_error_and_a_pass_neither() -> None:
    error = CASES[2].find("error")
    assert error.get("type") == "ERROR"
    assert error.get("message") == "the kernel dropped 3 packets"
    assert error.text.startswith("the kernel dropped 3 packets\n")
    assert CASES[0].find("failure") is None and CASES[0].find("error") is None


def test_a_reason_the_story_does_not_list_is_given_whole() -> None:
    run = RunEntry(id="rst-lost", family="ipv4", verdict="fail", reason="a; b", story=())
    failure = ET.fromstring(render_junit(Results(KERNEL, (run,)))).find(".//failure")
    assert failure.get("message") == "a; b" and failure.text == "a; b"


def test_a_run_that_recorded_no_reason_says_so() -> None:
    run = RunEntry(id="rst-lost", family="ipv4", verdict="mystery")
    error = ET.fromstring(render_junit(Results(KERNEL, (run,)))).find(".//testcase/error")
    assert error.get("message") == "the run is MYSTERY; no reason was recorded"
    assert error.get("type") == "MYSTERY"


def test_the_document_read_back_from_results_json_gives_the_same_xml() -> None:
    again = Results.from_json(RESULTS.to_json())
    assert render_junit(again, timestamp=datetime(2025, 6, 1, 12, 0, 5, tzinfo=UTC),
                        hostname="runner-1") == XML


def _properties() -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in SUITE.findall("properties/property")}


def test_the_suites_properties_hold_each_runs_claims_pcap_tokens_and_pattern() -> None:
    properties = _properties()
    assert properties["kernel"] == KERNEL
    passed = "linger-abort-client[ipv4-loopback]"
    assert properties[f"{passed} claim:abort-after-connect-rst"] == "holds"
    assert properties[f"{passed} pcap"] == "pcaps/linger-abort-client-ipv4.pcapng"
    assert properties[f"{passed} observed"] == ">S <S. >. >R."
    assert properties[f"{passed} pattern"] == PASSED.pattern
    assert TREE.find(".//testcase/properties") is None


def test_a_claim_answered_against_the_catalog_says_unexpected() -> None:
    failed = "linger-abort-client[ipv6-loopback] claim:abort-after-connect-rst"
    assert _properties()[failed] == (
        "does not hold (UNEXPECTED: Linux is expected to show it holds)")
    assert "claim:abort-after-connect-rst: does not hold (UNEXPECTED" in (
        CASES[1].find("system-out").text)


def test_every_testcase_has_its_facts_and_story_in_system_out() -> None:
    out = CASES[0].find("system-out").text.split("\n")
    claims = [line for line in out if line.startswith("claim:")]
    assert claims[0] == "claim:abort-after-connect-rst: holds"
    assert out[:len(claims)] == claims == [f"claim:{c.id}: {c.verdict}" for c in PASSED.claims]
    rest = out[len(claims):]
    assert rest[:3] == ["pcap: pcaps/linger-abort-client-ipv4.pcapng",
                        "observed: >S <S. >. >R.", f"pattern: {PASSED.pattern}"]
    assert rest[4:] == list(PASSED.story)


def test_a_character_xml_cannot_hold_is_written_escaped() -> None:
    run = dataclasses.replace(PASSED, story=("\x1b[31mred\x1b[0m", "nul \x00 here"))
    xml = render_junit(Results(KERNEL, (run,)))
    assert _problems(xml) == []
    assert "\\x1b[31mred" in ET.fromstring(xml).find(".//system-out").text


# What mikepenz/action-junit-report v5 (src/testParser.ts) makes of a report: it counts the
# testcases itself; a <failure> or an <error> makes one failed, a <skipped> skipped; an
# annotation's message is the failure's (else the error's) message, else the first two lines
# of its text, else the case's name; its file is the case's `file`, else the classname's last
# dotted part, looked for as `**/<that>.*` in the checkout.
@dataclasses.dataclass(frozen=True)
class Shown:
    title: str
    status: str
    message: str
    details: str
    file: str


def _shown(case: ET.Element, template: str | None) -> Shown:
    failure, error = case.find("failure"), case.find("error")
    broke = failure if failure is not None else error
    text = (broke.text or "").strip() if broke is not None else ""
    message = ((failure.get("message") if failure is not None else None)
               or (error.get("message") if error is not None else None)
               or "\n".join(text.split("\n")[:2]) or case.get("name"))
    name, file = case.get("name"), case.get("file") or case.get("classname").split(".")[-1]
    title = (template.replace("{{TEST_NAME}}", name) if template else
             name if file == name else f"{file}.{name}")
    status = ("skipped" if case.find("skipped") is not None else
              "failure" if broke is not None else "success")
    return Shown(title, status, message.strip(), text, file)


def _as_published(xml: str, template: str | None = None) -> tuple[dict[str, int], list[Shown]]:
    root = ET.fromstring(xml)
    cases = root.iter("testcase")  # testsuites or testsuite at the root, nested at any depth
    shown = [_shown(case, template) for case in cases]
    failed = sum(s.status == "failure" for s in shown)
    skipped = sum(s.status == "skipped" for s in shown)
    return ({"total": len(shown), "passed": len(shown) - failed - skipped, "failed": failed,
             "skipped": skipped}, shown)


def test_the_publisher_counts_two_failed_of_three() -> None:
    counts, _ = _as_published(XML)
    assert counts == {"total": 3, "passed": 1, "failed": 2, "skipped": 0}


def test_the_publisher_shows_each_run_by_name_with_its_first_reason() -> None:
    _, shown = _as_published(XML, "{{TEST_NAME}}")  # the workflow's check_title_template
    assert [s.title for s in shown] == [case.get("name") for case in CASES]
    assert [s.status for s in shown] == ["success", "failure", "failure"]
    assert shown[1].message == FAIL_VERDICT.reasons[0]
    assert shown[1].details.split("\n")[:2] == list(FAIL_VERDICT.reasons[:2])
    assert shown[2].message == "the kernel dropped 3 packets"


def test_the_publisher_annotates_the_scenario_file() -> None:
    _, shown = _as_published(XML)
    assert {s.file for s in shown} == {"linger-abort-client"}
    found = [path.relative_to(ROOT).as_posix() for top in ("harness", "tests", "docs", "bench")
             for path in (ROOT / top).rglob("linger-abort-client.*")]
    assert found == ["harness/catalog/linger-abort-client.toml"]


def _steps() -> list[str]:
    return re.split(r"\n(?=\s+- )", WORKFLOW)


def test_the_workflow_publishes_the_verify_report_as_its_own_check() -> None:
    reports = [step for step in _steps() if "mikepenz/action-junit-report@" in step]
    verify = [step for step in reports if "pcaps/junit-verify.xml" in step]
    assert len(verify) == 1, "no action-junit-report step publishes pcaps/junit-verify.xml"
    assert re.search(r"^\s*check_name:\s*verify\s*$", verify[0], re.M)
    assert re.search(r"^\s*check_title_template:\s*'\{\{TEST_NAME\}\}'\s*$", verify[0], re.M)
    assert "always()" in verify[0], "the verify report is not published when verify fails"
    assert any(re.search(r"^\s*check_name:\s*pytest\s*$", step, re.M) for step in reports)
