"""The harness command on captures it did not make, and its one-line answers to mistakes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import CookedLinuxV2
from scapy.utils import wrpcap

from harness.cli import main
from harness.listing import tcpdump_lines
from harness.segment import read_capture

ROOT = Path(__file__).resolve().parent.parent


def _conversation(client_port: int, last: str) -> list:
    c, s = ("10.0.0.1", client_port), ("10.0.0.2", 80)

    def pkt(src, dst, flags, seq, ack, data=b""):
        return (CookedLinuxV2() / IP(src=src[0], dst=dst[0])
                / TCP(sport=src[1], dport=dst[1], flags=flags, seq=seq, ack=ack) / data)

    return [pkt(c, s, "S", 100, 0), pkt(s, c, "SA", 500, 101), pkt(c, s, "A", 101, 501),
            pkt(c, s, "PA", 101, 501, b"hello"), pkt(s, c, "A", 501, 106),
            pkt(s, c, last, 501, 106)]


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    """Two connections as `tcpdump -i any` writes them (SLL2): one reset, one closed."""
    path = tmp_path / "two.pcap"
    wrpcap(str(path), _conversation(40000, "RA") + _conversation(40001, "FA"))
    return path


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_matches_and_exits_zero(capture: Path, capsys) -> None:
    code, out, _ = _run(capsys, "check", str(capture), "--expect", ">S <S. >. >P. <. <R.")
    assert code == 0
    assert "stream 0: client 10.0.0.1.40000 (sent the first SYN)" in out


def test_check_explains_a_mismatch_and_exits_one(capture: Path, capsys) -> None:
    code, out, _ = _run(capsys, "check", str(capture), "--stream", "1", "--expect",
                        ">S <S. >. >P. <. <R.")
    assert code == 1
    assert "packet 6 <F. does not fit: the pattern expected <R. there" in out
    assert "Flags [F.]" in out


def test_show_prints_tcpdump_lines(capture: Path, capsys) -> None:
    code, out, _ = _run(capsys, "show", str(capture), "--stream", "1")
    assert code == 0
    segments = [s for s in read_capture(capture) if s.sport == 40001 or s.dport == 40001]
    assert out.splitlines() == tcpdump_lines(segments)


@pytest.mark.parametrize(("argv", "message"), [
    (["check", "{cap}", "--expect", ">S <S. >Q"], "bad pattern: pattern error at column 8"),
    (["check", "{cap}", "--expect", ">S", "--stream", "7"], "stream 7 not found"),
    (["show", "/nonexistent.pcap"], "harness: /nonexistent.pcap: no such capture file"),
    (["show", "{text}"], "not a pcap or pcapng capture file"),
    (["run", "no-such-scenario"], "harness: unknown scenario 'no-such-scenario'"),
    (["run", "/nonexistent/mine.toml"], "harness: /nonexistent/mine.toml: cannot read it"),
    (["run", "{text}.toml"], "cannot read it"),
    (["show", "{text}", "--ladder"], "not a pcap or pcapng capture file"),
    (["run", "default-close", "--netem", "delay 5ms"], "--netem impairs the link between two"),
    (["run", "--topology", "ring"], "argument --topology: invalid choice: 'ring'"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["check", "{cap}"], "the following arguments are required: --expect"),
    (["run", "linger-abort"], "did you mean linger-abort-server or linger-abort-client"),
    (["run", "default-close", "--pcap-dir", "{text}/sub"], "notes.txt/sub: cannot make it (Not "
                                                           "a directory)"),
    (["report", "--from", "/nonexistent/results.json"], "cannot read it (No such file"),
    (["report", "--from", "{text}"], "not JSON (line 1, column 1)"),
    (["report", "--from", "{json}"], "no list of runs in it"),
])
def test_mistakes_are_one_line_on_stderr_with_status_two(argv, message, capture: Path,
                                                         tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a capture\n")
    other = tmp_path / "other.json"
    other.write_text('{"kernel": "6.1"}\n')
    argv = [a.format(cap=capture, text=text, json=other) for a in argv]
    done = subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("harness: ") and len(done.stderr.strip().splitlines()) <= 3


def test_show_draws_a_ladder_of_any_capture(capture: Path, capsys) -> None:
    code, out, _ = _run(capsys, "show", str(capture), "--ladder", "--stream", "1")
    assert code == 0
    lines = out.splitlines()
    assert "10.0.0.1:40001" in lines[1] and "10.0.0.2:80" in lines[1]
    assert sum("|- " in line and ">|" in line for line in lines) == 3  # the client's packets
    assert sum("|<- " in line for line in lines) == 3
    assert any("F. seq 1 ack 6" in line for line in lines)


def test_show_ladder_says_which_stream_it_drew(capture: Path, capsys) -> None:
    code, out, _ = _run(capsys, "show", str(capture), "--ladder")
    assert code == 0 and "--stream N draws another" in out.splitlines()[-1]


def test_report_renders_the_pages_again_from_results(tmp_path: Path, capsys) -> None:
    results = tmp_path / "out" / "results.json"
    results.parent.mkdir()
    entry = {"id": "x", "title": "t", "statement": "s", "source": "socket(7)",
             "family": "ipv4", "topology": "loopback", "verdict": "pass", "pattern": ">S",
             "observed": [">S"], "pcap": "out/x-ipv4.pcapng", "calls": [], "states": {},
             "claims": [], "story": ["== x"], "packets": [], "match": None}
    results.write_text(json.dumps({"kernel": "6.1.0", "runs": [entry]}))
    code, out, _ = _run(capsys, "report", "--from", str(results))
    assert code == 0
    assert out.splitlines() == [f"report: {results.parent / 'REPORT.md'}",
                                f"report: {results.parent / 'index.html'}"]
    page = (results.parent / "index.html").read_text()
    assert 'data-run="x-ipv4' in page and "6.1.0" in page


def test_list_names_every_scenario_with_its_claims(capsys) -> None:
    code, out, _ = _run(capsys, "list")
    assert code == 0
    for wanted in ("default-close", "linger-abort-server", "linger-abort-client"):
        assert wanted in out
    assert "claim nonblocking-linger-ewouldblock (Linux: does not hold)" in out
    assert "source: seed 004_53594180dbf68f04.txt" in out


def test_run_without_privileges_says_what_is_missing(monkeypatch, capsys) -> None:
    monkeypatch.setattr("harness.privileges._effective", lambda: 0)
    code, _, err = _run(capsys, "run", "default-close")
    assert code == 2
    assert err.startswith("harness: capture runs need CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_NET_RAW")
    assert "sudo" in err


def _unprivileged_pytest(require: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_REQUIRE_CAPTURE"}
    env["COLUMNS"] = "400"  # pytest's short summary must not cut the reason
    if require:
        env["HARNESS_REQUIRE_CAPTURE"] = "1"
    cmd = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--", sys.executable, "-m",
           "pytest", "-p", "no:cacheprovider", "-q", "-m", "capture",
           "tests/test_lab_capture.py::test_server_abort_sends_rst"]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="drops root's capabilities with setpriv; needs root and util-linux")
def test_capture_tests_skip_without_privileges_and_fail_when_required() -> None:
    skipped = _unprivileged_pytest(require=False)
    assert skipped.returncode == 0, skipped.stdout
    assert "1 skipped" in skipped.stdout
    assert "capture runs need CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_NET_RAW" in skipped.stdout
    required = _unprivileged_pytest(require=True)
    assert required.returncode == 1, required.stdout
    assert "1 error" in required.stdout  # failed in setup, before the test body could run
    assert "HARNESS_REQUIRE_CAPTURE=1, so this fails instead of skipping" in required.stdout


def test_verify_without_tshark_fails_before_running_anything(monkeypatch, capsys) -> None:
    monkeypatch.setattr("harness.privileges.capture_problem", lambda: None)
    monkeypatch.setattr("harness.tshark.shutil.which", lambda name: None)
    monkeypatch.setattr("harness.runner.run_scenario", lambda *a: pytest.fail("it ran"))
    code, out, err = _run(capsys, "verify")
    assert code == 2 and out == ""
    assert err.startswith("harness: tshark is not installed, so the cross-check cannot run")
