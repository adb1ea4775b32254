"""Nothing outlives a run: peers and namespace are gone after success, Ctrl-C and SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from interrupt import ctrl_c_reaches_children
from procfs import namespaces_in_use

from harness.lab.lab import Lab
from harness.lab.waiting import wait_until

pytestmark = pytest.mark.capture

# A child that builds a Lab, reports its peers and namespace, then blocks in accept().
CHILD = """
import json
from harness.lab.lab import Lab
with Lab() as lab:
    lab.server.listen()
    print(json.dumps({"pids": [lab.server.process.pid, lab.client.process.pid],
                      "ns": lab.namespace_inode}), flush=True)
    lab.server.accept(deadline=60)
"""


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state == "Z"


def test_a_closed_lab_leaves_no_process_and_no_namespace() -> None:
    with Lab() as lab:
        pids = [lab.server.process.pid, lab.client.process.pid]
        inode = lab.namespace_inode
        assert inode in namespaces_in_use()
    assert all(_gone(pid) for pid in pids)
    assert inode not in namespaces_in_use()


def _start_child() -> tuple[subprocess.Popen, dict]:
    with ctrl_c_reaches_children():
        proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE,
                                text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, "the child exited before it reported its lab"
    return proc, json.loads(line)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "sigkill"])
def test_an_interrupted_run_leaves_nothing(sig: signal.Signals) -> None:
    proc, made = _start_child()
    assert made["ns"] in namespaces_in_use()
    proc.send_signal(sig)
    proc.wait(timeout=10)
    wait_until(lambda: all(_gone(pid) for pid in made["pids"]), 5.0,
               "the peer processes to be gone")
    wait_until(lambda: made["ns"] not in namespaces_in_use(), 5.0,
               "the namespace to be gone")


def test_an_orphan_left_lingering_is_reset_when_the_lab_kills_the_reader() -> None:
    """The linger scenarios leave the server's connection orphaned in FIN-WAIT-1 behind a
    shut window. Killing the client at teardown closes it with unread data, so its kernel
    resets the orphan: nothing is left to keep the namespace alive."""
    with Lab() as lab:
        lab.client.socket()
        lab.client.set_rcvbuf(4096)
        lab.server.listen()
        lab.client.connect()
        conn = lab.server.accept()
        assert conn.fill().ret > 0
        assert conn.close().ret == 0
        assert lab.state("server") == "FIN-WAIT-1"
        lab.client.process.kill()  # what Lab.close() does to every peer
        wait_until(lambda: lab.socket_state("server") is None, 5.0,
                   "the orphaned server connection to be gone")
        lab.expect(">S <S. >. (<P. | <. | >.)+ >R.")  # the client's kernel reset it


def test_a_forked_peer_holds_none_of_our_descriptors() -> None:
    """A peer forked from the harness keeps stdin, stdout, stderr and its own sockets: not
    our capture socket, not another namespace, not the other peer's pipes."""
    with Lab() as lab:
        lab.server.listen()
        pid = lab.server.process.pid
        held = {fd: os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        assert set(held) - {"0", "1", "2"} == {"3"}, held  # 3: the listening socket
        assert held["3"].startswith("socket:[")
        assert held["0"].startswith("pipe:[") and held["1"].startswith("pipe:[")


def test_peers_executed_afresh_work_as_forked_ones(monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_PEER_START", "exec")
    with Lab() as lab:
        cmdline = Path(f"/proc/{lab.server.process.pid}/cmdline").read_bytes()
        assert b"harness.lab.child_peer_agent" in cmdline
        lab.server.listen()
        assert lab.client.connect().ret == 0
        lab.server.accept().close()
        lab.expect(">S <S. >. <F. >.")
