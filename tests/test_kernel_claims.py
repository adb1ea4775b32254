"""What the kernel's events decide: which captured RST which tcp_send_reset event sent (and
which RSTs none explains), the rst_reason and transitions observations (parsed as a claim's,
observed, decided), and a run's kernel events in results.json, read back as written."""

from __future__ import annotations

from typing import Any

import pytest

from harness.core.claims import (
    DOES_NOT_HOLD,
    HOLDS,
    UNDECIDED,
    ClaimError,
    kernel_observation,
    parse_claims,
)
from harness.core.decide import decide
from harness.core.entries import ResultsError
from harness.core.kernel_claims import observe_kernel, passes_through
from harness.core.kernel_entry import kernel_from_json, kernel_json
from harness.core.kernel_events import TIME_WAIT_HANDOFF, KernelEvent, KernelRecord
from harness.core.kernel_resets import (
    crafted,
    crafted_frames,
    pair_resets,
    reset_comment,
    unexplained_resets,
)
from harness.core.result import Call, RunResult
from harness.core.segment import Segment

S, C, C2 = ("127.0.0.1", 5000), ("127.0.0.1", 20001), ("127.0.0.1", 20002)
RST, ACK = 0x04, 0x10
UNTRACED = KernelRecord(missing="this kernel has no tracefs")


def _seg(index: int, time: float, src: tuple[str, int] = S, dst: tuple[str, int] = C,
         flags: int = RST, seq: int = 0) -> Segment:
    return Segment(time=time, family="ipv4", src=src[0], sport=src[1], dst=dst[0],
                   dport=dst[1], flags=flags, seq=seq, ack=0, win=0, length=0, index=index)


def _rst(time: float, side: str = "server", reason: str = "TCP_STATE", state: str = "CLOSE",
         connection: str = "client", ends: tuple = (S, C)) -> KernelEvent:
    return KernelEvent(time, "tcp_send_reset", local=ends[0], remote=ends[1], state=state,
                       reason=reason, side=side, connection=connection)


def _change(time: float, old: str, new: str, side: str = "client",
            connection: str = "client") -> KernelEvent:
    return KernelEvent(time, "inet_sock_set_state", old=old, new=new, side=side,
                       connection=connection)


# -- which RST which event sent ------------------------------------------------------------

def test_equal_counts_pair_in_order() -> None:
    events = (_rst(1.0), _rst(2.0, reason="TCP_ABORT_ON_CLOSE"))
    paired = pair_resets([_seg(3, 1.0005), _seg(5, 2.0005), _seg(6, 2.1, flags=ACK)],
                         KernelRecord(events))
    assert paired == {3: events[0], 5: events[1]}


def test_rsts_of_another_4_tuple_are_not_an_events() -> None:
    events = (_rst(1.0), _rst(1.5, side="client", ends=(C, S)))
    paired = pair_resets([_seg(3, 1.0005, src=C2), _seg(4, 1.5005, src=C, dst=S)],
                         KernelRecord(events))
    assert paired == {4: events[1]}


@pytest.mark.parametrize(("captured", "event"), [(2.0005, 1), (1.0005, 0), (1.999, 1),
                                                 (1.997, 0)])
def test_a_captured_rst_takes_the_latest_event_not_after_it(captured: float,
                                                             event: int) -> None:
    events = (_rst(1.0), _rst(2.0))
    assert pair_resets([_seg(7, captured)], KernelRecord(events)) == {7: events[event]}


def test_a_captured_rst_before_every_event_is_nobodys() -> None:
    assert pair_resets([_seg(7, 0.5)], KernelRecord((_rst(1.0), _rst(2.0)))) == {}


def test_more_rsts_than_events_each_event_sends_one() -> None:
    events = (_rst(1.0),)
    assert pair_resets([_seg(2, 1.0005), _seg(3, 1.0006)], KernelRecord(events)) == {
        2: events[0]}


def test_crafted_frames_are_skipped() -> None:
    events = (_rst(1.0),)
    segments = [_seg(2, 1.0003), _seg(3, 1.0005)]
    assert pair_resets(segments, KernelRecord(events), skip={2}) == {3: events[0]}
    assert pair_resets(segments, KernelRecord(events)) == {2: events[0]}


@pytest.mark.parametrize("record", [None, UNTRACED])
def test_no_pairs_without_events(record: KernelRecord | None) -> None:
    assert pair_resets([_seg(2, 1.0)], record) == {}


def _inject(start: float, seq: int = 77) -> Call:
    return Call(peer="lab", sock="client", call="inject", start=start,
                info={"injected": {"sport": S[1], "dport": C[1], "seq": seq, "flags": RST}})


def test_the_segment_an_inject_call_crafted() -> None:
    segments = [_seg(1, 0.5, seq=77), _seg(2, 1.0, seq=77), _seg(3, 1.1, seq=77)]
    assert crafted(segments, _inject(0.999)) == segments[1]
    assert crafted(segments, _inject(0.999, seq=78)) is None
    assert crafted(segments, Call(peer="client", sock="client", call="close")) is None
    result = RunResult("x", "ipv4", segments=segments, calls=[_inject(0.999), _inject(1.05)])
    assert crafted_frames(result) == {2, 3}


def _run(kernel: KernelRecord | None, segments: list[Segment], calls: tuple = ()) -> RunResult:
    return RunResult("x", "ipv4", segments=segments, calls=calls, kernel=kernel)


def test_an_rst_no_event_explains_is_listed_when_its_connection_was_traced() -> None:
    record = KernelRecord((_rst(1.0),), covered=(C,))
    segments = [_seg(2, 1.0005), _seg(3, 1.5), _seg(4, 1.6, src=C2, dst=S),
                _seg(5, 2.0, seq=77), _seg(6, 2.1, flags=ACK)]
    assert unexplained_resets(_run(record, segments, (_inject(1.999),))) == [
        "kernel: the RST in frame 3 (127.0.0.1.5000 > 127.0.0.1.20001) matches no "
        "tcp_send_reset event of the run"]


@pytest.mark.parametrize("record", [
    None, UNTRACED, KernelRecord(),
    # before 6.10 the tracepoint fires only for an RST of a socket: nothing is asked of it
    KernelRecord(covered=(C,), no_reasons="this kernel's tcp_send_reset has no reason field")])
def test_no_unexplained_rsts_without_events_or_covered_connections(
        record: KernelRecord | None) -> None:
    assert unexplained_resets(_run(record, [_seg(3, 1.5)])) == []


def test_reset_comments() -> None:
    assert reset_comment(_rst(1.0)) == (
        "kernel: RST sent by tcp_send_reset, reason TCP_STATE, state CLOSE")
    assert reset_comment(_rst(1.0, reason="", state="")) == (
        "kernel: RST sent by tcp_send_reset, no reason on this kernel, state none")


# -- observations of the kernel's events ---------------------------------------------------

RECORD = KernelRecord((
    _change(1.0, "CLOSE", "SYN-SENT"), _change(1.1, "SYN-SENT", "ESTABLISHED"),
    _change(1.1, "SYN-RECV", "ESTABLISHED", side="server"),
    _change(2.0, "ESTABLISHED", "FIN-WAIT-1"), _change(2.1, "FIN-WAIT-1", "FIN-WAIT-2"),
    _rst(2.5, reason="TCP_ABORT_ON_CLOSE", state="ESTABLISHED"),
    _change(2.5, "ESTABLISHED", "CLOSE", side="server"),
    _change(2.6, "FIN-WAIT-2", "CLOSE"),
    _change(3.0, "CLOSE", "SYN-SENT", connection="c2")))


def test_an_rst_reason_that_holds_and_one_that_does_not() -> None:
    assert observe_kernel({"rst_reason": "TCP_ABORT_ON_CLOSE", "from": "server"}, RECORD) == (
        True, "the kernel's RST from the server: reason TCP_ABORT_ON_CLOSE (state ESTABLISHED)")
    assert observe_kernel({"rst_reason": "TCP_STATE"}, RECORD) == (
        False, "the kernel's RST from either side: reason TCP_ABORT_ON_CLOSE (state ESTABLISHED)")


def test_one_of_several_rsts_with_the_reason_holds() -> None:
    record = KernelRecord((_rst(1.0, state=""), _rst(2.0, reason="TCP_ABORT_ON_LINGER")))
    assert observe_kernel({"rst_reason": "TCP_ABORT_ON_LINGER", "from": "server"}, record) == (
        True, "the kernel's RSTs from the server: reason TCP_STATE (state none), "
              "TCP_ABORT_ON_LINGER (state CLOSE)")


def test_no_rst_from_the_side_does_not_hold() -> None:
    assert observe_kernel({"rst_reason": "TCP_ABORT_ON_CLOSE", "from": "client"}, RECORD) == (
        False, "the kernel sent no RST from the client")


@pytest.mark.parametrize(("record", "evidence"), [
    (None, "the kernel's events were not recorded (not recorded): undecided"),
    (UNTRACED, "the kernel's events were not recorded (this kernel has no tracefs): undecided"),
    (KernelRecord(RECORD.events, no_reasons="this kernel's tcp_send_reset has no reason"),
     "this kernel's tcp_send_reset has no reason: undecided"),
    (KernelRecord(untraced=(("c2", "its port 80 was bound by the scenario"),)),
     "no RST was traced, and connection c2 was not (its port 80 was bound by the scenario): "
     "undecided")])
def test_an_rst_reason_that_cannot_be_told_is_none(record: KernelRecord | None,
                                                   evidence: str) -> None:
    assert observe_kernel({"rst_reason": "TCP_ABORT_ON_CLOSE", "from": "server"}, record) == (
        None, evidence)


def test_transitions_through_in_order_with_others_between() -> None:
    assert observe_kernel({"transitions": "client", "through": ["SYN-SENT", "FIN-WAIT-2",
                                                                "CLOSE"]}, RECORD) == (
        True, "the client entered SYN-SENT -> ESTABLISHED -> FIN-WAIT-1 -> FIN-WAIT-2 -> CLOSE")
    assert observe_kernel({"transitions": "client", "through": ["FIN-WAIT-2", "FIN-WAIT-1"]},
                          RECORD) == (
        False, "the client entered SYN-SENT -> ESTABLISHED -> FIN-WAIT-1 -> FIN-WAIT-2 -> CLOSE"
               "; it did not pass through FIN-WAIT-2 -> FIN-WAIT-1 in order")


def test_transitions_exactly() -> None:
    # The server's first change leaves SYN-RECV, so it entered SYN-RECV (before Linux 6.15
    # its LISTEN -> SYN-RECV event carries only the listener's ports and is no run's).
    assert observe_kernel({"transitions": "server",
                           "exactly": ["SYN-RECV", "ESTABLISHED", "CLOSE"]}, RECORD) == (
        True, "the server entered SYN-RECV -> ESTABLISHED -> CLOSE")
    assert observe_kernel({"transitions": "server", "exactly": ["ESTABLISHED", "CLOSE"]},
                          RECORD) == (False, "the server entered SYN-RECV -> ESTABLISHED -> "
                                      "CLOSE; exactly ESTABLISHED -> CLOSE was wanted")


def test_syn_recv_is_entered_once_whether_its_event_was_kept_or_not() -> None:
    kept = KernelRecord((_change(1.0, "LISTEN", "SYN-RECV", side="server"),
                         _change(1.1, "SYN-RECV", "ESTABLISHED", side="server")))
    lost = KernelRecord(kept.events[1:])
    assert kept.entered("server") == lost.entered("server") == ["SYN-RECV", "ESTABLISHED"]
    assert KernelRecord((_change(1.0, "ESTABLISHED", "FIN-WAIT-1"),)).entered("client") == [
        "FIN-WAIT-1"]


def test_transitions_of_another_connection_and_of_none() -> None:
    assert observe_kernel({"transitions": "client", "exactly": ["SYN-SENT"],
                           "connection": "c2"}, RECORD) == (
        True, "the client (connection c2) entered SYN-SENT")
    assert observe_kernel({"transitions": "server", "through": ["LISTEN"],
                           "connection": "c2"}, RECORD) == (
        False, "the server (connection c2) entered no state change; it did not pass through "
               "LISTEN in order")


def test_transitions_of_an_untraced_connection_are_none() -> None:
    record = KernelRecord(RECORD.events, untraced=(("c2", "a port of its own"),))
    assert observe_kernel({"transitions": "client", "through": ["SYN-SENT"],
                           "connection": "c2"}, record) == (
        None, "the connection was not traced (a port of its own): undecided")
    assert observe_kernel({"transitions": "client", "through": ["SYN-SENT"]}, record)[0] is True


@pytest.mark.parametrize(("through", "met"), [
    ([], True), (["A"], True), (["A", "C"], True), (["C", "A"], False), (["A", "A"], False),
    (["B", "B"], True), (["D"], False)])
def test_passes_through(through: list[str], met: bool) -> None:
    assert passes_through(["A", "B", "C", "B"], through) is met


# -- the observations in a claim -------------------------------------------------------------

def _claims(*when: dict[str, Any]) -> tuple:
    raw = [{"id": "k", "text": "The kernel says so.", "source": "tcp(7)", "linux": HOLDS,
            "when": list(when)}]
    return parse_claims("x.toml", raw, (("conn", "close"),))


def _refused(observation: dict[str, Any]) -> str:
    with pytest.raises(ClaimError) as info:
        _claims(observation)
    assert str(info.value).startswith("x.toml claim 1 (k) observation 1: ")
    return str(info.value)


def test_kernel_observations_are_read() -> None:
    claim, = _claims({"rst_reason": "TCP_STATE", "from": "server"},
                     {"transitions": "client", "exactly": ["SYN-SENT"], "connection": "c2"})
    assert [(c.kind, dict(c.spec)) for c in claim.when] == [
        ("rst_reason", {"rst_reason": "TCP_STATE", "from": "server"}),
        ("transitions", {"transitions": "client", "exactly": ["SYN-SENT"],
                         "connection": "c2"})]


@pytest.mark.parametrize(("observation", "wrong"), [
    ({"rst_reason": "TCP_ABORT_ON_CLOS"}, "did you mean TCP_ABORT_ON_CLOSE?"),
    ({"rst_reason": "TCP_STATE", "from": "serverx"}, "from names a side: client or server"),
    ({"rst_reason": "TCP_STATE", "side": "server"}, "takes no 'side'"),
    ({"transitions": "client", "through": ["FIN-WAIT1"]},
     "through: 'FIN-WAIT1' is no TCP state; did you mean FIN-WAIT-1?"),
    ({"transitions": "client", "exactly": ["ESTABLISHED", "NOPE"]},
     "exactly: 'NOPE' is no TCP state"),
    ({"transitions": "client", "through": ["CLOSE"], "exactly": ["CLOSE"]},
     "takes through = [...] (states in order, others between) or exactly = [...]"),
    ({"transitions": "client"}, "takes through = [...]"),
    ({"transitions": "client", "through": []}, "through lists no state"),
    ({"transitions": "client", "through": "FIN-WAIT-1"}, "through has the wrong type "
                                                         "('FIN-WAIT-1')"),
    ({"transitions": "peer", "through": ["CLOSE"]}, "transitions names a side"),
    ({"transitions": "client", "through": ["CLOSE"], "connection": 2},
     "connection has the wrong type (2)"),
])
def test_a_bad_kernel_observation_is_refused(observation: dict[str, Any], wrong: str) -> None:
    assert wrong in _refused(observation)


def test_kernel_observation_checks_a_tests_expectation() -> None:
    condition = kernel_observation("expect_rst_reason", {"rst_reason": "TCP_STATE"})
    assert (condition.kind, dict(condition.spec)) == ("rst_reason", {"rst_reason": "TCP_STATE"})
    with pytest.raises(ClaimError, match=r"^expect_transitions: not an observation of the "):
        kernel_observation("expect_transitions", {"state": "client", "is": "CLOSED"})
    with pytest.raises(ClaimError, match="did you mean TCP_STATE"):
        kernel_observation("expect_rst_reason", {"rst_reason": "TCP_STAT"})


@pytest.mark.parametrize(("kernel", "verdict"), [
    (None, UNDECIDED), (UNTRACED, UNDECIDED), (RECORD, HOLDS),
    (KernelRecord(RECORD.events[:5]), DOES_NOT_HOLD)])
def test_a_claim_on_the_kernels_events_is_decided(kernel: KernelRecord | None,
                                                  verdict: str) -> None:
    claim, = _claims({"rst_reason": "TCP_ABORT_ON_CLOSE", "from": "server"},
                     {"transitions": "client", "through": ["FIN-WAIT-1", "CLOSE"]})
    outcome = decide(claim, RunResult("x", "ipv4", kernel=kernel), [])
    assert outcome.verdict == verdict
    assert len(outcome.evidence) == 2


def test_an_observation_not_met_decides_a_claim_another_cannot_tell() -> None:
    """A claim is all its observations: one not met makes it not hold even where another
    needs the kernel's events and they are missing; all met but one untold: undecided."""
    from harness.core.conversation import split_conversations
    from harness.core.segment import Segment

    syn = Segment(time=0.5, family="ipv4", src="127.0.0.1", sport=20001, dst="127.0.0.1",
                  dport=5000, flags=0x02, seq=0, ack=0, win=64, length=0, index=1)
    fin = Segment(time=1.0, family="ipv4", src="127.0.0.1", sport=5000, dst="127.0.0.1",
                  dport=20001, flags=0x11, seq=1, ack=1, win=64, length=0, index=2)
    conversations = split_conversations([syn, fin])
    claim, = _claims({"rst_reason": "TCP_ABORT_ON_CLOSE", "from": "server"},
                     {"flag": "R", "from": "server"})
    assert decide(claim, RunResult("x", "ipv4", kernel=UNTRACED), conversations).verdict \
        == DOES_NOT_HOLD
    claim, = _claims({"rst_reason": "TCP_ABORT_ON_CLOSE", "from": "server"},
                     {"flag": "F", "from": "server"})
    assert decide(claim, RunResult("x", "ipv4", kernel=UNTRACED), conversations).verdict \
        == UNDECIDED


# -- results.json --------------------------------------------------------------------------

# As results.json has them: no socket, no endpoints, no pid; at one time, state changes first.
UNPLACED = (None, None)
HANDED_OVER = KernelRecord((
    _change(0.5, "SYN-SENT", "ESTABLISHED"), _change(0.75, "SYN-RECV", "ESTABLISHED", "server"),
    _change(1.0, "ESTABLISHED", "FIN-WAIT-1"), _change(1.25, "FIN-WAIT-1", "FIN-WAIT-2"),
    KernelEvent(1.5, TIME_WAIT_HANDOFF, old="FIN-WAIT-2", new="TIME-WAIT", side="client",
                connection="client"),
    _change(1.5, "FIN-WAIT-2", "CLOSE"),
    _change(1.625, "CLOSE", "SYN-SENT", connection="c2"),
    _rst(1.75, reason="TCP_ABORT_ON_CLOSE", state="ESTABLISHED", connection="c2",
         ends=UNPLACED),
    _change(2.0, "ESTABLISHED", "CLOSE", "server"),
    _rst(2.0, side="server", reason="", state="", ends=UNPLACED)),
    no_reasons="no reasons on this kernel", untraced=(("c3", "its port was bound"),))


@pytest.mark.parametrize("record", [
    HANDED_OVER, KernelRecord(), UNTRACED, KernelRecord(missing="not recorded"),
    KernelRecord(HANDED_OVER.events[:4])], ids=["handoff", "empty", "untraced", "unrecorded",
                                                "plain"])
def test_kernel_json_reads_back_as_written(record: KernelRecord) -> None:
    written = kernel_json(record, 0.0)
    assert kernel_from_json(written, "run") == record
    assert kernel_from_json(kernel_json(record.shifted(10.0), 10.0), "run") == record


def test_kernel_json_shape() -> None:
    written = kernel_json(HANDED_OVER, 0.25)
    assert written["kernel"] == {"traced": True, "no_reasons": "no reasons on this kernel",
                                 "untraced": [{"connection": "c3", "why": "its port was bound"}]}
    assert written["transitions"]["client"][3:6] == [
        {"time": 1.25, "old": "FIN-WAIT-2", "new": "TIME-WAIT", "by": "sock_diag"},
        {"time": 1.25, "old": "FIN-WAIT-2", "new": "CLOSE"},
        {"time": 1.375, "old": "CLOSE", "new": "SYN-SENT", "connection": "c2"}]
    assert written["transitions"]["server"] == [
        {"time": 0.5, "old": "SYN-RECV", "new": "ESTABLISHED"},
        {"time": 1.75, "old": "ESTABLISHED", "new": "CLOSE"}]
    assert written["resets"] == [
        {"time": 1.5, "from": "server", "reason": "TCP_ABORT_ON_CLOSE", "state": "ESTABLISHED",
         "connection": "c2"},
        {"time": 1.75, "from": "server", "reason": "", "state": ""}]
    assert kernel_json(UNTRACED, 0.0) == {
        "kernel": {"traced": False, "why": "this kernel has no tracefs"}}


def test_an_entry_without_kernel_events_has_none() -> None:
    assert kernel_from_json({"id": "x"}, "run") is None
    assert kernel_from_json({"kernel": {"traced": False}}, "run") == KernelRecord(
        missing="not recorded")


@pytest.mark.parametrize(("raw", "place"), [
    ({"kernel": 1}, "run: kernel: expected an object, not '1'"),
    ({"kernel": {"traced": "yes"}}, "run: kernel: traced must be bool, not 'yes'"),
    ({"kernel": {"traced": False, "why": 3}}, "run: kernel: why must be str, not '3'"),
    ({"kernel": {"traced": True, "no_reasons": []}}, "run: kernel: no_reasons must be str"),
    ({"kernel": {"traced": True, "untraced": [{"why": 1}]}},
     "run: kernel: untraced[0]: why must be str, not '1'"),
    ({"kernel": {"traced": True}, "transitions": []}, "run: transitions: expected an object"),
    ({"kernel": {"traced": True}, "transitions": {"client": "x"}},
     "run: transitions: client must be list, not 'x'"),
    ({"kernel": {"traced": True}, "transitions": {"server": [{"time": "soon"}]}},
     "run: transitions: server[0]: time must be int or float, not 'soon'"),
    ({"kernel": {"traced": True}, "transitions": {"client": [{"time": True}]}},
     "run: transitions: client[0]: time must be int or float, not 'True'"),
    ({"kernel": {"traced": True}, "resets": [{"time": 1.0, "reason": 5}]},
     "run: resets[0]: reason must be str, not '5'"),
    ({"kernel": {"traced": True}, "resets": [{"from": None}]},
     "run: resets[0]: from must be str, not 'None'"),
])
def test_a_kernel_value_of_the_wrong_type_is_named(raw: dict[str, Any], place: str) -> None:
    with pytest.raises(ResultsError) as info:
        kernel_from_json(raw, "run")
    assert str(info.value).startswith(place)
