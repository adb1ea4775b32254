"""A guest's ways out: a tree past its deadline or asked to stop is killed whole, its TMPDIR
removed; a kernel that does not boot or runs past its deadline is an ERROR column with its
console's last lines; a kernel that cannot be named is one line and exit 2. Nothing is left
running on any of them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.lab import contained, guest, kernel_cache
from harness.orchestration import kernels

# A tree of two processes that never ends: the shell and a child it does not wait for.
HANGS = [sys.executable, "-c", "import os, subprocess, sys, time\n"
         "subprocess.Popen(['sleep', '600'])\n"
         "open(sys.argv[1], 'w').write(os.environ['TMPDIR'])\n"
         "time.sleep(600)\n"]
GUESTS = shutil.which("qemu-system-x86_64") is not None and not guest.missing_tools()
# Under HARNESS_REQUIRE_CAPTURE=1 (CI, where `make test` installs QEMU and virtme-ng) a guest
# test fails rather than skips when they are missing.
REQUIRED = os.environ.get("HARNESS_REQUIRE_CAPTURE") == "1"
needs_guests = pytest.mark.skipif(not GUESTS and not REQUIRED,
                                  reason="QEMU or virtme-ng is not installed")


def _ours_left(marker: Path) -> list[int]:
    """Processes whose command line names marker (the trees these tests start)."""
    left = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and str(marker).encode() in Path(
                    f"/proc/{entry}/cmdline").read_bytes():
                left.append(int(entry))
        except OSError:
            pass
    return left


def test_a_tree_past_its_deadline_is_killed_whole_and_its_tmpdir_removed(
        tmp_path: Path) -> None:
    marker = tmp_path / "began"
    outcome = contained.run([*HANGS, str(marker)], tmp_path / "out.log", 3.0, cwd=tmp_path,
                            marker=marker)
    assert outcome.timed_out and outcome.status is None and outcome.marked_after is not None
    assert not Path(marker.read_text()).exists(), "the tree's TMPDIR is still there"
    assert _ours_left(marker) == []


def test_a_tree_asked_to_stop_is_killed_whole(tmp_path: Path) -> None:
    marker, stop = tmp_path / "began", threading.Event()
    threading.Timer(1.0, stop.set).start()
    outcome = contained.run([*HANGS, str(marker)], tmp_path / "out.log", 60.0, cwd=tmp_path,
                            stop=stop)
    assert outcome.interrupted and not outcome.timed_out and outcome.seconds < 30
    assert _ours_left(marker) == []


def test_the_tail_is_the_last_lines_that_say_something(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    log.write_bytes(b"one\r\n\x1b[0;32mtwo\x1b[0m\n\n   \nthree\rTHREE\n")
    assert contained.tail(log, 2) == ("two", "THREE")
    assert contained.tail(log, 5) == ("one", "two", "THREE")  # a CRLF line keeps its text
    assert contained.tail(tmp_path / "none") == ()


@pytest.mark.parametrize(("kernel", "says"), [
    ("/nonexistent/boot/vmlinuz-6.1.0-99-amd64", "no such file; give a vmlinuz beside its"),
    ("latest", "not a kernel version")])
def test_a_kernel_that_is_not_there_is_one_line_and_exit_two(kernel: str, says: str,
                                                            capsys, tmp_path: Path) -> None:
    assert main(["kernels", "--kernel", kernel, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1, err
    assert not list(tmp_path.iterdir()), "something ran before the mistake was said"


@pytest.mark.parametrize("option", [["--memory", "2X"], ["--memory", "2g"], ["--memory", "0"],
                                    ["--cpus", "0"], ["--deadline", "-1"], ["--jobs", "0"]])
def test_a_bad_guest_setting_is_one_line_before_anything_runs(option: list[str], capsys,
                                                              tmp_path: Path) -> None:
    assert main(["kernels", "--kernel", "6.1", "--out", str(tmp_path), *option]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"harness: {option[0]} {option[1]}: ") and err.count("\n") == 1, err
    assert not list(tmp_path.iterdir()), "something ran before the mistake was said"


@pytest.mark.skipif(shutil.which("apt-cache") is None, reason="no apt-cache")
def test_a_package_apt_does_not_know_is_one_line_naming_it(capsys, tmp_path: Path) -> None:
    assert main(["kernels", "--kernel", "linux-image-6.1.0-999-amd64",
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == ("harness: --kernel linux-image-6.1.0-999-amd64: no such package in apt's "
                   "lists; run apt-get update, check the name (apt-cache search linux-image), "
                   "or give a version (6.1) to take its newest\n")


def _bad_kernel(tmp_path: Path) -> kernel_cache.Kernel:
    """A file named as a kernel, beside modules, that is no kernel."""
    (tmp_path / "k/lib/modules/6.9.0-bad").mkdir(parents=True)
    vmlinuz = tmp_path / "k/boot/vmlinuz-6.9.0-bad"
    vmlinuz.parent.mkdir()
    vmlinuz.write_bytes(b"not a kernel\n" * 1000)
    return kernel_cache.resolve(str(vmlinuz))


@needs_guests
def test_a_kernel_that_does_not_boot_is_an_error_column_with_its_console(
        tmp_path: Path) -> None:
    settings = kernels.Settings(deadline=120.0, out=tmp_path / "out")
    column = kernels._guest(_bad_kernel(tmp_path), settings, tmp_path, threading.Event())
    assert column.results is None
    assert column.error.startswith("never began the catalog: the kernel did not boot"), column
    assert column.facts["boots"] == kernels.BOOTS == 2, "a kernel that cannot boot is tried twice"
    assert column.console, "no console lines kept"
    assert _ours_left(tmp_path) == []


def _real_kernel() -> kernel_cache.Kernel:
    """Debian's newest 6.1, from the cache or fetched into it (apt-get download)."""
    return kernel_cache.fetch(kernel_cache.resolve("6.1"), kernel_cache.default_cache())


@needs_guests
def test_a_guest_past_its_deadline_is_killed_and_an_error_column(tmp_path: Path) -> None:
    kernel = _real_kernel()
    settings = kernels.Settings(deadline=4.0, out=tmp_path / "out")
    column = kernels._guest(kernel, settings, tmp_path, threading.Event())
    assert column.error.startswith("still booting at its deadline, so it was killed"), column
    assert _ours_left(tmp_path / "out") == []


def _path_without(tmp_path: Path, command: str) -> str:
    """A PATH of links to every command of this one except `command`."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for part in os.environ["PATH"].split(os.pathsep):
        for entry in Path(part).glob("*") if Path(part).is_dir() else ():
            link = folder / entry.name
            if entry.name != command and not link.exists() and os.access(entry, os.X_OK):
                link.symlink_to(entry.resolve())
    return str(folder)


@needs_guests
def test_no_qemu_is_one_line_naming_the_package_and_an_error_column(
        tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("PATH", _path_without(tmp_path, "qemu-system-x86_64"))
    out = tmp_path / "out"
    status = main(["kernels", "--kernel", "6.1", "--scenario", "default-close",
                   "--out", str(out)])
    said = capsys.readouterr().out.splitlines()
    assert status == 1
    assert said[0] == ("harness kernels: guests need virtme-ng and QEMU: apt-get install "
                       "qemu-system-x86 (or run make kernels as root)"), said
    table = json.loads((out / "kernels.json").read_text())
    host, six_one = table["kernels"]
    assert host["host"] and host["status"] == "ok"
    assert six_one["status"] == "error" and "qemu-system-x86" in six_one["error"]
    assert (out / "index.html").is_file() and (out / "REPORT.md").is_file()
    assert _ours_left(out) == []


def _until(condition, seconds: float, what: str) -> None:
    """Wait for condition() with a deadline; AssertionError naming what never came."""
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, f"{what} did not happen within {seconds:g} s"
        threading.Event().wait(0.1)


def test_a_tree_outlives_no_harness_that_was_killed(tmp_path: Path) -> None:
    marker = tmp_path / "began"
    parent = subprocess.Popen([sys.executable, "-c", (
        "import sys; from pathlib import Path; from harness.lab import contained\n"
        "contained.run(sys.argv[1:], Path(sys.argv[-1] + '.log'), 600.0, cwd=Path('.'))\n"),
        *HANGS, str(marker)])
    _until(marker.exists, 30, "the tree's start")
    assert len(_ours_left(marker)) >= 2
    parent.kill()  # SIGKILL: no finally of the harness runs
    parent.wait()
    _until(lambda: _ours_left(marker) == [], 20, "the end of the tree")
    assert not Path(marker.read_text()).exists(), "the tree's TMPDIR is still there"


@needs_guests
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_no_guest_outlives_a_harness_killed_or_terminated(signum: int,
                                                          tmp_path: Path) -> None:
    _real_kernel()  # fetched beforehand, so the guest starts at once
    out = tmp_path / "out"
    harness = subprocess.Popen([sys.executable, "-m", "harness", "kernels", "--kernel", "6.1",
                                "--no-host", "--scenario", "default-close", "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    qemu = lambda: [pid for pid in _ours_left(out)  # noqa: E731
                    if b"qemu-system" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    _until(lambda: bool(qemu()), 120, "QEMU's start")
    harness.send_signal(signum)
    harness.wait(timeout=60)
    _until(lambda: _ours_left(out) == [], 30, "the end of every process of the guest")
    if signum == signal.SIGTERM:
        assert harness.returncode == 130
        assert b"harness: interrupted" in harness.stderr.read()


def test_a_guest_s_progress_is_each_run_that_did_not_pass_and_every_twentieth(
        tmp_path: Path, capsys) -> None:
    progress = kernels.Progress("6.1.0-57-amd64")
    for index in range(1, 43):
        verdict = "FAIL" if index == 7 else "PASS"
        progress.line(f"[{index:3d}/42] {verdict}  default-close  ipv4  loopback  1.00 s")
    progress.line("[   12.3] virtme-ng-init: starting script")
    assert capsys.readouterr().out.splitlines() == [
        "kernel 6.1.0-57-amd64: [7/42] FAIL default-close ipv4 loopback 1.00 s",
        "kernel 6.1.0-57-amd64: [20/42] PASS default-close ipv4 loopback 1.00 s",
        "kernel 6.1.0-57-amd64: [40/42] PASS default-close ipv4 loopback 1.00 s",
        "kernel 6.1.0-57-amd64: [42/42] PASS default-close ipv4 loopback 1.00 s"]


def test_a_tree_s_output_is_followed_line_by_line(tmp_path: Path) -> None:
    said: list[str] = []
    script = ("import sys\nfor i in range(3): print(f'line {i}', flush=True)\n"
              "sys.stdout.write('no newline')\n")
    outcome = contained.run([sys.executable, "-c", script], tmp_path / "out.log", 30.0,
                            cwd=tmp_path, lines=said.append)
    assert outcome.status == 0
    assert said == ["line 0", "line 1", "line 2", "no newline"]


def test_writers_that_reopen_the_output_as_qemu_does_overwrite_nothing(tmp_path: Path) -> None:
    # QEMU opens its chardev files anew (/proc/self/fd/2, O_TRUNC) beside the other writers.
    script = ("import os\nprint('before', flush=True)\n"
              "fd = os.open('/proc/self/fd/1', os.O_WRONLY | os.O_TRUNC)\n"
              "os.write(fd, b'console 1\\n')\nprint('harness 1', flush=True)\n"
              "os.write(fd, b'console 2\\n')\nprint('harness 2', flush=True)\n")
    said: list[str] = []
    outcome = contained.run([sys.executable, "-c", script], tmp_path / "out.log", 30.0,
                            cwd=tmp_path, lines=said.append)
    assert outcome.status == 0
    expected = ["before", "console 1", "harness 1", "console 2", "harness 2"]
    assert said == expected
    assert (tmp_path / "out.log").read_text().splitlines() == expected
