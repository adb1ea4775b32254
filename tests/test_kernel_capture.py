"""The kernel's own events, for real: every RST carries the reason the kernel gave in its
pcapng comment, two runs at once never see each other's events, a test's expectations on
them, the ladder of a simultaneous close, and the report citing the kernel's reason."""

from __future__ import annotations

import multiprocessing
import warnings
from pathlib import Path

import pytest

from harness.core.catalog import find, load_catalog
from harness.core.claims import ClaimError
from harness.core.errors import UserError
from harness.lab.kernel_expect import KernelUndecided
from harness.lab.lab import Lab
from harness.lab.tracing import PORTS, tracing_problem
from harness.orchestration.runner import run_and_judge
from harness.pcap.reader import read_pcapng
from harness.report.document import run_entry
from harness.report.ladder import ladder_from_run, render_text
from harness.report.ladder_svg import render_svg
from harness.report.markdown import render_report

pytestmark = pytest.mark.capture
CATALOG = load_catalog()

# (scenario, topology, who sends the RST, the kernel's reason, the socket's state then):
# what this kernel (6.18) says; each is explained in the scenario's claims or its README row.
REASONS = [
    ("unread-data-close", "loopback", "server", "TCP_ABORT_ON_CLOSE", "CLOSE"),
    ("linger-abort-server", "loopback", "server", "TCP_STATE", "CLOSE"),
    ("linger-abort-client", "veth", "client", "TCP_STATE", "CLOSE"),
    ("write-after-peer-close", "loopback", "server", "TCP_TIMEWAIT_SOCKET", "TIME-WAIT"),
    ("destroy-resets-peer", "loopback", "client", "TCP_STATE", "ESTABLISHED"),
    ("stray-segment-after-last-ack", "loopback", "server", "TCP_FLAGS", "LISTEN"),
    ("close-on-syn-sent", "veth", "client", "NO_SOCKET", "none"),
    ("linger2-negative-resets", "loopback", "client", "TCP_ABORT_ON_DATA", "CLOSE"),
]


@pytest.fixture(autouse=True)
def _traced() -> None:
    problem = tracing_problem()
    if problem is not None:  # the rootless path has its own test (test_rootless)
        pytest.fail(f"these tests need the kernel's events, which cannot be recorded: {problem}")


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
@pytest.mark.parametrize(("scenario", "topology", "side", "reason", "state"), REASONS,
                         ids=[r[0] for r in REASONS])
def test_each_rst_carries_the_kernel_reason_in_its_comment(
        tmp_path: Path, family: str, scenario: str, topology: str, side: str, reason: str,
        state: str) -> None:
    pcap = tmp_path / "run.pcapng"
    result, verdict = run_and_judge(find(CATALOG, [scenario])[0], family, pcap, topology)
    assert verdict.ok, verdict.reasons
    server = result.server
    sent = [r for r, seg in zip(read_pcapng(pcap).records, result.segments, strict=True)
            if seg.flags & 0x04 and ((seg.src, seg.sport) == server) == (side == "server")]
    said = [c for record in sent for c in record.comments if c.startswith("kernel: RST")]
    assert said == [f"kernel: RST sent by tcp_send_reset, reason {reason}, state {state}"]
    assert [(e.side, e.reason) for e in result.kernel.resets()] == [(side, reason)]


def _one_run(port_queue: multiprocessing.Queue, barrier: multiprocessing.Barrier) -> None:
    with Lab() as lab:
        lab.server.listen()
        lab.client.connect()
        lab.server.accept()
        barrier.wait(10)  # both connections are up before either ends
        lab.client.set_linger(1, 0)
        lab.client.close()
        lab.wait_state("server", "CLOSED", within=2.0)
        barrier.wait(10)  # both resets are in both processes' buffers
        record = lab.kernel()  # reads the instance: the events of both runs are in it
        seen = {e.local[1] for e in lab._trace.seen() if e.local and e.local[1] in
                range(PORTS[0], PORTS[1] + 1)}
        port_queue.put((lab.client_address[1], lab._trace.ports, sorted(seen),
                        [(e.side, e.event, e.old, e.new, e.reason, e.local, e.remote)
                         for e in record.events]))


def test_two_runs_at_once_never_see_each_others_events() -> None:
    context = multiprocessing.get_context("fork")
    ports, barrier = context.Queue(), context.Barrier(2)
    procs = [context.Process(target=_one_run, args=(ports, barrier)) for _ in range(2)]
    for proc in procs:
        proc.start()
    found = [ports.get(timeout=30) for _ in procs]
    for proc in procs:
        proc.join(10)
        assert proc.exitcode == 0
    (port_a, slice_a, seen_a, events_a), (port_b, slice_b, seen_b, events_b) = found
    assert slice_a != slice_b and port_a != port_b
    # Each buffer held both runs' events (same addresses, other namespaces) ...
    assert port_a in seen_b and port_b in seen_a
    # ... and each run kept only its own: its client port on every event.
    for port, events in ((port_a, events_a), (port_b, events_b)):
        client = [e for e in events if e[0] == "client"]
        assert all(e[5][1] in (port, 0) for e in client), events
        assert all(e[6][1] == port for e in events if e[0] == "server"), events
        changes = [(side, old, new) for side, kind, old, new, *_ in events
                   if kind == "inet_sock_set_state"]
        assert changes == [("client", "CLOSE", "SYN-SENT"), ("client", "SYN-SENT", "ESTABLISHED"),
                           ("server", "LISTEN", "SYN-RECV"), ("server", "SYN-RECV", "ESTABLISHED"),
                           ("client", "ESTABLISHED", "CLOSE"), ("server", "ESTABLISHED", "CLOSE")]
        assert [e[4] for e in events if e[1] == "tcp_send_reset"] == ["TCP_STATE"]


def test_two_labs_of_one_process_at_once_each_keep_their_own(tmp_path: Path) -> None:
    with Lab(pcap_path=tmp_path / "a.pcapng") as a, Lab(pcap_path=tmp_path / "b.pcapng") as b:
        for lab in (a, b):
            lab.server.listen()
            lab.client.connect()
            lab.server.accept()
        for lab in (b, a):
            lab.client.set_linger(1, 0)
            lab.client.close()
            lab.wait_state("server", "CLOSED", within=2.0)
        ports = [lab.client_address[1] for lab in (a, b)]
        records = [a.kernel(), b.kernel()]
    assert ports[0] != ports[1]
    for port, record in zip(ports, records, strict=True):
        assert [e.reason for e in record.resets()] == ["TCP_STATE"]
        assert {e.local[1] for e in record.events if e.side == "client"} <= {port, 0}
        assert record.entered("client") == ["SYN-SENT", "ESTABLISHED", "CLOSE"]


@pytest.mark.parametrize("lab", ["ipv4", "ipv6"], indirect=True)
def test_a_test_expects_the_kernel_reason_and_the_states(lab: Lab) -> None:
    lab.server.listen()
    lab.client.connect()
    conn = lab.server.accept()
    lab.client.close()
    lab.wait_state("client", "FIN-WAIT-2", within=1.0)  # its FIN acknowledged
    conn.set_linger(1, 0)
    conn.close()
    lab.wait_state("client", "CLOSED", within=1.0)
    assert lab.expect_rst_reason("TCP_STATE", "server")
    assert lab.expect_transitions("server", through=["ESTABLISHED", "CLOSE-WAIT", "CLOSE"])
    assert lab.expect_transitions("client", exactly=["SYN-SENT", "ESTABLISHED", "FIN-WAIT-1",
                                                     "FIN-WAIT-2", "CLOSE"])
    with pytest.raises(AssertionError, match="reason TCP_STATE"):
        lab.expect_rst_reason("TCP_ABORT_ON_CLOSE", "server")
    with pytest.raises(AssertionError, match="did not pass through CLOSE-WAIT -> LAST-ACK"):
        lab.expect_transitions("server", through=["CLOSE-WAIT", "LAST-ACK"])
    with pytest.raises(ClaimError, match="did you mean TCP_ABORT_ON_CLOSE"):
        lab.expect_rst_reason("TCP_ABORT_ON_CLOS", "server")
    mistakes = [
        (dict(side="sever", through=["CLOSE"]), "side 'sever' is no side; did you mean server?"),
        (dict(side="server", through="CLOSE-WAIT"), "through takes a list of TCP states"),
        (dict(side="server", exactly=5), "exactly takes a list of TCP states"),
        (dict(side="server", through=["CLOSE"], connection="clinet"),
         "no connection 'clinet'; did you mean client?"),
        (dict(side="server", through=["CLOSED"]), "the kernel's last change of a closed socket "
                                                  "is to CLOSE")]
    for kwargs, said in mistakes:
        with pytest.raises(UserError) as caught:
            lab.expect_transitions(**kwargs)
        assert said in str(caught.value) and "\n" not in str(caught.value)


def test_an_untraced_lab_leaves_the_expectation_undecided(lab: Lab,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.core.kernel_events import KernelRecord

    monkeypatch.setattr(lab, "kernel", lambda: KernelRecord(missing="no tracefs here"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert lab.expect_rst_reason("TCP_STATE") is None
    assert [str(w.message) for w in caught if w.category is KernelUndecided] == [
        "expect_rst_reason: the kernel's events were not recorded (no tracefs here): undecided"]


def test_the_ladder_of_a_simultaneous_close_shows_both_sides_closing(tmp_path: Path) -> None:
    scenario = find(CATALOG, ["simultaneous-close"])[0]
    result, verdict = run_and_judge(scenario, "ipv4", tmp_path / "run.pcapng", "veth")
    assert verdict.ok, verdict.reasons
    entry = run_entry(scenario, result, verdict, tmp_path)
    ladder = ladder_from_run(entry)
    closing = {m.side for m in ladder.states if m.state == "CLOSING" and m.time is not None}
    assert closing == {"client", "server"}
    text = render_text(ladder)
    rows = [line for line in text.splitlines() if "[CLOSING]" in line]
    assert len(rows) == 2
    assert rows[0].index("[CLOSING]") != rows[1].index("[CLOSING]")  # one on each lifeline
    assert render_svg(ladder, uid="t").count(">CLOSING<") == 2


def test_the_pcap_tells_the_state_changes_and_show_draws_them(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture
                                                              ) -> None:
    from harness.cli import main

    scenario = find(CATALOG, ["simultaneous-close"])[0]
    pcap = tmp_path / "run.pcapng"
    _, verdict = run_and_judge(scenario, "ipv6", pcap, "veth")
    assert verdict.ok, verdict.reasons
    told = [c for r in read_pcapng(pcap).records for c in r.comments if " -> " in c]
    for side in ("client", "server"):
        assert any(c.startswith(f"kernel: {side} FIN-WAIT-1 -> CLOSING (") for c in told), told
        assert any(c.startswith(f"kernel: {side} CLOSING -> TIME-WAIT (") for c in told), told
    assert main(["show", str(pcap), "--ladder"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "[CLOSING]" in line]
    assert len(rows) == 2 and rows[0].index("[CLOSING]") != rows[1].index("[CLOSING]")


def test_the_report_cites_the_kernel_reason_for_seed_003(tmp_path: Path) -> None:
    scenario = find(CATALOG, ["unread-data-close"])[0]
    result, verdict = run_and_judge(scenario, "ipv4", tmp_path / "run.pcapng")
    report = render_report([run_entry(scenario, result, verdict, tmp_path)], "test")
    claim = report.split("unread-data-close-rst-reason", 1)[1].split(
        "default-close-always-graceful")[0]
    assert "seed 003" in claim or "a Q&A thread on a close(2) that sent an RST" in claim
    assert "the kernel's RST from the server: reason TCP_ABORT_ON_CLOSE (state CLOSE)" in claim
