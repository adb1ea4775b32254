"""The results document as typed values: every key results.json may hold, failures' included,
reads back as it was written; a value of the wrong type is refused in one line naming it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.core.document import Results
from harness.core.entries import ResultsError

RUN: dict[str, Any] = {
    "id": "linger-abort-server", "title": "t", "statement": "s", "source": "socket(7)",
    "family": "ipv6", "topology": "veth", "verdict": "error", "pattern": ">S <S.",
    "observed": [">S"], "pcap": "pcaps/x.pcapng",
    "calls": [{"peer": "client", "sock": "client", "call": "send", "args": {"family": "ipv6"},
               "return": -1, "errno": "EPIPE", "elapsed": 0.0001, "blocked": False,
               "signal": "SIGPIPE", "error": "the peer process has ended", "t": 0.5,
               "text": "client: client.send(<1 bytes>) → -1 EPIPE in 0.1 ms"},
              {"peer": "server", "sock": "conn", "call": "fill", "args": {}, "return": 4096,
               "errno": None, "elapsed": 0.05, "blocked": False, "queued": 4096,
               "unsent": 100, "t": 0.6, "text": "server: conn.fill() → 4096 in 50.0 ms"},
              {"peer": "client", "sock": "client", "call": "drain", "args": {}, "return": 7,
               "errno": None, "elapsed": 0.0, "blocked": False, "ended_by": "ECONNRESET",
               "t": 0.7, "text": "client: client.drain() → 7 bytes, then ECONNRESET in 0.0 ms"}],
    "client_address": "[2001:db8::1]:40000", "server_address": "[2001:db8::2]:5000",
    "origin": 1_700_000_000.25,
    "packets": [{"frame": 1, "t": 0.0, "stream": 0, "dir": ">", "token": ">S", "flags": "S",
                 "seq": 0, "ack": None, "len": 0, "win": 64240, "label": "S seq 0 win 64240",
                 "comments": ["client: client.connect() → 0 in 0.1 ms; sent this"]}],
    "match": {"ok": False, "failed_at": None, "expected": ["<S."],
              "sentence": "the capture ended after 1 packet", "columns": [0]},
    "states": {"client": {"state": "FIN-WAIT-1", "local": "2001:db8::1:40000",
                          "remote": "2001:db8::2:5000", "recv_q": 0, "send_q": 3,
                          "orphan": True},
               "server": {"state": "CLOSED"}},
    "capture": {"frames": 1, "kernel_packets": 1, "kernel_drops": 0},
    "phases": {"namespace": 0.001, "exchange": 0.5},
    "claims": [{"id": "c", "text": "t", "source": "s", "verdict": "undecided",
                "linux": "holds", "evidence": ["nothing was captured"]}],
    "crosscheck": {"by": "TShark 4.0", "frames": 1, "agrees": False,
                   "disagreements": ["frame count: ours 1, tshark 2"]},
    "story": ["== linger-abort-server (ipv6, veth): t"],
    "reason": "the peer process has ended; wire: the capture ended after 1 packet",
    "reasons": ["the peer process has ended", "wire: the capture ended after 1 packet"],
}
SUMMARY = {"runs": 1, "passed": 0, "failed": 0, "errors": 1, "not_passed": [
    {"id": "linger-abort-server", "family": "ipv6", "topology": "veth", "verdict": "error",
     "reason": "the peer process has ended"}]}


def test_every_key_a_run_may_have_reads_back_as_written() -> None:
    document = {"schema": 1, "harness": "0.1.0", "kernel": "6.18.0", "summary": SUMMARY,
                "runs": [RUN]}
    assert Results.from_json(document).to_json() == document


def test_a_results_file_from_before_the_schema_reads_back_with_its_reasons() -> None:
    old = {key: value for key, value in RUN.items() if key != "reasons"}
    back = Results.from_json({"kernel": "6.18.0", "runs": [old]})
    assert back.schema == 1 and back.harness == ""
    assert back.runs[0].reasons == (RUN["reason"],)


@pytest.mark.parametrize(("where", "value", "said"), [
    (("verdict",), 3, "run 1 (linger-abort-server): verdict must be str, not '3'"),
    (("calls", 0, "return"), "zero", "calls[0]: return must be int"),
    (("packets", 0, "comments"), [1], "comments must be a list of strings"),
    (("states", "client", "local"), "nowhere", "'nowhere' is not an address:port"),
    (("match",), [], "match: expected an object"),
    (("id",), "", "id is missing"),
])
def test_a_value_of_the_wrong_type_is_named(where: tuple, value: Any, said: str) -> None:
    run = copy.deepcopy(RUN)
    holder = run
    for key in where[:-1]:
        holder = holder[key]
    holder[where[-1]] = value
    with pytest.raises(ResultsError, match=None) as refused:
        Results.from_json({"kernel": "6.18", "runs": [run]}, "results.json")
    assert said in str(refused.value) and "\n" not in str(refused.value)


def test_harness_report_refuses_a_damaged_results_json_in_one_line(tmp_path: Path,
                                                                   capsys) -> None:
    run = copy.deepcopy(RUN)
    run["calls"][0]["elapsed"] = "fast"
    source = tmp_path / "results.json"
    source.write_text(json.dumps({"kernel": "6.18", "runs": [run]}))
    assert main(["report", "--from", str(source)]) == 2
    err = capsys.readouterr().err
    assert err == (f"harness: {source}: run 1 (linger-abort-server): calls[0]: elapsed must "
                   "be int or float, not 'fast'\n")
    assert not (tmp_path / "index.html").exists()
