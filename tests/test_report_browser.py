"""index.html opened in a real headless browser (Debian's chromium): it loads from file://, its
DOM holds one ladder per run, and it draws something worth looking at.

The screenshot is kept as pcaps/tests/report-screenshot.png for a human to look at.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from test_report_html import KERNEL, failing_run, passing_run, render_html, two_stream_run

from harness.lab.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
KEPT = ROOT / "pcaps" / "tests" / "report-screenshot.png"
KEPT_REAL = ROOT / "pcaps" / "tests" / "report-real-runs.png"
TIMEOUT = 60
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed; `make test` installs it as root")


def _alive_with(marker: str) -> list[int]:
    """Live processes (not zombies) whose command line holds marker: the ones we started."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def _end(proc: subprocess.Popen, profile: Path) -> None:
    """End what is left of one chromium run: its process group, then any process (crashpad
    detaches into its own session) still naming its throwaway profile."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in _alive_with(str(profile)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def chromium(tmp_path: Path, *args: str) -> str:
    """Run headless chromium with a throwaway profile; its stdout. stderr (dbus and GPU
    warnings) only matters when it fails."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
               f"--user-data-dir={profile}", *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        _end(proc, profile)
        proc.communicate()
        pytest.fail(f"`{' '.join(command)}` timed out after {TIMEOUT} s")
    finally:
        _end(proc, profile)
    assert proc.returncode == 0, f"`{' '.join(command)}` exited {proc.returncode}:\n{err}"
    wait_until(lambda: not _alive_with(str(profile)), 5.0,
               f"every chromium process of profile {profile.name} to end")
    return out


def _png_colours(data: bytes) -> tuple[int, int, int]:
    """Width, height and how many distinct byte values the image's rows hold (a single-colour
    image has a handful: its colour's and the row filters')."""
    assert data.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", data[16:24])
    chunks, at = [], len(PNG_SIGNATURE)
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        if kind == b"IDAT":
            chunks.append(data[at + 8:at + 8 + length])
        at += 12 + length
    return width, height, len(set(zlib.decompress(b"".join(chunks))))


def test_the_page_loads_in_chromium_with_a_ladder_per_run(tmp_path: Path) -> None:
    # The failing run first, so that the screenshot's first ladder shows the break in red.
    data = {"kernel": KERNEL, "runs": [failing_run(), passing_run(), two_stream_run()]}
    page = tmp_path / "index.html"
    page.write_text(render_html(data), encoding="utf-8")
    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.count('class="ladder"') == len(data["runs"]) == 3
    assert "What closing a TCP connection does on Linux" in dom

    shot = tmp_path / "screenshot.png"
    chromium(tmp_path, "--hide-scrollbars", "--window-size=1400,2400", f"--screenshot={shot}",
             page.as_uri())
    png = shot.read_bytes()
    width, height, values = _png_colours(png)
    assert (width, height) == (1400, 2400)
    assert len(png) > 20_000 and values > 32, "the screenshot is (nearly) a single colour"
    KEPT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, KEPT)
    print(f"screenshot of the report: {KEPT}")


@pytest.mark.capture
def test_the_page_of_real_runs_draws_one_ladder_per_run(tmp_path: Path, monkeypatch) -> None:
    """Real runs, through the same path as `harness verify`: results.json, then the pages."""
    from harness.cli import main

    monkeypatch.chdir(tmp_path)
    ids = ["linger-abort-server", "listener-close-resets-queue"]
    assert main(["run", *ids, "--pcap-dir", "out", "--json", "out/results.json"]) == 0
    assert main(["report", "--from", "out/results.json"]) == 0
    page = tmp_path / "out" / "index.html"
    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.count('class="ladder"') == 4  # two scenarios, two families
    for run in ("linger-abort-server-ipv4", "listener-close-resets-queue-ipv6"):
        assert f'data-run="{run}' in dom
    assert 'href="linger-abort-server-ipv4.pcapng"' in dom
    shot = tmp_path / "real.png"
    chromium(tmp_path, "--hide-scrollbars", "--window-size=1400,2400", f"--screenshot={shot}",
             page.as_uri())
    assert _png_colours(shot.read_bytes())[2] > 32
    KEPT_REAL.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, KEPT_REAL)
