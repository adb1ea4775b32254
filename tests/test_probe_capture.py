"""Your own programs as the peers: `harness probe` and `lab.spawn_server()` with small C
programs (tests/c/) that do what the seeds' programs do."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.lab.lab import Lab
from harness.lab.programs import NoSuchProgram
from harness.pcap.reader import read_pcapng
from harness.pytest_plugin import refuse

C_SOURCES = Path(__file__).resolve().parent / "c"
SERVER_ABORT = ">S <S. >. >P. <. <R."  # abort_server + echo_client, measured on Linux 6.18
CLIENT_ABORT = ">S <S. >. >R."  # slow_accept_server + abort_client (seed 001)


@pytest.fixture(scope="session")
def c_programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every tests/c/*.c compiled with gcc: name -> path of the executable."""
    gcc = shutil.which("gcc")
    if gcc is None:
        refuse("gcc is not installed (apt-get install gcc); the probe tests compile C programs")
    folder = tmp_path_factory.mktemp("c-programs")
    built = {}
    for source in sorted(C_SOURCES.glob("*.c")):
        target = folder / source.stem
        done = subprocess.run([gcc, "-O1", "-Wall", "-Wextra", "-Werror", "-o", str(target),
                               str(source)], capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"gcc {source.name}:\n{done.stderr}"
        built[source.stem] = str(target)
    return built


def _probe(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(["probe", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.capture
@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_probe_passes_when_the_c_programs_match(c_programs, tmp_path: Path, capsys,
                                                family: str) -> None:
    pcap = tmp_path / "probe.pcapng"
    code, out, err = _probe(capsys, "--server", f"{c_programs['abort_server']} {{host}} {{port}}",
                            "--client", f"{c_programs['echo_client']} {{host}} {{port}}",
                            "--expect", SERVER_ABORT, "--family", family, "--pcap", str(pcap))
    assert (code, err) == (0, ""), out
    host = "127.0.0.1" if family == "ipv4" else "::1"
    assert f"server: {c_programs['abort_server']} {host} 5000  (listening after" in out
    assert f"PASS  probe  {family}  {SERVER_ABORT} (6 packets)  server exited 0, client " \
           "exited 1" in out
    assert "stderr: echo_client: read: Connection reset by peer" in out
    assert "stdout: SO_LINGER {1,0}; close() = 0" in out
    assert "Flags [R.]" in out  # the tcpdump listing
    assert "final states: client CLOSED, server CLOSED" in out
    assert f"pcap: {pcap}" in out
    assert main(["check", str(pcap), "--expect", SERVER_ABORT]) == 0


@pytest.mark.capture
def test_probe_matches_fields_and_names_one_that_fails(c_programs, tmp_path: Path,
                                                       capsys) -> None:
    programs = ["--server", f"{c_programs['abort_server']} {{host}} {{port}}",
                "--client", f"{c_programs['echo_client']} {{host}} {{port}}"]
    fields = ">S[mss>1000 dport=5000] <S. >. >P.[len=6] <.[ack=7] <R.[seq=1 ack=7]"
    code, out, _ = _probe(capsys, *programs, "--expect", fields,
                          "--pcap", str(tmp_path / "fields.pcapng"))
    assert code == 0, out
    code, out, _ = _probe(capsys, *programs, "--expect", fields.replace("len=6", "len=5"),
                          "--pcap", str(tmp_path / "wrong.pcapng"))
    assert code == 1, out
    assert "   - packet 4 >P. has len 6; the pattern wants len=5" in out


@pytest.mark.capture
def test_probe_fails_on_a_wrong_pattern_and_names_the_break(c_programs, tmp_path: Path,
                                                            capsys) -> None:
    code, out, err = _probe(capsys, "--server", f"{c_programs['abort_server']} {{host}} {{port}}",
                            "--client", f"{c_programs['echo_client']} {{host}} {{port}}",
                            "--expect", ">S <S. >. >P. <. <F. >.",
                            "--pcap", str(tmp_path / "wrong.pcapng"))
    assert (code, err) == (1, ""), out
    assert f"FAIL  probe  ipv4  {SERVER_ABORT} (6 packets)" in out
    assert "-> 6  <R." in out  # the listing marks the packet that did not fit
    assert "   - packet 6 <R. does not fit: the pattern expected <F. there" in out
    assert (tmp_path / "wrong.pcapng").exists()


@pytest.mark.capture
@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_probe_on_veth_a_client_that_aborts_before_a_slow_accept(c_programs, tmp_path: Path,
                                                                  capsys, family: str) -> None:
    """Seed 001 with its own kind of programs: the RST comes while the server waits to
    accept; on Linux accept() still returns the connection, and read() says ECONNRESET."""
    code, out, _ = _probe(capsys, "--server",
                          f"{c_programs['slow_accept_server']} {{host}} {{port}} 200",
                          "--client", f"{c_programs['abort_client']} {{host}} {{port}}",
                          "--expect", CLIENT_ABORT, "--family", family, "--topology", "veth",
                          "--pcap", str(tmp_path / "veth.pcapng"))
    assert code == 0, out
    host = "192.0.2.2" if family == "ipv4" else "2001:db8::2"
    assert f"client: {c_programs['abort_client']} {host} 5000" in out
    assert f"PASS  probe  {family} veth  {CLIENT_ABORT} (4 packets)" in out
    assert "stdout: accept() returned a connection" in out
    assert "stdout: read() = -1 Connection reset by peer" in out


@pytest.mark.capture
def test_probe_stops_a_client_that_never_exits_and_keeps_the_capture(c_programs, tmp_path: Path,
                                                                     capsys) -> None:
    pcap = tmp_path / "stuck.pcapng"
    began = time.monotonic()
    # The server never accepts, so the client waits in read() until it is stopped: SIGTERM
    # makes the kernel close its socket (a FIN), then stopping the server closes the listener,
    # which resets the connection still in its accept queue (the server may ACK the FIN first).
    code, out, _ = _probe(capsys, "--server",
                          f"{c_programs['slow_accept_server']} {{host}} {{port}} 60000",
                          "--client", f"{c_programs['echo_client']} {{host}} {{port}}",
                          "--expect", ">S <S. >. >P. <. >F. <.? <R.", "--timeout", "1",
                          "--pcap", str(pcap))
    assert code == 0, out
    assert time.monotonic() - began < 5
    assert "client: still running at the 1 s timeout; stopped with SIGTERM" in out
    assert "server: still running at the 1 s timeout; stopped with SIGTERM" in out
    assert "client killed by SIGTERM (stopped at the timeout)" in out
    assert "stdout: sent 6 bytes" in out
    assert main(["check", str(pcap), "--expect", ">S <S. >. >P. <. >F. <.? <R."]) == 0


@pytest.mark.capture
def test_probe_through_a_shell(c_programs, tmp_path: Path, capsys) -> None:
    server = f"cd / && exec {c_programs['abort_server']} {{host}} {{port}} 2>&1"
    code, out, _ = _probe(capsys, "--shell", "--server", server, "--client",
                          f"printf 'x' | {c_programs['echo_client']} {{host}} {{port}} hey",
                          "--expect", SERVER_ABORT, "--pcap", str(tmp_path / "sh.pcapng"))
    assert code == 0, out
    assert f"server: cd / && exec {c_programs['abort_server']} 127.0.0.1 5000 2>&1" in out
    assert "stdout: read 3 bytes" in out


def test_probe_says_in_one_line_that_a_program_is_missing(tmp_path: Path, capsys) -> None:
    code, out, err = _probe(capsys, "--server", "true", "--client",
                            f"{tmp_path}/no-such-client {{host}} {{port}}", "--expect", ">S",
                            "--pcap", str(tmp_path / "never.pcapng"))
    assert code == 2
    assert out == ""
    assert err == f"harness: --client: no such program: {tmp_path}/no-such-client\n"
    assert not (tmp_path / "never.pcapng").exists()


def test_probe_refuses_a_bad_pattern_before_anything_starts(tmp_path: Path, capsys) -> None:
    marker = tmp_path / "started"
    code, out, err = _probe(capsys, "--shell", "--server", f"touch {marker}", "--client",
                            f"touch {marker}", "--expect", ">S <S. .>", "--pcap",
                            str(tmp_path / "never.pcapng"))
    assert code == 2
    assert out == ""
    assert err.startswith("harness: bad pattern: pattern error at column")
    assert not marker.exists() and not (tmp_path / "never.pcapng").exists()


@pytest.mark.capture
def test_a_c_server_next_to_the_driven_client(lab: Lab, c_programs) -> None:
    server = lab.spawn_server([c_programs["abort_server"], "{host}", "{port}"])
    lab.wait_listening()
    lab.client.connect()
    assert lab.client.send(b"x" * 100).ret == 100
    assert lab.client.recv(100).errno == "ECONNRESET"
    assert server.wait(5) == 0
    assert server.stdout().splitlines() == ["read 100 bytes", "SO_LINGER {1,0}; close() = 0"]
    lab.expect(SERVER_ABORT)


@pytest.mark.capture
@pytest.mark.parametrize("lab", ["ipv6"], indirect=True)
def test_a_slow_c_server_accepts_a_connection_the_driven_client_reset(lab: Lab,
                                                                      c_programs) -> None:
    """Seed 001 step by step: the RST is on the wire before the server calls accept()."""
    server = lab.spawn_server([c_programs["slow_accept_server"], "{host}", "{port}", "60000"],
                              stdin=True)
    lab.wait_listening()
    lab.client.connect()
    lab.client.set_linger(1, 0)
    lab.client.close()
    lab.wait_wire(CLIENT_ABORT)
    server.feed(b"accept now\n")
    assert server.wait(5) == 0
    assert server.stdout().splitlines()[-3:] == [
        "accept() returned a connection", "read() = -1 Connection reset by peer", "read() = 0"]
    lab.expect(CLIENT_ABORT)


@pytest.mark.capture
def test_programs_run_in_the_namespace_and_end_with_the_lab(c_programs) -> None:
    with Lab(topology="veth") as lab:
        server = lab.spawn_server(["sleep", "60"])
        client = lab.spawn_client("sleep 60", shell=True)
        for program, side in ((server, "server"), (client, "client")):
            assert os.stat(f"/proc/{program.pid}/ns/net").st_ino == \
                lab.topology.ns_of(side).inode
        assert server.wait(0.05) is None
        with pytest.raises(NoSuchProgram, match="no such program: /no/such/thing"):
            lab.spawn_client(["/no/such/thing"])
        with pytest.raises(FileNotFoundError):
            lab.spawn_server(["no-such-program-on-path"])
    for program in (server, client):
        with pytest.raises(ProcessLookupError):
            os.kill(program.pid, 0)
        assert program.status_text().startswith("stopped with SIGTERM after")


def _abort_probe(c_programs: dict[str, str], pcap: Path, *options: str) -> list[str]:
    return ["--server", f"{c_programs['abort_server']} {{host}} {{port}}", "--client",
            f"{c_programs['echo_client']} {{host}} {{port}}", "--expect", SERVER_ABORT,
            "--pcap", str(pcap), *options]


@pytest.mark.capture
def test_probe_writes_the_programs_the_pattern_and_the_verdict_into_its_pcap(
        c_programs, tmp_path: Path, capsys) -> None:
    pcap = tmp_path / "told.pcapng"
    code, out, _ = _probe(capsys, *_abort_probe(c_programs, pcap))
    assert code == 0, out
    capture = read_pcapng(pcap)
    server = f"{c_programs['abort_server']} 127.0.0.1 5000"
    client = f"{c_programs['echo_client']} 127.0.0.1 5000"
    assert capture.section.comments[1:] == (
        "probe: your server and client on 127.0.0.1:5000", f"server: {server}",
        f"client: {client}", f"pattern: {SERVER_ABORT}", "verdict: PASS",
        "final states: client CLOSED, server CLOSED")
    said = [c for record in capture.records for c in record.comments]
    for side, command, status in (("server", server, "exited 0 after"),
                                  ("client", client, "exited 1 after")):
        started = [c for c in said if c.startswith(f"{side}: {command} started (pid ")]
        assert len(started) == 1 and started[0].endswith(" before this packet)"), said
        ended = [c for c in said if c.startswith(f"{side}: {command} {status} ")]
        assert len(ended) == 1, said
    assert capture.records[0].comments[-1] == 'pattern: packet 1 of 6 >S matched (">S" at ' \
                                              'column 1)'
    assert capture.records[5].comments[-1] == 'pattern: packet 6 of 6 <R. matched ("<R." at ' \
                                              'column 18)'


@pytest.mark.capture
def test_a_failed_probe_says_so_in_its_pcap(c_programs, tmp_path: Path, capsys) -> None:
    pcap = tmp_path / "failed.pcapng"
    argv = _abort_probe(c_programs, pcap)
    argv[argv.index("--expect") + 1] = ">S <S. >. >P. <. <F. >."
    code, out, _ = _probe(capsys, *argv)
    assert code == 1, out
    capture = read_pcapng(pcap)
    assert capture.section.comments[4:7] == (
        "pattern: >S <S. >. >P. <. <F. >.", "verdict: FAIL",
        "- packet 6 <R. does not fit: the pattern expected <F. there")
    assert capture.records[5].comments[-1].startswith("pattern: BROKE HERE: packet 6 <R.")


@pytest.mark.capture
def test_probe_on_another_port(c_programs, tmp_path: Path, capsys) -> None:
    pcap = tmp_path / "port.pcapng"
    code, out, _ = _probe(capsys, *_abort_probe(c_programs, pcap, "--port", "6000"))
    assert code == 0, out
    assert "your server and client on 127.0.0.1:6000" in out
    assert f"server: {c_programs['abort_server']} 127.0.0.1 6000  (listening after" in out
    assert "> 127.0.0.1.6000: Flags [S]," in out  # the listing
    assert "127.0.0.1.5000" not in out


@pytest.mark.parametrize("port", ["0", "65536", "-1"])
def test_probe_refuses_a_port_out_of_range_in_one_line(port: str, tmp_path: Path,
                                                        capsys) -> None:
    code, out, err = _probe(capsys, "--server", "true", "--client", "true", "--expect", ">S",
                            "--port", port, "--pcap", str(tmp_path / "never.pcapng"))
    assert (code, out) == (2, "")
    assert err == f"harness: --port {port}: give a port from 1 to 65535\n"


def test_probe_refuses_a_port_that_is_no_number(capsys) -> None:
    code, _, err = _probe(capsys, "--server", "true", "--client", "true", "--expect", ">S",
                          "--port", "http")
    assert code == 2
    assert err == ("harness: argument --port: invalid int value: 'http' (see `harness probe "
                   "--help`)\n")


def test_probe_refuses_netem_without_veth(tmp_path: Path, capsys) -> None:
    code, out, err = _probe(capsys, "--server", "true", "--client", "true", "--expect", ">S",
                            "--netem", "delay 20ms", "--pcap", str(tmp_path / "never.pcapng"))
    assert (code, out) == (2, "")
    assert err == ("harness: --netem impairs the link between two namespaces: add --topology "
                   "veth\n")


@pytest.mark.capture
def test_probe_on_an_impaired_veth_link(c_programs, tmp_path: Path, capsys) -> None:
    pcap = tmp_path / "netem.pcapng"
    code, out, _ = _probe(capsys, *_abort_probe(c_programs, pcap, "--topology", "veth",
                                                "--netem", "delay 20ms"))
    assert code == 0, out
    assert "   link: delay 20ms on both side(s)" in out
    assert f"PASS  probe  ipv4 veth  {SERVER_ABORT} (6 packets)" in out
    syn, syn_ack = read_pcapng(pcap).records[:2]
    assert syn_ack.time - syn.time >= 0.04  # 20 ms each way, seen from the client's end
