"""tcpdump, capturing the same run independently with `-i any`, sees what the harness saw."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
from pathlib import Path

import pytest

from harness.cli import main
from harness.lab.lab import Lab
from harness.lab.privileges import missing_tool
from harness.lab.waiting import wait_until
from harness.pcap.segments import read_capture
from harness.pytest_plugin import refuse

pytestmark = pytest.mark.capture
ABORT = ">S <S. >. (>P. <.){3} <R."


def _start_tcpdump(pid: int, out: Path) -> subprocess.Popen:
    """tcpdump -i any in the namespace of process pid, once it says it is listening."""
    proc = subprocess.Popen(
        ["nsenter", f"--net=/proc/{pid}/ns/net", "tcpdump", "-i", "any", "-n", "-U",
         "--immediate-mode", "-w", str(out), "tcp"],
        stderr=subprocess.PIPE)
    assert proc.stderr is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stderr, selectors.EVENT_READ)
    said = ""
    while "listening on any" not in said:  # it says "data link type LINUX_SLL2" first
        if not sel.select(10.0):
            proc.kill()
            pytest.fail(f"tcpdump did not say it was listening within 10 s; it said {said!r}")
        chunk = os.read(proc.stderr.fileno(), 4096)  # unbuffered: select must see the rest
        if not chunk:
            pytest.fail(f"tcpdump exited before it was listening: {said!r}")
        said += chunk.decode(errors="replace")
    return proc


def test_tcpdump_any_sees_the_same_packets_and_check_accepts_its_sll2_file(
        lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for tool in ("tcpdump", "nsenter"):
        if missing_tool(tool):
            refuse(missing_tool(tool) or "")
    out = tmp_path / "any.pcap"
    tcpdump = _start_tcpdump(lab.server.process.pid, out)
    try:
        lab.server.listen()
        lab.client.connect()
        conn = lab.server.accept()
        for _ in range(3):
            lab.client.send(100)
            lab.client.wait_acked()
            conn.recv(100)
        conn.set_linger(1, 0)
        conn.close()
        lab.expect(ABORT)
        ours = lab.segments()
        wait_until(lambda: out.exists() and len(read_capture(out)) >= len(ours), 5.0,
                   f"tcpdump's file to hold the {len(ours)} packets the harness saw")
    finally:
        tcpdump.send_signal(signal.SIGINT)
        tcpdump.wait(10)
    theirs = read_capture(out)
    strip = [(s.src, s.sport, s.dst, s.dport, s.flags, s.seq, s.ack, s.length) for s in ours]
    assert [(s.src, s.sport, s.dst, s.dport, s.flags, s.seq, s.ack, s.length)
            for s in theirs] == strip
    assert out.read_bytes()[20:24] == (276).to_bytes(4, "little")  # LINKTYPE_LINUX_SLL2
    assert main(["check", str(out), "--expect", ABORT]) == 0
    assert main(["check", str(out), "--expect", ">S <S. >. <R."]) == 1
    assert "packet 4 >P. does not fit" in capsys.readouterr().out
