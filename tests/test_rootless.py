"""The rootless path, proven: capture tests and a `harness run` pass for an unprivileged user.

As root (CI) the commands run as uid 65534 (nobody), through `setpriv`. nobody may not reach
this interpreter or this checkout (pyenv lives under /root, mode 700; a clone may too), so the
child runs in a mount namespace of its own (`unshare --mount`) in which the interpreter's
install, the checkout and the venv's lib/ are bind-mounted read-only into a 0755 tmp dir,
beside a pyvenv.cfg of ours: nothing is copied, no permission changes, and the mounts vanish
with the child. As any other user (a developer, whose pytest is already in the user namespace
it entered) the commands run as that user with every capability dropped, so they must take the
route themselves. Either way HARNESS_REQUIRE_CAPTURE=1: a blocked route fails, never skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.pytest_plugin import REQUIRE_ENV, refuse

pytestmark = pytest.mark.capture

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534
TIMEOUT = 60
TESTS = ["tests/test_lab_capture.py", "-k",
         "test_server_abort_sends_rst or test_socket_options_report_what_the_kernel_did"]
TOOLS = {"setpriv": "util-linux", "unshare": "util-linux", "mount": "mount"}
# Bind-mounts its "SOURCE TARGET" pairs up to "--" read-only, then runs the rest.
BIND_THEN_EXEC = """set -e
while [ "$1" != -- ]; do mount --bind -o ro "$1" "$2"; shift 2; done
shift
exec "$@"
"""


def _can_become_nobody() -> bool:
    """Root of the initial user namespace (not of one the harness entered): uid 65534 exists."""
    if os.geteuid() != 0:
        return False
    for line in Path("/proc/self/uid_map").read_text().splitlines():
        inside, _outside, count = (int(n) for n in line.split())
        if inside <= NOBODY < inside + count:
            return True
    return False


class Child:
    """How to run a command without privileges: as nobody (when root) or capability-less."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.as_nobody = _can_become_nobody()
        self.owner = NOBODY if self.as_nobody else os.geteuid()
        self.out = tmp / "out"  # where the child writes
        self.home = tmp / "home"
        for folder in (self.out, self.home):
            folder.mkdir()
            if self.as_nobody:
                os.chown(folder, NOBODY, NOBODY)
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home),
                    "LANG": "C.UTF-8", "COLUMNS": "200", "PYTHONDONTWRITEBYTECODE": "1",
                    REQUIRE_ENV: "1"}  # and no HARNESS_USERNS: the child decides for itself
        self.binds: list[str] = []
        if self.as_nobody:
            self.python, self.cwd = self._mount_view()
            self.wrap = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                         BIND_THEN_EXEC, "sh", *self.binds, "--",
                         "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                         "--"]
        else:
            self.python, self.cwd = sys.executable, ROOT
            self.wrap = ["setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--"]

    def _bind(self, source: Path, name: str) -> Path:
        target = self.tmp / name
        target.mkdir()
        self.binds += [str(source), str(target)]
        return target

    def _mount_view(self) -> tuple[str, Path]:
        """The interpreter, the checkout and the venv, bind-mounted where nobody can reach."""
        base = Path(sys.base_prefix).resolve()
        python = self._bind(base, "python") / Path(sys._base_executable).resolve().relative_to(
            base)
        libdir = sysconfig.get_config_var("LIBDIR")
        if sysconfig.get_config_var("Py_ENABLE_SHARED") and libdir and not _reachable(libdir):
            # libpython's RUNPATH (pyenv's) is a path nobody cannot follow
            self.env["LD_LIBRARY_PATH"] = str(self.tmp / "python" / Path(libdir).relative_to(base))
        project = self._bind(ROOT, "project")
        self.env["PYTHONPATH"] = str(project)  # before the editable install, which points here
        if sys.prefix == sys.base_prefix:
            return str(python), project
        # the venv again: its lib/ (the packages) beside a pyvenv.cfg whose home is our view
        venv = self.tmp / "venv"
        (venv / "bin").mkdir(parents=True)
        (venv / "bin" / "python").symlink_to(python)
        config = Path(sys.prefix, "pyvenv.cfg").read_text().splitlines()
        (venv / "pyvenv.cfg").write_text("".join(
            f"home = {python.parent}\n" if line.partition("=")[0].strip() == "home"
            else f"{line}\n" for line in config))
        self._bind(Path(sys.prefix, "lib"), "venv/lib")
        return str(venv / "bin" / "python"), project

    def run(self, *argv: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self.wrap, self.python, *argv], cwd=self.cwd,
                              env={**self.env, **env},
                              capture_output=True, text=True, timeout=TIMEOUT)


def _reachable(path: str | Path) -> bool:
    """Whether others (nobody) may walk down to path: every folder on the way is o+x."""
    return all(p.stat().st_mode & 0o001 for p in [Path(path), *Path(path).parents])


def _mounted_under(folder: Path) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as info:
        return [line.split()[4] for line in info if line.split()[4].startswith(str(folder))]


@pytest.fixture
def child() -> Iterator[Child]:
    for tool, package in TOOLS.items():
        if not shutil.which(tool):
            refuse(f"{tool} is not installed; `apt-get install {package}`")
    tmp = Path(tempfile.mkdtemp(prefix="harness-rootless-", dir="/tmp"))
    try:
        tmp.chmod(0o755)  # pytest's tmp_path is 0700: nobody could not enter it
        yield Child(tmp)
    finally:
        left = _mounted_under(tmp)  # the mounts were the child's own; never delete through one
        assert not left, f"still mounted: {left}"
        shutil.rmtree(tmp)


def test_capture_tests_and_a_run_pass_without_privileges(child: Child) -> None:
    tests = child.run("-m", "pytest", "-m", "capture", "-p", "no:cacheprovider", "-q", "-n", "2",
                      "--basetemp", str(child.out / "basetemp"),
                      "--pcap-dir", str(child.out / "test-pcaps"), *TESTS)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout, tests.stdout
    run = child.run("-m", "harness", "run", "default-close", "--family", "ipv4",
                    "--pcap-dir", str(child.out / "pcaps"))
    assert run.returncode == 0, run.stdout + run.stderr
    pcap = child.out / "pcaps" / "default-close-ipv4.pcapng"
    assert pcap.stat().st_size > 0, run.stdout
    assert pcap.stat().st_uid == child.owner  # the user keeps their uid in the namespace
    # A run's own sysctls and an injected segment (a raw socket) need only the namespace's
    # own privileges, which the user namespace gives.
    own = child.run("-m", "harness", "run", "time-wait-assassination", "--family", "ipv4",
                    "--pcap-dir", str(child.out / "pcaps-own"))
    assert own.returncode == 0, own.stdout + own.stderr
    # No tracefs in a user namespace: said once for the command, and the claims the kernel's
    # events decide are undecided, not failures; everything else is checked.
    traced = child.run("-m", "harness", "run", "unread-data-close", "linger-abort-server",
                       "--family", "ipv4", "--pcap-dir", str(child.out / "pcaps-kernel"),
                       "--json", str(child.out / "kernel.json"))
    assert traced.returncode == 0, traced.stdout + traced.stderr
    assert traced.stdout.count("kernel events: not recorded here (") == 1, traced.stdout
    assert "2 passed, 0 failed" in traced.stdout, traced.stdout
    runs = json.loads((child.out / "kernel.json").read_text())["runs"]
    assert [run["kernel"]["traced"] for run in runs] == [False, False]
    verdicts = {c["id"]: c["verdict"] for run in runs for c in run["claims"]}
    assert verdicts["unread-data-close-rst-reason"] == "undecided"  # the kernel's reason
    assert verdicts["unread-data-close-rst"] == "holds"  # the wire decides seed 003's claim
    assert verdicts["linger-abort-server-reason-abort-on-linger"] == "undecided"
    assert verdicts["abort-sends-rst"] == "holds"  # decided by the wire alone
    # What setpriv and some sudo setups leave: HOME is root's, which nobody may not read.
    # tshark would die on its profile there; with a configuration of its own it agrees.
    if child.as_nobody:
        home = child.run("-m", "harness", "run", "default-close", "--family", "ipv4",
                         "--pcap-dir", str(child.out / "pcaps-home"), HOME="/root")
        assert home.returncode == 0, home.stdout + home.stderr
        assert "1 agree with our listing, 0 disagree" in home.stdout, home.stdout
