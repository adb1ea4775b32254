"""Every catalog scenario, run for real: its verdict, and its pcap read back by tcpdump."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from harness.core.catalog import load_catalog
from harness.core.conversation import split_conversations
from harness.core.crosscheck import compare, connection_keys
from harness.core.notation import token
from harness.core.result import RunResult
from harness.core.scenario import Scenario
from harness.core.verdict import Verdict
from harness.core.vocabulary import SERVER_PORT
from harness.pcap.annotate import step_texts
from harness.pcap.reader import read_pcapng
from harness.pytest_plugin import refuse
from harness.report.terminal import render_run

pytestmark = pytest.mark.capture

RUNS = [pytest.param(sc, family, where, id=f"{sc.id}-{family}-{where}")
        for sc in load_catalog() for family in sc.families for where in sc.topologies]
_TCPDUMP_LINE = re.compile(
    r"^\S+ IP6? (?P<src>\S+)\.(?P<sport>\d+) > (?P<dst>\S+)\.(?P<dport>\d+): "
    r"Flags \[(?P<flags>[^\]]+)\]")
_done: dict[str, tuple[RunResult, Verdict]] = {}


def _run(sc: Scenario, family: str, folder: Path, where: str = "loopback"
         ) -> tuple[RunResult, Verdict]:
    """Each scenario runs once per test process; the tests below read the same run."""
    key = f"{sc.id}-{family}-{where}"
    if key not in _done:
        from harness.orchestration.runner import run_and_judge

        _done[key] = run_and_judge(sc, family, folder / f"{key}.pcapng", where)
    return _done[key]


@pytest.fixture(scope="module")
def pcap_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("catalog-pcaps")


@pytest.mark.parametrize(("sc", "family", "where"), RUNS)
def test_scenario(sc: Scenario, family: str, where: str, pcap_folder: Path) -> None:
    """The run passes, tcpdump reads its pcap as we do, and the pcap tells its story.

    One test per run, not three: under xdist, tests sharing a run could land on different
    workers and each would run the scenario again."""
    result, verdict = _run(sc, family, pcap_folder, where)
    assert result.topology == where
    assert verdict.status == "pass", render_run(sc, result, verdict)
    _tcpdump_reads_the_same_packets_from_the_pcap(result, verdict)
    _the_pcap_tells_the_whole_story(result, verdict, where)
    _wireshark_finds_what_the_display_filters_say(sc, result)


def _wireshark_finds_what_the_display_filters_say(sc: Scenario, result) -> None:
    """The scenario's display filters, asked through pyshark here (the batch asks tshark)."""
    from harness.lab.wireshark import evaluate

    for wish in sc.display_filters:
        outcome = evaluate(result.pcap, wish)
        assert outcome.ok, outcome.sentence()


def _tcpdump_tokens(pcap: str) -> list[str]:
    out = subprocess.run(["tcpdump", "-n", "-r", pcap], capture_output=True, text=True,
                         check=True).stdout
    tokens = []
    for line in out.splitlines():
        m = _TCPDUMP_LINE.match(line)
        assert m, f"tcpdump printed a line we cannot read: {line!r}"
        outbound = int(m["dport"]) == SERVER_PORT
        tokens.append((">" if outbound else "<") + m["flags"].replace("none", "[none]"))
    return tokens


def _tcpdump_reads_the_same_packets_from_the_pcap(result: RunResult, verdict: Verdict) -> None:
    from harness.lab.privileges import missing_tool

    if missing_tool("tcpdump"):
        refuse(missing_tool("tcpdump") or "")
    assert result.pcap and verdict.match is not None
    theirs = _tcpdump_tokens(result.pcap)
    ours = [token(">" if seg.dport == SERVER_PORT else "<", seg.flags) for seg in result.segments]
    assert theirs == ours, (f"tcpdump -n -r {result.pcap} shows {' '.join(theirs)}\n"
                            f"the harness captured       {' '.join(ours)}")
    if len(split_conversations(result.segments)) == 1:  # then the verdict judged every packet
        assert ours == list(verdict.match.observed)
    assert result.capture is not None
    assert len(theirs) == result.capture.frames  # no packet missing, none twice


def _the_pcap_tells_the_whole_story(result: RunResult, verdict: Verdict, where: str) -> None:
    """Every step is written on a packet (the one it sent, or the next one), every packet
    says where it stands in the pattern, and the section header says where and what ran."""
    assert result.pcap
    capture = read_pcapng(result.pcap)
    assert capture.section.os.startswith("Linux ") and "tcp-close-harness" in (
        capture.section.application)
    assert capture.interfaces[0].name == ("lo" if where == "loopback" else "veth-client")
    assert "net:[" in capture.interfaces[0].description
    assert f"verdict: {verdict.status.upper()}" in capture.section.comments
    written = [c for record in capture.records for c in record.comments]
    made = Counter(step_texts(result.calls))
    for text, times in made.items():
        told = [c for c in written if c.startswith(text)]
        assert len(told) == times, (f"{text!r}, made {times} times, is written {len(told)} "
                                    f"times in {result.pcap}")
    for number, record in enumerate(capture.records, 1):
        assert any(c.startswith("pattern: ") for c in record.comments), (
            f"frame {number} of {result.pcap} has no pattern comment: {record.comments}")


# Runs whose pcaps tshark must read as we do: two streams, a window shut with probes that
# Wireshark calls keep-alives, an RST without ACK, the plain FIN handshake on both families,
# and on veth a tail loss probe answered with a D-SACK.
CROSS_CHECKED = [("listener-close-resets-queue", "ipv6", "loopback"),
                 ("linger-timeout-expires", "ipv4", "loopback"),
                 ("write-after-peer-close", "ipv4", "loopback"),
                 ("default-close", "ipv4", "loopback"), ("default-close", "ipv6", "loopback"),
                 ("linger-timeout-expires", "ipv6", "veth"), ("default-close", "ipv4", "veth")]


def test_tshark_reads_the_pcaps_as_we_do(pcap_folder: Path) -> None:
    """The independent cross-check on real runs (`make verify` does it for every run): one
    tshark reads the pcaps, and Wireshark's dissector agrees with scapy frame by frame."""
    from harness.orchestration.tshark import TsharkMissing, read_pcaps, tshark_version

    try:
        tool = tshark_version()
    except TsharkMissing as exc:
        pytest.skip(str(exc))  # only the cross-check needs tshark; the runs themselves do not
    by_id = {sc.id: sc for sc in load_catalog()}
    results = [_run(by_id[i], family, pcap_folder, where)[0]
               for i, family, where in CROSS_CHECKED]
    views = read_pcaps([r.pcap or "" for r in results],
                       [connection_keys(r.segments) for r in results])
    for result, theirs in zip(results, views, strict=True):
        problems = compare(result.segments, theirs, by_id[result.scenario].wireshark_warnings)
        assert not problems, f"{tool} disagrees on {result.pcap}:\n" + "\n".join(problems)
        assert len(theirs) == len(result.segments)
