"""The harness command on captures it did not make, and its one-line answers to mistakes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import CookedLinuxV2, Ether
from scapy.utils import wrpcap

from harness.cli import main
from harness.core.listing import tcpdump_lines
from harness.core.sources import SEEDS
from harness.lab.privileges import missing_tool
from harness.pcap import reader as segment_module
from harness.pcap.segments import read_capture
from harness.pcap.writer import write_pcapng
from harness.pytest_plugin import refuse

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
    code, out, _ = _run(capsys, "check", str(capture), "--stream", "0", "--expect",
                        ">S <S. >. >P. <. <R.")
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


def test_show_without_stream_lists_every_connection(capture: Path, capsys) -> None:
    code, out, err = _run(capsys, "show", str(capture))
    assert (code, err) == (0, "")
    assert out.splitlines() == tcpdump_lines(read_capture(capture))
    assert len(out.splitlines()) == 12


def test_check_of_the_only_connection_needs_no_stream(tmp_path: Path, capsys) -> None:
    one = tmp_path / "one.pcap"
    wrpcap(str(one), _conversation(40000, "RA"))
    code, out, _ = _run(capsys, "check", str(one), "--expect", ">S <S. >. >P. <. <R.")
    assert code == 0
    assert "stream 0: client 10.0.0.1.40000 (sent the first SYN)" in out


FIELDS = ">S[sport=40000 dport=80] <S.[t<1] >. >P.[len=5] <.[ack=6] <R.[seq=1 ack=6 dt<1]"


def test_check_compares_the_fields_of_a_written_pcap(capture: Path, capsys) -> None:
    code, out, _ = _run(capsys, "check", str(capture), "--stream", "0", "--expect", FIELDS)
    assert code == 0, out
    assert "match: >S <S. >. >P. <. <R." in out


def test_check_names_the_field_that_does_not_hold(capture: Path, capsys) -> None:
    code, out, _ = _run(capsys, "check", str(capture), "--stream", "0", "--expect",
                        FIELDS.replace("ack=6 dt", "ack=7 dt"))
    assert code == 1
    assert out.splitlines()[-1] == "packet 6 <R. has ack 6; the pattern wants ack=7"
    assert "-> 6  <R." in out and "Flags [R.], seq 1, ack 6" in out
    code, out, _ = _run(capsys, "check", str(capture), "--stream", "1", "--expect",
                        ">S[sport=40000] <S. >. >P. <. <R.")
    assert (code, out.splitlines()[-1]) == (
        1, "packet 1 >S has sport 40001; the pattern wants sport=40000")


def _fill(text: str, places: dict[str, object]) -> str:
    """text with each {name} of places replaced (other braces are left alone)."""
    for name, value in places.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def _udp_only(path: Path) -> Path:
    """A capture of one UDP datagram and one ICMP echo: packets, but no TCP."""
    ip = IP(src="10.0.0.1", dst="10.0.0.2")
    wrpcap(str(path), [CookedLinuxV2() / ip / UDP(sport=5353, dport=53) / b"x",
                       CookedLinuxV2() / ip / ICMP()])
    return path


def _linger_scenario(tmp_path: Path, linger: str) -> Path:
    """linger-abort-server as the user's own file, its set_linger step changed to linger."""
    shipped = (ROOT / "harness" / "catalog" / "linger-abort-server.toml").read_text()
    assert shipped.count("onoff = 1, linger = 0") == 1
    path = tmp_path / "mine.toml"
    path.write_text(shipped.replace("onoff = 1, linger = 0", linger))
    return path


@pytest.mark.parametrize(("argv", "message"), [
    (["check", "{cap}", "--expect", ">S <S. >Q"],
     'bad pattern: pattern error at column 8: "Q" is not tcpdump flag notation: "Q" is not a '
     'flag letter (expected letters from "FSRP.UEWe", or "none")'),
    (["check", "{cap}", "--expect", ">S <S. .>"],
     'bad pattern: pattern error at column 8: expected a packet token starting with ">" or '
     '"<", or one of ( ) | ? * + {, but found "."'),
    (["check", "{cap}", "--expect", ">S (<S."],
     'bad pattern: pattern error at column 4: found "(" with no ")" to close it'),
    (["check", "{cap}", "--expect", ">S"], "{cap}: 2 TCP connections in this capture; say "
                                           "which to check with --stream N: 0 = "),
    (["check", "{cap}", "--expect", ">S[mss>x] <S."],
     'bad pattern: pattern error at column 8: "mss>x": mss is compared with a whole number '
     'from 0 to 65535 (digits 0-9), not "x"'),
    (["check", "{cap}", "--expect", ">S <S.[akc=1]"],
     'bad pattern: pattern error at column 8: "akc" is not a packet field; did you mean ack?'),
    (["check", "{cap}", "--expect", ">S[len=0 <S."],
     'bad pattern: pattern error at column 3: found "[" with no "]" to close it'),
    (["check", "{cap}", "--expect", ">S", "--stream", "7"],
     "{cap}: --stream 7 is out of range: the capture holds 2 connections"),
    (["check", "{cut}", "--expect", ">S"], "{cut}: the capture file is truncated at byte "),
    (["show", "{udp}"], "{udp}: no TCP segments in this capture (it holds 2 packets"),
    (["run", "no-such-scenario"], "harness: unknown scenario 'no-such-scenario'"),
    (["run", "/nonexistent/mine.toml"], "harness: /nonexistent/mine.toml: cannot read it"),
    (["run", "{text}.toml"], "cannot read it"),
    (["run", "{linger}", "--pcap-dir", "{tmp}/pcaps"],
     "harness: {linger} step 5: set_linger takes onoff and linger from 0 to 2147483647"),
    (["probe", "--server", "/no/such", "--client", "true", "--expect", ">S", "--pcap",
      "{tmp}/never.pcapng"], "harness: --server: no such program: /no/such"),
    (["probe", "--server", "no-such-server {host} {port}", "--client", "true", "--expect",
      ">S", "--pcap", "{tmp}/never.pcapng"],
     "harness: --server: no such program: no-such-server (not found on PATH)"),
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
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(capture.read_bytes()[:-10])
    udp = _udp_only(tmp_path / "udp.pcap")
    linger = _linger_scenario(tmp_path, "onoff = 1, linger = -1")
    places = {"cap": capture, "text": text, "json": other, "cut": cut, "udp": udp,
              "linger": linger, "tmp": tmp_path, "host": "{host}", "port": "{port}"}
    argv = [_fill(a, places) for a in argv]
    done = subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 2
    assert _fill(message, places) in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "pcaps").exists() and not (tmp_path / "never.pcapng").exists()
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("harness: ") and len(done.stderr.strip().splitlines()) <= 3


# --- capture files a user can give by mistake, to show, show --ladder and check ------------

READERS = {"show": ["show"], "ladder": ["show", "--ladder"], "check": ["check", "--expect", ">S"]}
AGAIN = "the capture was cut short or is still being written: let it finish, or capture again"


def _cut_pcap(tmp_path: Path, capture: Path) -> tuple[Path, str]:
    data = capture.read_bytes()[:-10]  # the last record of 12 loses its last ten bytes
    path = tmp_path / "cut.pcap"
    path.write_bytes(data)
    return path, (f"the capture file is truncated at byte {len(data)}: it ends inside a "
                  "packet's data, so the last record is incomplete; the 11 packets before it "
                  f"are whole; {AGAIN}")


def _cut_pcapng(tmp_path: Path, capture: Path) -> tuple[Path, str]:
    packets = [Ether() / packet[IP] for packet in _conversation(40000, "RA")]
    data = write_pcapng(tmp_path / "whole.pcapng", packets).read_bytes()[:-20]  # mid-block
    path = tmp_path / "cut.pcapng"
    path.write_bytes(data)
    return path, (f"the capture file is truncated at byte {len(data)}: it ends inside a "
                  "block body, so the last record is incomplete; the 5 packets before it "
                  f"are whole; {AGAIN}")


def _written(name: str, data: bytes, message: str):
    def make(tmp_path: Path, capture: Path) -> tuple[Path, str]:
        path = tmp_path / name
        path.write_bytes(data)
        return path, message
    return make


def _folder(tmp_path: Path, capture: Path) -> tuple[Path, str]:
    return tmp_path, "is a directory, not a capture file; give the path of a pcap or pcapng"


def _missing(tmp_path: Path, capture: Path) -> tuple[Path, str]:
    return (tmp_path / "nowhere.pcap",
            "no such capture file; check the path, or run the capture first")


def _no_tcp(tmp_path: Path, capture: Path) -> tuple[Path, str]:
    return _udp_only(tmp_path / "udp.pcap"), (
        "no TCP segments in this capture (it holds 2 packets, none of them TCP over IPv4 or "
        "IPv6); give a capture of TCP traffic, e.g. one written by `tcpdump -w FILE tcp`")


def _no_packets(tmp_path: Path, capture: Path) -> tuple[Path, str]:
    path = tmp_path / "header-only.pcap"
    path.write_bytes(capture.read_bytes()[:24])
    return path, "no TCP segments in this capture (it holds no packets at all); give a capture"


NOT_A_CAPTURE = ("not a pcap or pcapng capture file; give a file written by tcpdump -w, "
                 "dumpcap, Wireshark or scapy")
BAD_CAPTURES = {
    "truncated-pcap": _cut_pcap,
    "truncated-pcapng": _cut_pcapng,
    "text": _written("notes.txt", b"not a capture\n", NOT_A_CAPTURE),
    "png": _written("picture.png", b"\x89PNG\r\n\x1a\n" + bytes(40), NOT_A_CAPTURE),
    "empty": _written("empty.pcap", b"", "the capture file is empty (0 bytes); the capture "
                                          "wrote nothing, so capture again"),
    "directory": _folder,
    "missing": _missing,
    "no-tcp": _no_tcp,
    "no-packets": _no_packets,
}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("kind", BAD_CAPTURES)
def test_a_bad_capture_is_one_line_naming_it(kind: str, reader: str, capture: Path,
                                             tmp_path: Path, capsys) -> None:
    path, message = BAD_CAPTURES[kind](tmp_path, capture)
    command = READERS[reader]
    code, out, err = _run(capsys, command[0], str(path), *command[1:])
    assert (code, out) == (2, "")
    assert err.startswith(f"harness: {path}: {message}")
    assert err.count("\n") == 1 and err.endswith("\n")


@pytest.mark.parametrize("reader", READERS)
def test_an_unreadable_capture_is_one_line_naming_it(reader: str, capture: Path, monkeypatch,
                                                     capsys) -> None:
    capture.chmod(0)
    if os.access(capture, os.R_OK):  # root reads anything: make open() refuse instead

        def refuse_open(*args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied", str(capture))

        monkeypatch.setattr(segment_module, "open", refuse_open, raising=False)
    command = READERS[reader]
    code, out, err = _run(capsys, command[0], str(capture), *command[1:])
    assert (code, out) == (2, "")
    assert err == (f"harness: {capture}: permission denied reading the capture file; fix its "
                   "permissions or read it as a user allowed to\n")


# --- which connection: --stream ------------------------------------------------------------


@pytest.mark.parametrize(("argv", "doing"), [(["check", "--expect", ">S"], "check"),
                                             (["show", "--ladder"], "draw")])
def test_several_connections_need_stream_to_check_or_draw(argv: list[str], doing: str,
                                                          capture: Path, capsys) -> None:
    code, out, err = _run(capsys, argv[0], str(capture), *argv[1:])
    assert (code, out) == (2, "")
    assert err == (f"harness: {capture}: 2 TCP connections in this capture; say which to "
                   f"{doing} with --stream N: 0 = 10.0.0.1.40000 > 10.0.0.2.80 (6 packets), "
                   "1 = 10.0.0.1.40001 > 10.0.0.2.80 (6 packets)\n")


def test_the_list_of_connections_stops_after_five(tmp_path: Path, capsys) -> None:
    many = tmp_path / "seven.pcap"
    wrpcap(str(many), [pkt for port in range(40000, 40007) for pkt in _conversation(port, "FA")])
    code, _, err = _run(capsys, "check", str(many), "--expect", ">S")
    assert code == 2
    assert err.startswith(f"harness: {many}: 7 TCP connections in this capture; say which "
                          "to check with --stream N: 0 = 10.0.0.1.40000 > 10.0.0.2.80")
    assert err.endswith(", 4 = 10.0.0.1.40004 > 10.0.0.2.80 (6 packets), … (2 more)\n")
    assert "40005" not in err


def test_a_connection_without_its_syn_is_listed_as_a_guess(tmp_path: Path, capsys) -> None:
    late = tmp_path / "late.pcap"
    wrpcap(str(late), _conversation(40000, "RA")[2:] + _conversation(40001, "FA"))
    code, _, err = _run(capsys, "show", str(late), "--ladder")
    assert code == 2
    assert "0 = 10.0.0.1.40000 > 10.0.0.2.80 (no SYN seen) (4 packets), 1 = " in err


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(("stream", "held", "valid"), [("7", "2 connections", "0 to 1"),
                                                       ("2", "2 connections", "0 to 1"),
                                                       ("-1", "2 connections", "0 to 1")])
def test_stream_out_of_range_names_the_valid_range(reader: str, stream: str, held: str,
                                                   valid: str, capture: Path, capsys) -> None:
    command = READERS[reader]
    code, out, err = _run(capsys, command[0], str(capture), *command[1:], "--stream", stream)
    assert (code, out) == (2, "")
    assert err == (f"harness: {capture}: --stream {stream} is out of range: the capture holds "
                   f"{held}, numbered from 0 as in Wireshark's tcp.stream; give --stream "
                   f"{valid}\n")


def test_stream_of_a_single_connection_capture(tmp_path: Path, capsys) -> None:
    one = tmp_path / "one.pcap"
    wrpcap(str(one), _conversation(40000, "RA"))
    code, _, err = _run(capsys, "show", str(one), "--stream", "1")
    assert code == 2
    assert err == (f"harness: {one}: --stream 1 is out of range: the capture holds 1 "
                   "connection, numbered from 0 as in Wireshark's tcp.stream; give --stream 0\n")


# --- the user's own scenario file -----------------------------------------------------------


@pytest.mark.parametrize("linger", ["onoff = 1, linger = -1", "onoff = 1, linger = 2147483648",
                                    "onoff = -1, linger = 0", "onoff = 2147483648, linger = 0"])
def test_linger_out_of_range_in_a_scenario_file_stops_before_anything_runs(
        linger: str, tmp_path: Path, monkeypatch, capsys) -> None:
    mine = _linger_scenario(tmp_path, linger)
    monkeypatch.setattr("harness.lab.privileges.capture_problem",
                        lambda: pytest.fail("checked privileges before the scenario"))
    code, out, err = _run(capsys, "run", str(mine), "--pcap-dir", str(tmp_path / "pcaps"))
    assert (code, out) == (2, "")
    assert err == (f"harness: {mine} step 5: set_linger takes onoff and linger from 0 to "
                   "2147483647\n")
    assert not (tmp_path / "pcaps").exists()


# --- tools the tests run ---------------------------------------------------------------------


def test_a_missing_tcpdump_names_the_package_to_install(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "")
    assert shutil.which("tcpdump") is None
    line = missing_tool("tcpdump")
    assert line == ("tcpdump is not installed; `make test` installs it (as root), or "
                    "`apt-get install tcpdump`")
    monkeypatch.delenv("HARNESS_REQUIRE_CAPTURE", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install tcpdump"):
        refuse(line)  # what the tcpdump capture tests do with it
    monkeypatch.setenv("HARNESS_REQUIRE_CAPTURE", "1")
    with pytest.raises(pytest.fail.Exception, match="apt-get install tcpdump"):
        refuse(line)


def test_show_draws_a_ladder_of_any_capture(capture: Path, capsys) -> None:
    code, out, _ = _run(capsys, "show", str(capture), "--ladder", "--stream", "1")
    assert code == 0
    lines = out.splitlines()
    assert "10.0.0.1:40001" in lines[1] and "10.0.0.2:80" in lines[1]
    assert sum("|- " in line and ">|" in line for line in lines) == 3  # the client's packets
    assert sum("|<- " in line for line in lines) == 3
    assert any("F. seq 1 ack 6" in line for line in lines)


def test_show_ladder_says_which_stream_it_drew(capture: Path, capsys) -> None:
    code, out, _ = _run(capsys, "show", str(capture), "--ladder", "--stream", "0")
    assert code == 0 and out.splitlines()[0] == f"{capture}, stream 0 of 2"


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
    assert f"source: {SEEDS['004'].described()} (seed 004)" in out


def test_run_without_privileges_says_what_is_missing(monkeypatch, capsys) -> None:
    monkeypatch.setattr("harness.lab.privileges._effective", lambda: 0)
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
    monkeypatch.setattr("harness.lab.privileges.capture_problem", lambda: None)
    monkeypatch.setattr("harness.orchestration.tshark.shutil.which", lambda name: None)
    monkeypatch.setattr("harness.orchestration.runner.run_scenario",
                        lambda *a: pytest.fail("it ran"))
    code, out, err = _run(capsys, "verify")
    assert code == 2 and out == ""
    assert err.startswith("harness: tshark is not installed, so the cross-check cannot run")


def test_a_mistake_in_a_test_is_reported_at_its_line_without_the_harness_frames(
        tmp_path: Path) -> None:
    mine = tmp_path / "test_mine.py"
    mine.write_text("from harness.core.pattern import compile_pattern\n\n\n"
                    "def test_a_typo() -> None:\n"
                    "    compile_pattern('>S <Q')\n")
    done = subprocess.run([sys.executable, "-m", "pytest", str(mine), "-p", "no:cacheprovider",
                           "-p", "no:xdist", "-q"], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert done.returncode == 1, done.stdout
    assert (f"{mine}:5: harness: bad pattern: pattern error at column 4: \"Q\" is not "
            "tcpdump flag notation") in done.stdout
    assert "harness/core" not in done.stdout and "Traceback" not in done.stdout
