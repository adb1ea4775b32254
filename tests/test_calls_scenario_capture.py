"""A scenario file of the new calls, run through the runner like any scenario (both families,
loopback and veth): it passes, results.json records what each call reported, and the story
tells which call put which packet on the wire."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main

pytestmark = pytest.mark.capture

TOUR = Path(__file__).resolve().parent / "scenarios" / "calls-tour.toml"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    folder = tmp_path_factory.mktemp("calls-tour")
    out = folder / "results.json"
    code = main(["run", str(TOUR), "--topology", "both", "--pcap-dir", str(folder),
                 "--json", str(out)])
    document = json.loads(out.read_text())
    assert code == 0, [run["reasons"] for run in document["runs"]]
    return document["runs"]


def test_the_tour_passes_on_both_families_and_both_topologies(runs: list[dict]) -> None:
    assert sorted((run["family"], run["topology"]) for run in runs) == [
        ("ipv4", "loopback"), ("ipv4", "veth"), ("ipv6", "loopback"), ("ipv6", "veth")]
    assert {run["verdict"] for run in runs} == {"pass"}


def _calls(run: dict, call: str) -> list[dict]:
    return [entry for entry in run["calls"] if entry["call"] == call]


def test_results_record_what_each_new_call_reported(runs: list[dict]) -> None:
    for run in runs:
        linger2 = _calls(run, "setsockopt")[-1]
        assert (linger2["args"], linger2["effective"]) == (
            {"option": "TCP_LINGER2", "value": 0}, 60)
        assert [c["value"] for c in _calls(run, "getsockopt")] == ["ECONNRESET", 0, "ECONNRESET"]
        assert [c["revents"] for c in _calls(run, "poll")] == [
            ["POLLIN"], ["POLLIN", "POLLOUT", "POLLERR", "POLLHUP", "POLLRDHUP"],
            ["POLLIN", "POLLHUP"]]
        infos = _calls(run, "tcp_info")
        assert [c["state"] for c in infos] == ["ESTABLISHED", "ESTABLISHED", "CLOSE", "CLOSE"]
        assert {"unacked", "retransmits", "probes", "backoff", "lost", "retrans", "snd_mss",
                "rcv_mss"} <= set(infos[0])
        assert _calls(run, "send")[0]["args"] == {"flags": ["MSG_NOSIGNAL"]}
        assert "signal" not in _calls(run, "send")[0]


def test_the_story_names_the_call_that_sent_each_packet(runs: list[dict]) -> None:
    for run in runs:
        packets = run["packets"]
        assert packets[0]["token"] == ">S" and run["client_address"].endswith(":40500")
        reset = packets[-1]
        assert any("client: spare.disconnect() → 0" in c and "sent this" in c
                   for c in reset["comments"]), reset["comments"]
        close = next(c for p in packets for c in p["comments"] if "client.close()" in c)
        assert "no packet of its own" in close  # the spare descriptor keeps the socket open
