"""Runs that go wrong end as errors with what they captured, and the other runs go on;
runs in parallel give what runs one after another give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.lab.capture import Capture, CaptureError
from harness.lab.netns import NamespaceError
from harness.pcap.reader import read_pcapng

pytestmark = pytest.mark.capture

FIXTURES = Path(__file__).resolve().parent / "scenarios"
HUNG = str(FIXTURES / "hung-recv.toml")
DEAD = str(FIXTURES / "dead-peer.toml")


def _run(tmp_path: Path, *argv: str) -> tuple[int, dict]:
    out = tmp_path / "results.json"
    code = main(["run", *argv, "--family", "ipv4", "--pcap-dir", str(tmp_path),
                 "--json", str(out)])
    runs = json.loads(out.read_text())["runs"]
    return code, {run["id"]: run for run in runs}


def test_a_hung_peer_is_stopped_at_the_deadline_and_its_capture_kept(tmp_path: Path) -> None:
    code, runs = _run(tmp_path, HUNG, "default-close", "--deadline", "1")
    assert code == 1
    hung = runs["hung-recv"]
    assert hung["verdict"] == "error"
    assert "the run's deadline passed while conn.recv() was still running" in hung["reason"]
    assert runs["default-close"]["verdict"] == "pass"  # the run after it went on
    kept = read_pcapng(tmp_path / "hung-recv-ipv4.pcapng")
    assert len(kept.records) == 3  # the handshake, written with its story
    assert any("verdict: ERROR" in c for c in kept.section.comments)


def test_a_dead_peer_ends_its_run_as_an_error(tmp_path: Path) -> None:
    code, runs = _run(tmp_path, DEAD, "default-close")
    assert code == 1
    dead = runs["dead-peer"]
    assert dead["verdict"] == "error"
    assert ("client: the peer process has ended (killed by SIGKILL), so client.send() cannot "
            "run") in dead["reason"]
    assert [p["token"] for p in dead["packets"]][:3] == [">S", "<S.", ">."]
    assert runs["default-close"]["verdict"] == "pass"


def _fail_once(monkeypatch, target: object, name: str, error: Exception) -> None:
    original, calls = getattr(target, name), []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise error
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, failing)


@pytest.mark.parametrize("target, name, error, said", [
    (Capture, "start", CaptureError("the sniffer did not report started within 5.0 s"),
     "the lab could not be built: the sniffer did not report started within 5.0 s"),
    ("harness.lab.topology.Namespace.__init__", None,
     NamespaceError("unshare(CLONE_NEWNET) failed: Operation not permitted (errno 1)"),
     "the lab could not be built: unshare(CLONE_NEWNET) failed: Operation not permitted"),
], ids=["capture never starts", "namespace cannot be made"])
def test_a_lab_that_cannot_be_built_is_that_runs_error(tmp_path: Path, monkeypatch, target,
                                                       name, error, said) -> None:
    if name is None:
        module, cls, name = target.rsplit(".", 2)
        target = getattr(__import__(module, fromlist=[cls]), cls)
    _fail_once(monkeypatch, target, name, error)
    code, runs = _run(tmp_path, "linger-abort-server", "default-close")
    assert code == 1
    assert runs["linger-abort-server"]["verdict"] == "error"
    assert said in runs["linger-abort-server"]["reason"]
    assert runs["default-close"]["verdict"] == "pass"


def test_a_lab_that_breaks_after_the_steps_is_that_runs_error(tmp_path: Path,
                                                              monkeypatch) -> None:
    from harness.lab.lab import Lab

    _fail_once(monkeypatch, Lab, "finish", CaptureError("the capture socket went away"))
    code, runs = _run(tmp_path, "linger-abort-server", "default-close")
    assert code == 1
    broken = runs["linger-abort-server"]
    assert broken["verdict"] == "error"
    assert "the lab failed: the capture socket went away" in broken["reason"]
    assert [c["call"] for c in broken["calls"]][:2] == ["listen", "connect"]  # kept
    assert runs["default-close"]["verdict"] == "pass"


def test_a_bug_in_judging_one_run_costs_that_run_only(tmp_path: Path, monkeypatch) -> None:
    import harness.orchestration.runner as runner

    _fail_once(monkeypatch, runner, "judge", RuntimeError("a bug"))
    code, runs = _run(tmp_path, "linger-abort-server", "default-close")
    assert code == 1
    assert runs["linger-abort-server"]["verdict"] == "error"
    assert ("the run could not be made: RuntimeError: a bug"
            in runs["linger-abort-server"]["reason"])
    assert runs["default-close"]["verdict"] == "pass"


def _essence(run: dict) -> tuple:
    """What a run found, without its timings, ports and sequence numbers."""
    calls = [(c["peer"], c["sock"], c["call"], c["return"], c["errno"]) for c in run["calls"]]
    return (run["id"], run["family"], run["topology"], run["verdict"], run["observed"],
            run["states"]["client"]["state"], run["states"]["server"]["state"], calls,
            [(c["id"], c["verdict"]) for c in run["claims"]])


def test_runs_in_parallel_find_what_runs_one_after_another_find(tmp_path: Path) -> None:
    ids = ["default-close", "linger-abort-server", "shutdown-write-half-close",
           "unread-data-close", "linger-abort-client"]
    found = {}
    for jobs in ("1", "2"):
        folder = tmp_path / f"jobs{jobs}"
        out = folder / "results.json"
        assert main(["run", *ids, "--pcap-dir", str(folder), "--json", str(out),
                     "--jobs", jobs]) == 0
        found[jobs] = [_essence(run) for run in json.loads(out.read_text())["runs"]]
    assert found["1"] == found["2"]
    assert len(found["2"]) == 10


def test_soak_reports_steady_rounds_and_keeps_the_pcaps_of_runs_that_never_passed(
        tmp_path: Path, capsys) -> None:
    code = main(["soak", HUNG, "default-close", "--rounds", "2", "--family", "ipv4",
                 "--topology", "loopback", "--deadline", "0.5", "--pcap-dir", str(tmp_path),
                 "--jobs", "2"])
    out = capsys.readouterr().out
    assert code == 1
    assert "round 2/2: 1 passed, 0 failed, 1 error" in out
    assert "NEVER PASSED hung-recv ipv4 loopback" in out
    assert "0 changed verdicts, 1 runs that never passed" in out
    document = json.loads((tmp_path / "soak.json").read_text())
    assert document["changed"] == [] and document["never passed"] == ["hung-recv ipv4 loopback"]
    assert sorted(p.name for p in tmp_path.glob("*.pcapng")) == [
        "hung-recv-ipv4-round1.pcapng", "hung-recv-ipv4-round2.pcapng"]


def test_soak_passes_when_every_round_passes(tmp_path: Path, capsys) -> None:
    code = main(["soak", "linger-abort-server", "--rounds", "2", "--topology", "loopback",
                 "--pcap-dir", str(tmp_path)])
    assert code == 0, capsys.readouterr().out
    assert not list(tmp_path.glob("*.pcapng"))  # only runs that did not pass keep theirs
