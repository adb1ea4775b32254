"""Nothing of a run outlives it, however it ends: finished, interrupted with Ctrl-C in the
middle of a scenario, with a worker SIGKILLed, or with the harness itself SIGKILLed.

Every process the harness starts (workers, peers, the link's process) inherits a tag in its
environment, so the test finds them all, whoever their parent is by then. The namespaces are
the ones those processes were in. What remains after the harness is gone is checked: no
tagged process, none of those namespaces held by any process or descriptor, and the root
namespace's interfaces, named namespaces and mounts as they were, and no tracefs instance of
any of the run's processes (the harness names each after its process:
tcp-close-harness-PID) is left.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from interrupt import ctrl_c_reaches_children
from procfs import namespaces_in_use

from harness.lab.waiting import wait_until

pytestmark = pytest.mark.capture

ROOT = Path(__file__).resolve().parent.parent
HUNG = str(ROOT / "tests" / "scenarios" / "hung-recv.toml")


def _root_state() -> dict[str, object]:
    """The root namespace's interfaces, named namespaces and our mount table."""
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True,
                           check=True).stdout
    named = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                           check=True).stdout
    return {"interfaces": sorted(line.split(":")[1].strip() for line in links.splitlines()),
            "named namespaces": named.split(),
            "mounts": sorted(Path("/proc/self/mountinfo").read_text().splitlines())}


class Run:
    """`harness ARGS` in a child process, every process it starts tagged."""

    def __init__(self, *args: str) -> None:
        self.tag = f"HARNESS_LEAK_TAG={uuid.uuid4().hex}".encode()
        env = {**os.environ, "HARNESS_LEAK_TAG": self.tag.split(b"=")[1].decode()}
        with ctrl_c_reaches_children():
            self.proc = subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=ROOT,
                                         env=env, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
        self.lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.out: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.namespaces: set[int] = set()
        self.pids: set[int] = set()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def saw(self, text: str) -> bool:
        """True once a line of stdout holds text."""
        while not self.lines.empty():
            self.out.append(self.lines.get())
        return any(text in line for line in self.out)

    def tagged(self) -> set[int]:
        """Live processes carrying this run's tag (the harness's own included)."""
        found = set()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if self.tag in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state != "Z":
                        found.add(int(pid))
            except OSError:
                continue
        return found

    def note_namespaces(self) -> None:
        """Remember the namespaces the tagged processes are in now (and the processes)."""
        self.pids.update(self.tagged())
        for pid in self.tagged():
            try:
                self.namespaces.add(os.stat(f"/proc/{pid}/ns/net").st_ino)
            except OSError:
                continue
        self.namespaces.discard(os.stat("/proc/self/ns/net").st_ino)

    def established(self) -> bool:
        """True when some tagged process's namespace has an ESTABLISHED TCP connection."""
        for pid in self.tagged() - {self.proc.pid}:
            try:
                rows = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
            except OSError:
                continue
            if any(row.split()[3] == "01" for row in rows):
                return True
        return False

    def children(self) -> list[int]:
        """The harness's direct children."""
        kids: list[int] = []
        for task in os.listdir(f"/proc/{self.proc.pid}/task"):
            text = Path(f"/proc/{self.proc.pid}/task/{task}/children").read_text()
            kids += [int(pid) for pid in text.split()]
        return kids

    def assert_nothing_left(self, before: dict[str, object]) -> None:
        wait_until(lambda: not self.tagged(), 10.0, "every process of the run to be gone")
        assert self.namespaces, "the test never saw the run's namespaces"
        wait_until(lambda: not self.namespaces & namespaces_in_use(), 10.0,
                   "the run's namespaces to be released")
        assert _root_state() == before
        assert self.pids, "the test never saw the run's processes"
        mine = {f"tcp-close-harness-{pid}" for pid in self.pids}
        wait_until(lambda: not mine & tracefs_instances(), 10.0,
                   "the run's tracefs instances to be removed")


def tracefs_instances() -> set[str]:
    """The names of the tracefs instances there are now, seen through a mount of tracefs in
    a mount namespace of its own (the machine's mounts stay as they are)."""
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           "mount -t tracefs nodev /sys/kernel/tracing && "
                           "ls /sys/kernel/tracing/instances"],
                          capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def _has_children(pid: int) -> bool:
    """Whether a worker has children of its own besides its tracefs keeper (its peers)."""
    try:
        kids = [kid for t in os.listdir(f"/proc/{pid}/task")
                for kid in Path(f"/proc/{pid}/task/{t}/children").read_text().split()]
        return any(b"child_trace_keeper" not in Path(f"/proc/{kid}/cmdline").read_bytes()
                   for kid in kids)
    except OSError:
        return False


def test_a_finished_run_of_both_topologies_leaves_nothing(tmp_path: Path) -> None:
    before = _root_state()
    run = Run("run", "default-close", "linger-abort-server", "rst-lost", "--family", "ipv4",
              "--topology", "both", "--jobs", "2", "--pcap-dir", str(tmp_path))
    wait_until(lambda: run.note_namespaces() or run.saw("rst-lost"), 30.0,
               "the rst-lost run to be reported")
    assert run.proc.wait(timeout=60) == 0, run.out
    run.assert_nothing_left(before)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_in_the_middle_of_a_scenario_leaves_nothing(tmp_path: Path, jobs: str) -> None:
    before = _root_state()
    run = Run("run", HUNG, "--jobs", jobs, "--family", "ipv4", "--pcap-dir", str(tmp_path))
    wait_until(run.established, 10.0, "the hung scenario's connection to be established")
    run.note_namespaces()
    run.proc.send_signal(signal.SIGINT)
    assert run.proc.wait(timeout=10) == 130
    stderr = run.proc.stderr.read() if run.proc.stderr else ""
    assert stderr.strip() == ("harness: interrupted; namespaces and peers are gone with the "
                              "run"), stderr
    run.assert_nothing_left(before)


def test_a_sigkilled_worker_costs_its_run_only_and_leaves_nothing(tmp_path: Path) -> None:
    before = _root_state()
    run = Run("run", "default-close", "linger-abort-server", HUNG, "--jobs", "2",
              "--family", "ipv4", "--pcap-dir", str(tmp_path))
    wait_until(lambda: run.saw("PASS  linger-abort-server"), 30.0,
               "the two runs before the hung one to pass")
    wait_until(run.established, 10.0, "the hung scenario's connection to be established")
    run.note_namespaces()
    busy = [pid for pid in run.children() if _has_children(pid)]
    assert len(busy) == 1, f"expected one worker with peers, found {busy}"
    assert f"tcp-close-harness-{busy[0]}" in tracefs_instances()  # it traces its run
    os.kill(busy[0], signal.SIGKILL)
    assert run.proc.wait(timeout=30) == 1
    run.saw("")
    said = "".join(run.out)
    assert f"the worker process running it (pid {busy[0]}) died (killed by SIGKILL)" in said
    assert "2 passed, 0 failed, 1 error" in said
    run.assert_nothing_left(before)


def test_a_sigkilled_harness_takes_its_workers_and_peers_along(tmp_path: Path) -> None:
    before = _root_state()
    run = Run("run", HUNG, "default-close", "--jobs", "2", "--family", "ipv4",
              "--pcap-dir", str(tmp_path))
    wait_until(run.established, 10.0, "the hung scenario's connection to be established")
    run.note_namespaces()
    run.proc.kill()
    run.proc.wait(timeout=10)
    run.assert_nothing_left(before)
