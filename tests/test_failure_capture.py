"""A run that fails says what happened, at once: the FAIL line, results.json and the report
pages hold the captured tokens, and a pattern that can no longer match or a final state that
can no longer come ends the run without waiting out a timeout."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from harness.cli import main

pytestmark = pytest.mark.capture

CATALOG = Path(__file__).resolve().parent.parent / "harness" / "catalog"
TOKENS = ">S <S. >. >P. <. >P. <. >P. <. <R."


def _variant(tmp_path: Path, name: str, old: str, new: str) -> str:
    """linger-abort-server under another id, with one line changed."""
    text = (CATALOG / "linger-abort-server.toml").read_text()
    text = text.replace('id = "linger-abort-server"', f'id = "{name}"', 1)
    assert old in text
    path = tmp_path / f"{name}.toml"
    path.write_text(text.replace(old, new, 1))
    return str(path)


@pytest.fixture(scope="module")
def failed(tmp_path_factory) -> tuple[int, str, dict, Path]:
    tmp = tmp_path_factory.mktemp("failing")
    wire = _variant(tmp, "wrong-wire", '<R.[seq=1 ack=301]"', '<F."')
    state = _variant(tmp, "wrong-state", 'states = { server = "CLOSED"',
                     'states = { server = "TIME-WAIT"')
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["run", "linger-abort-server", wire, state, "--family", "ipv4",
                     "--pcap-dir", str(tmp), "--json", str(tmp / "results.json")])
        assert main(["report", "--from", str(tmp / "results.json")]) == 0
    runs = {run["id"]: run for run in json.loads((tmp / "results.json").read_text())["runs"]}
    return code, buffer.getvalue(), runs, tmp


@pytest.mark.parametrize("name", ["wrong-wire", "wrong-state"])
def test_the_fail_line_and_results_json_hold_the_captured_tokens(failed, name) -> None:
    code, out, runs, _ = failed
    assert code == 1
    lines = [line for line in out.splitlines() if re.match(r"\[\d/3\] ", line)]
    assert len(lines) == 3, out  # one verdict line per run
    mine = next(line for line in lines if f" {name} " in line)
    assert mine.startswith(f"[{2 if name == 'wrong-wire' else 3}/3] FAIL  {name}  ipv4")
    assert f"{TOKENS} (10 packets)" in mine
    assert runs[name]["observed"] == TOKENS.split()
    assert runs[name]["verdict"] == "fail"


def test_the_reports_show_the_failing_runs_tokens(failed) -> None:
    _, _, _, tmp = failed
    report = (tmp / "REPORT.md").read_text()
    page = (tmp / "index.html").read_text()
    assert report.count(f"`{TOKENS}`") >= 3, report  # each run's observed tokens, failed too
    assert "wrong-wire" in page and "wrong-state" in page
    assert page.count("&gt;S &lt;S. &gt;. &gt;P. &lt;. &gt;P. &lt;. &gt;P. &lt;. &lt;R.") >= 3


def test_the_summary_names_each_run_that_did_not_pass(failed) -> None:
    _, out, _, _ = failed
    tail = out[out.index("did not pass:"):].splitlines()
    assert tail[1] == ("  FAIL  wrong-wire  ipv4  loopback: wire: packet 10 <R. does not "
                       "fit: the pattern expected <F. there")
    assert tail[2] == ("  FAIL  wrong-state  ipv4  loopback: server: expected final state "
                       "TIME-WAIT; the kernel reports CLOSED")


def test_a_failure_is_decided_without_waiting_out_a_timeout(failed) -> None:
    """The pattern's wait was 2 s and each state's 5 s; a decided failure takes neither."""
    _, _, runs, _ = failed
    for name in ("wrong-wire", "wrong-state"):
        phases = runs[name]["phases"]
        assert phases["exchange"] + phases["drain"] < 1.0, phases
