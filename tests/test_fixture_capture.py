"""The `lab` fixture as a CI user meets it, in a pytest of its own: a lab's pcap tells the
test's steps, pattern and outcome; a failing test shows its calls and packets on one clock
once and the listing once; a wrong setting is one line; `--harness-keep=failed`."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.pcap.reader import read_pcapng

pytestmark = pytest.mark.capture

TESTS = '''
import pytest

pytestmark = pytest.mark.capture


def _abort(lab):
    conn = lab.server.accept()
    lab.client.send(b"x" * 100)
    lab.client.wait_acked()
    conn.recv(100)
    conn.set_linger(1, 0)
    conn.close()
    lab.client.recv(100)


def test_passes(lab):
    lab.server.listen()
    lab.client.connect()
    lab.expect(">S <S. >.")
    _abort(lab)
    lab.expect(">S <S. >. >P. <. <R.")


def test_fails(lab):
    lab.server.listen()
    lab.client.connect()
    _abort(lab)
    lab.expect(">S <S. >. >P. <. <F. >.", within=0.2)
'''
WRONG = '''
import pytest


@pytest.mark.parametrize("lab", ["veth"], indirect=True)
def test_family(lab):
    pass


@pytest.mark.capture(topolgy="veth")
def test_key(lab):
    pass


@pytest.mark.capture(topology="veth", link={"netem": "delay soon"})
def test_link(lab):
    pass


@pytest.mark.capture(link={"netem": "delay 20ms"})
def test_link_on_loopback(lab):
    pass
'''


def _pytest(tmp_path: Path, source: str, *options: str) -> tuple[subprocess.CompletedProcess,
                                                                  Path, Path]:
    """Run source as a test file in a pytest of its own: the run, the file, its pcap dir."""
    mine, pcaps = tmp_path / "test_mine.py", tmp_path / "pcaps"
    mine.write_text(textwrap.dedent(source))
    # pytest prints whole assertion messages in its short summary when it sees CI or
    # BUILD_NUMBER; the output compared here is the one a developer's terminal shows.
    env = {**{k: v for k, v in os.environ.items() if k not in ("CI", "BUILD_NUMBER")},
           "COLUMNS": "200", "HARNESS_REQUIRE_CAPTURE": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", str(mine), "-p", "no:cacheprovider",
                           "-p", "no:xdist", "-q", "--pcap-dir", str(pcaps), *options],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    return done, mine, pcaps


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    """TESTS run once, every pcap kept: the run and the folder of its pcaps."""
    done, _, pcaps = _pytest(tmp_path_factory.mktemp("fixture"), TESTS)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 1 passed" in done.stdout, done.stdout
    return done, pcaps


def test_a_passing_tests_pcap_tells_its_steps_pattern_and_verdict(ran) -> None:
    _, pcaps = ran
    capture = read_pcapng(pcaps / "test_passes.pcapng")
    told = capture.section.comments
    assert told[0].startswith("scenario test_passes, ipv4, topology loopback")
    assert told[1:] == ("test test_mine.py::test_passes", "pattern: >S <S. >. >P. <. <R.",
                        "expected before it: >S <S. >.", "verdict: PASS")
    comments = [record.comments for record in capture.records]
    assert len(comments) == 6
    assert comments[0][0].startswith("server: server.listen(16) → 0 in")
    assert comments[0][0].endswith(" before this packet)")  # a step that sent no packet
    assert comments[0][1].startswith("client: client.connect() → 0 in")
    assert comments[0][1].endswith("; sent this")
    assert comments[0][-1] == 'pattern: packet 1 of 6 >S matched (">S" at column 1)'
    assert any(c.startswith("server: conn.close() with SO_LINGER {1,0} → 0 in")
               and c.endswith("; sent this") for c in comments[5])
    assert comments[5][-1] == 'pattern: packet 6 of 6 <R. matched ("<R." at column 18)'


def test_a_failing_tests_pcap_says_where_it_broke_and_why(ran) -> None:
    _, pcaps = ran
    capture = read_pcapng(pcaps / "test_fails.pcapng")
    assert capture.section.comments[1:] == (
        "test test_mine.py::test_fails", "pattern: >S <S. >. >P. <. <F. >.", "verdict: FAIL",
        "- AssertionError: packet 6 <R. does not fit: the pattern expected <F. there")
    assert capture.records[5].comments[-1] == ("pattern: BROKE HERE: packet 6 <R. does not "
                                               "fit: the pattern expected <F. there")


def test_a_failing_test_shows_the_timeline_once_and_the_listing_once(ran) -> None:
    done, pcaps = ran
    out = done.stdout
    assert out.count("calls and packets on one clock:") == 1
    assert out.count("observed:") == 1
    assert out.count("  -> 6  <R.") == 1  # the listing, with its arrow, in the assertion
    assert out.count("server conn.set_linger(1, 0) = 0") == 1  # each call once, timed
    timeline = out.split("calls and packets on one clock:\n", 1)[1].splitlines()
    assert timeline[0].split()[1:3] == ["server", "server.listen(16)"]
    # The kernel's own events are on the same clock (CLOSE -> SYN-SENT comes before the SYN).
    packets = [row.split()[1] for row in timeline if row.split()[1] in (">S", "<S.", ">.")]
    assert packets[:3] == [">S", "<S.", ">."]
    assert "kernel client CLOSE -> SYN-SENT" in out and "kernel server ESTABLISHED -> CLOSE" in out
    assert f"pcap: {pcaps / 'test_fails.pcapng'}" in out
    assert "E       AssertionError: packet 6 <R. does not fit" in out
    assert "harness/lab" not in out and "Traceback" not in out  # the test's own line only


def test_a_wrong_lab_setting_is_one_line_naming_it(tmp_path: Path) -> None:
    done, mine, pcaps = _pytest(tmp_path, WRONG)
    out = done.stdout
    assert done.returncode == 1 and "4 errors" in out, out
    assert (f"{mine}:5: harness: lab family 'veth': use ipv4 or ipv6; 'veth' is a topology: "
            "write @pytest.mark.capture(topology='veth')") in out
    assert (f"{mine}:10: harness: @pytest.mark.capture: unknown setting 'topolgy'; did you "
            "mean topology? (known: family, topology, link, port, sysctls)") in out
    assert (f"{mine}:15: harness: netem delay 'soon': write a time such as 20ms, 500us or "
            "1s") in out or "--netem 'delay soon': tc refuses it" in out
    assert (f"{mine}:20: harness: @pytest.mark.capture: a link impairs the veth between two "
            "namespaces: add topology=\"veth\"") in out
    assert "Traceback" not in out and "ValueError" not in out and "harness/" not in out
    assert not pcaps.exists()


def test_keep_failed_leaves_only_the_failing_tests_pcap(tmp_path: Path) -> None:
    pcaps = tmp_path / "pcaps"
    pcaps.mkdir()
    (pcaps / "test_passes.pcapng").write_bytes(b"an earlier run's")
    done, _, _ = _pytest(tmp_path, TESTS, "--harness-keep=failed")
    assert "1 failed, 1 passed" in done.stdout, done.stdout
    assert sorted(p.name for p in pcaps.iterdir()) == ["test_fails.pcapng"]
    assert read_pcapng(pcaps / "test_fails.pcapng").section.comments[-2] == "verdict: FAIL"


def test_keep_takes_only_its_two_words(tmp_path: Path) -> None:
    done, _, _ = _pytest(tmp_path, TESTS, "--harness-keep=some")
    assert done.returncode == 4
    assert "argument --harness-keep: invalid choice: 'some' (choose from 'all', 'failed')" in \
        done.stderr
