"""results.json keeps its shape: every key it had before the results became typed values is
there (`on` of set_nonblocking is now `enabled`, as the issue asked), and reading the
document back gives it again, key for key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.core.document import Results

pytestmark = pytest.mark.capture

# Every key path of a results.json of the whole catalog, as the harness wrote it before.
# Between them, these runs write every one of them.
RUNS = ["exit-with-linger", "shutdown-ignores-linger", "write-after-peer-close",
        "linger-graceful-wait", "listener-close-resets-queue", "linger-nonblocking"]
KEYS = (
    ".kernel", ".runs", ".runs[].calls", ".runs[].calls[].args", ".runs[].calls[].args.backlog",
    ".runs[].calls[].args.code", ".runs[].calls[].args.connection",
    ".runs[].calls[].args.enabled", ".runs[].calls[].args.family", ".runs[].calls[].args.host",
    ".runs[].calls[].args.how", ".runs[].calls[].args.into", ".runs[].calls[].args.linger",
    ".runs[].calls[].args.onoff", ".runs[].calls[].args.pattern", ".runs[].calls[].args.port",
    ".runs[].calls[].args.size", ".runs[].calls[].args.state", ".runs[].calls[].args.within",
    ".runs[].calls[].blocked", ".runs[].calls[].call", ".runs[].calls[].elapsed",
    ".runs[].calls[].ended_by", ".runs[].calls[].errno", ".runs[].calls[].peer",
    ".runs[].calls[].queued", ".runs[].calls[].return", ".runs[].calls[].signal",
    ".runs[].calls[].sock", ".runs[].calls[].t", ".runs[].calls[].text",
    ".runs[].calls[].unsent", ".runs[].capture", ".runs[].capture.frames",
    ".runs[].capture.kernel_drops", ".runs[].capture.kernel_packets", ".runs[].claims",
    ".runs[].claims[].evidence", ".runs[].claims[].id", ".runs[].claims[].linux",
    ".runs[].claims[].source", ".runs[].claims[].text", ".runs[].claims[].verdict",
    ".runs[].client_address", ".runs[].crosscheck", ".runs[].crosscheck.agrees",
    ".runs[].crosscheck.by", ".runs[].crosscheck.frames", ".runs[].family", ".runs[].id",
    ".runs[].match", ".runs[].match.columns", ".runs[].match.expected",
    ".runs[].match.failed_at", ".runs[].match.ok", ".runs[].match.sentence", ".runs[].observed",
    ".runs[].origin", ".runs[].packets", ".runs[].packets[].ack", ".runs[].packets[].comments",
    ".runs[].packets[].dir", ".runs[].packets[].flags", ".runs[].packets[].frame",
    ".runs[].packets[].label", ".runs[].packets[].len", ".runs[].packets[].seq",
    ".runs[].packets[].stream", ".runs[].packets[].t", ".runs[].packets[].token",
    ".runs[].packets[].win", ".runs[].pattern", ".runs[].pcap", ".runs[].phases",
    ".runs[].phases.capture start", ".runs[].phases.cross-check", ".runs[].phases.drain",
    ".runs[].phases.exchange", ".runs[].phases.judge", ".runs[].phases.namespace",
    ".runs[].phases.pcapng write", ".runs[].phases.peers start", ".runs[].phases.teardown",
    ".runs[].server_address", ".runs[].source", ".runs[].statement", ".runs[].states",
    ".runs[].states.client", ".runs[].states.client.local", ".runs[].states.client.orphan",
    ".runs[].states.client.recv_q", ".runs[].states.client.remote",
    ".runs[].states.client.send_q", ".runs[].states.client.state", ".runs[].states.server",
    ".runs[].states.server.local", ".runs[].states.server.orphan",
    ".runs[].states.server.recv_q", ".runs[].states.server.remote",
    ".runs[].states.server.send_q", ".runs[].states.server.state", ".runs[].story",
    ".runs[].title", ".runs[].topology", ".runs[].verdict",
)

# Keys added since, each by its issue: nothing above changed (issue 13: the document's schema
# version, the harness that wrote it, and a summary naming every run that did not pass).
ADDED = (".schema", ".harness", ".summary", ".summary.runs", ".summary.passed",
         ".summary.failed", ".summary.errors", ".summary.not_passed",
         # the new calls: setsockopt reports what the kernel read back as `effective`, the
         # word set_rcvbuf and set_sndbuf always used, whose answer is now recorded too
         ".runs[].calls[].effective",
         # issue 15: the kernel's own events (whether recorded; each side's state changes,
         # `by` sock_diag on the hand-over to a time-wait socket; each RST with its reason)
         ".runs[].kernel", ".runs[].kernel.traced", ".runs[].transitions",
         *(f".runs[].transitions.{side}{key}" for side in ("client", "server")
           for key in ("", "[].time", "[].old", "[].new")),
         ".runs[].transitions.server[].by",  # these runs end in TIME-WAIT on the server only
         # listener-close-resets-queue's second connection, and the tracing's phase
         ".runs[].transitions.client[].connection", ".runs[].transitions.server[].connection",
         ".runs[].resets[].connection", ".runs[].phases.kernel events",
         ".runs[].resets", *(f".runs[].resets[].{key}" for key in ("time", "from", "reason",
                                                                   "state")))


def _paths(value: Any, path: str, out: set[str]) -> set[str]:
    """Every key path in a JSON value, `.runs[].calls[].args.size` style."""
    if isinstance(value, dict):
        for key, item in value.items():
            out.add(f"{path}.{key}")
            _paths(item, f"{path}.{key}", out)
    elif isinstance(value, list):
        for item in value:
            _paths(item, f"{path}[]", out)
    return out


def test_results_json_keeps_every_key_and_reads_back_as_written(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    assert main(["run", *RUNS, "--family", "ipv4", "--pcap-dir", str(tmp_path),
                 "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    found = _paths(written, "", set())
    keys = {*KEYS, *ADDED}
    if not shutil.which("tshark"):
        keys = {k for k in keys if "crosscheck" not in k}
    missing = sorted(keys - found)
    assert not missing, f"results.json lost keys: {missing}"
    assert sorted(found - keys) == [], "results.json grew keys the test does not know"
    assert Results.from_json(written).to_json() == written
