"""Wireshark display filters as assertions, evaluated by Wireshark's own dissector: through
pyshark in pytest (`lab.expect_display_filter`), through the batch's tshark in a scenario's
`display_filters`; a filter that matches, one that must not, one that is not Wireshark's."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.core.display_filter import DisplayFilterError

pytestmark = pytest.mark.capture

CATALOG = Path(__file__).resolve().parent.parent / "harness" / "catalog"
RST_FROM_SERVER = "tcp.flags.reset == 1 && tcp.srcport == 5000"


def _abort(lab) -> None:
    """The server aborts the connection: SO_LINGER {1,0}, then close()."""
    lab.server.listen()
    lab.client.connect()
    conn = lab.server.accept()
    conn.set_linger(1, 0)
    conn.close()
    lab.expect(">S <S. >. <R.")


def test_a_filter_that_matches_and_one_that_must_not(lab) -> None:
    _abort(lab)
    found = lab.expect_display_filter(RST_FROM_SERVER, count=1)
    assert found.frames == (4,)
    assert lab.expect_display_filter("tcp.flags.fin == 1", count=0).frames == ()
    assert lab.expect_display_filter("tcp", count=">=4").ok
    assert [o.filter.text for o in lab.filter_outcomes] == [RST_FROM_SERVER,
                                                            "tcp.flags.fin == 1", "tcp"]


def test_a_filter_that_does_not_hold_fails_with_the_frames_it_matched(lab) -> None:
    _abort(lab)
    with pytest.raises(AssertionError) as failed:
        lab.expect_display_filter(RST_FROM_SERVER, count=0)
    said = str(failed.value)
    assert said.startswith(f"display filter {RST_FROM_SERVER!r}: 1 frame (4); wanted 0")
    assert "->    4" in said and "Flags [R.]" in said


def test_a_filter_wireshark_cannot_compile_is_one_line_in_wiresharks_words(lab) -> None:
    _abort(lab)
    with pytest.raises(DisplayFilterError, match=r"tcp\.flags\.rst"):
        lab.expect_display_filter("tcp.flags.rst == 1")
    with pytest.raises(DisplayFilterError, match="count 'more'"):
        lab.expect_display_filter("tcp", count="more")


def _scenario(tmp_path: Path, filters: str) -> str:
    text = (CATALOG / "linger-abort-server.toml").read_text()
    text = text.replace('id = "linger-abort-server"', 'id = "filtered"', 1)
    start = text.index("display_filters = [")
    end = text.index("]\n", start) + 2
    path = tmp_path / "filtered.toml"
    path.write_text(text[:start] + filters + text[end:])
    return str(path)


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["run", *argv])
    return code, out.getvalue()


def test_a_scenarios_filters_are_judged_reported_and_recorded(tmp_path: Path) -> None:
    wrong = _scenario(tmp_path, f'display_filters = [{{ filter = "{RST_FROM_SERVER}", count = 1 '
                                '}, { filter = "tcp.flags.fin == 1", count = ">=1" }]\n')
    code, out = _run(wrong, "--family", "ipv4", "--pcap-dir", str(tmp_path), "--json",
                     str(tmp_path / "results.json"))
    assert code == 1
    assert "[1/1] FAIL  filtered  ipv4" in out
    assert ("   - display filter 'tcp.flags.fin == 1': 0 frames; wanted >=1") in out
    assert f"   ok: display filter {RST_FROM_SERVER!r}: 1 frame (10); wanted 1" in out
    run = json.loads((tmp_path / "results.json").read_text())["runs"][0]
    assert run["display_filters"] == [
        {"filter": RST_FROM_SERVER, "count": "1", "frames": [10], "ok": True},
        {"filter": "tcp.flags.fin == 1", "count": ">=1", "frames": [], "ok": False}]


def test_a_scenarios_filter_wireshark_cannot_compile_is_refused_before_any_run(
        tmp_path: Path, capsys) -> None:
    bad = _scenario(tmp_path, 'display_filters = [{ filter = "tcp.flags.rst == 1" }]\n')
    assert main(["run", bad, "--family", "ipv4", "--pcap-dir", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"harness: {bad}: display filter 'tcp.flags.rst == 1': ")
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "p").exists() or not list((tmp_path / "p").iterdir())
