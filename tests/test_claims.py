"""Claims: each malformed claim is refused with its place named, and each observation kind is
proven to decide a claim both ways, on synthetic runs (no root, no network, no capture)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from harness.core.claims import (
    DOES_NOT_HOLD,
    HOLDS,
    UNDECIDED,
    Claim,
    ClaimError,
    parse_claims,
)
from harness.core.conversation import split_conversations
from harness.core.decide import ClaimOutcome, decide
from harness.core.notation import str_to_flags
from harness.core.result import Call, FinalState, RunResult
from harness.core.segment import Segment

C, S = ("127.0.0.1", 40000), ("127.0.0.1", 5000)
# The (socket, call) steps of the synthetic scenario; a run's calls follow them in order.
STEPS = (("conn", "close"), ("client", "recv"))
HANDSHAKE = (">S", "<S.", ">.")


def _seg(i: int, token: str, *, port: int = C[1], seq: int = 0, ack: int = 0) -> Segment:
    client = (C[0], port)
    src, dst = (client, S) if token[0] == ">" else (S, client)
    return Segment(time=float(i), family="ipv4", src=src[0], sport=src[1], dst=dst[0],
                   dport=dst[1], flags=str_to_flags(token[1:]), seq=seq, ack=ack, win=100,
                   length=0, index=i + 1)


def _segs(*tokens: str, port: int = C[1]) -> list[Segment]:
    return [_seg(i, t, port=port) for i, t in enumerate(tokens)]


def _raw(**changes: Any) -> dict[str, Any]:
    claim: dict[str, Any] = {"id": "close-is-quick", "text": "close() returns 0 at once.",
                             "source": "socket(7)", "linux": HOLDS,
                             "when": [{"step": "conn.close", "ret": 0}]}
    claim.update(changes)
    return claim


def _without(key: str) -> dict[str, Any]:
    raw = _raw()
    del raw[key]
    return raw


def _error(raw: Any, steps: Sequence[tuple[str, str]] = STEPS) -> str:
    with pytest.raises(ClaimError) as info:
        parse_claims("x.toml", raw, steps)
    return str(info.value)


def _claim(*when: dict[str, Any], linux: str = HOLDS) -> Claim:
    return parse_claims("x.toml", [_raw(when=list(when), linux=linux)], STEPS)[0]


def _call(sock: str, call: str, **kw: Any) -> Call:
    return Call(peer="client" if sock == "client" else "server", sock=sock, call=call, **kw)


def _decide(claim: Claim, *, calls: Sequence[Call] = (), segments: Sequence[Segment] = (),
            states: dict[str, FinalState] | None = None,
            errored: bool = False) -> ClaimOutcome:
    result = RunResult(scenario="synthetic", family="ipv4", segments=list(segments),
                       calls=list(calls), states=states or {})
    return decide(claim, result, split_conversations(segments), errored=errored)


# -- parse_claims: what is refused, and where ---------------------------------------------
def test_no_claims_at_all_is_an_empty_tuple() -> None:
    assert parse_claims("x.toml", None, STEPS) == ()


def test_claims_that_are_not_a_list_are_refused() -> None:
    assert _error({"id": "c"}) == "x.toml: claims must be a list of tables ([[claims]])"


def test_a_claim_that_is_not_a_table_is_refused() -> None:
    assert _error(["close is quick"]).startswith("x.toml claim 1: a claim is a table with id")


def test_an_unknown_claim_key_is_named() -> None:
    message = _error([_raw(), _raw(id="other", lnux=HOLDS)])
    assert message.startswith("x.toml claim 2: unknown key 'lnux' (known: id, text,")


@pytest.mark.parametrize("key", ["id", "text", "source"])
def test_a_missing_id_text_or_source_is_named(key: str) -> None:
    assert _error([_without(key)]) == f"x.toml claim 1: {key} is missing or empty"


@pytest.mark.parametrize("key", ["id", "text", "source"])
def test_a_blank_id_text_or_source_is_refused(key: str) -> None:
    assert _error([_raw(**{key: "  "})]) == f"x.toml claim 1: {key} is missing or empty"


def test_linux_must_be_holds_or_does_not_hold() -> None:
    message = _error([_raw(linux="yes")])
    assert message.startswith('x.toml claim 1 (close-is-quick): linux must be "holds" or '
                              '"does not hold"')


@pytest.mark.parametrize("when", [[], None, {"step": "conn.close"}],
                         ids=["empty", "missing", "not-a-list"])
def test_when_must_be_a_non_empty_list(when: Any) -> None:
    raw = _without("when") if when is None else _raw(when=when)
    assert _error([raw]) == ("x.toml claim 1 (close-is-quick): when must be a non-empty list "
                             "of observations")


@pytest.mark.parametrize(("observation", "wrong"), [
    ({"ret": 0}, "an observation starts with one of step, wire, flag, state, read_by"),
    ("conn.close", "an observation is a table such as"),
    ({"flag": "R", "ret": 0}, "a flag observation takes no 'ret' (it takes: flag, from, seen)"),
    ({"flag": "R", "seen": "yes"}, "seen has the wrong type ('yes')"),
    ({"step": "conn.close", "ret": True}, "ret has the wrong type (True)"),
    ({"state": "server", "min_send_q": 1.5}, "min_send_q has the wrong type (1.5)"),
    ({"wire": ">S", "streams": True}, "streams has the wrong type (True)"),
    ({"flag": "R", "from": "peer"}, 'from = "client" or "server"'),
    ({"flag": ".R"}, 'flag takes tcpdump letters ("R", "F")'),
    ({"state": "peer", "is": "CLOSED"}, "state names a side (client, server)"),
    ({"state": "server", "is": "TIME_WAIT"}, "is names a TCP state (ESTABLISHED,"),
    ({"read_by": "client", "written_by": "conn", "got": "some"},
     "got must be one of fewer, all"),
    ({"step": "conn.close", "returned_after": "fin-sent"},
     "returned_after must be one of fin-acked"),
    ({"step": "close"}, "step 'close' should read socket.call"),
], ids=["no-kind", "not-a-table", "key-of-another-kind", "seen-not-bool", "ret-is-bool",
        "int-is-float", "streams-is-bool", "unknown-from-side", "flags-out-of-order",
        "unknown-state-side", "unknown-tcp-state", "bad-got", "bad-returned-after",
        "malformed-step"])
def test_a_bad_observation_is_refused_with_its_place(observation: Any, wrong: str) -> None:
    message = _error([_raw(when=[{"step": "conn.close"}, observation])])
    assert message.startswith("x.toml claim 1 (close-is-quick) observation 2: ")
    assert wrong in message


def test_a_bad_wire_pattern_carries_the_pattern_error() -> None:
    message = _error([_raw(when=[{"wire": ">S <S. (>."}])])
    assert message.startswith("x.toml claim 1 (close-is-quick) observation 1: wire: "
                              "pattern error at column")


def test_a_step_reference_past_the_last_such_step_is_refused() -> None:
    message = _error([_raw(when=[{"step": "conn.close#3"}])])
    assert message == ("x.toml claim 1 (close-is-quick) observation 1: no step "
                       "'conn.close#3' in this scenario (1 conn.close step(s))")


def test_a_step_reference_to_an_absent_call_is_refused() -> None:
    assert "(0 conn.shutdown step(s))" in _error([_raw(when=[{"step": "conn.shutdown"}])])


def test_a_claim_id_used_twice_is_refused() -> None:
    assert _error([_raw(), _raw()]) == "x.toml: claim id 'close-is-quick' is used twice"


def test_a_numbered_step_reference_resolves_to_that_occurrence() -> None:
    steps = [("client", "connect"), ("conn", "close"), ("client", "recv"), ("conn", "close")]
    raw = [_raw(when=[{"step": "conn.close"}, {"step": "conn.close#2"}])]
    claim = parse_claims("x.toml", raw, steps)[0]
    assert [c.step for c in claim.when] == [1, 3]


def test_a_parsed_claim_keeps_its_fields_with_whitespace_tidied() -> None:
    raw = _raw(id=" c1 ", text="close()\n   returns  0.", source=" socket(7) ")
    claim = parse_claims("x.toml", [raw], STEPS)[0]
    assert (claim.id, claim.text, claim.source, claim.linux) == ("c1", "close() returns 0.",
                                                                 "socket(7)", HOLDS)
    assert claim.when[0].kind == "step" and claim.when[0].spec == {"step": "conn.close",
                                                                   "ret": 0}


# -- decide: step observations ------------------------------------------------------------
# (observation on conn.close, a call that meets it, one that does not, text in the evidence)
STEP_CASES = [
    ({"ret": 0}, {"ret": 0}, {"ret": -1, "errno": "EINTR"}, "= 0"),
    ({"errno": "ECONNRESET"}, {"ret": -1, "errno": "ECONNRESET"}, {"ret": 0}, "ECONNRESET"),
    ({"elapsed": 1.0}, {"ret": 0, "elapsed": 1.05}, {"ret": 0, "elapsed": 1.5}, "(1.050 s)"),
    ({"min_elapsed": 4.0}, {"ret": 0, "elapsed": 4.2}, {"ret": 0, "elapsed": 0.01}, "4.200 s"),
    ({"max_elapsed": 0.1}, {"ret": 0, "elapsed": 0.01}, {"ret": 0, "elapsed": 0.5}, "0.010 s"),
    ({"blocked": True}, {"blocked": True, "elapsed": 2.0}, {"ret": 0},
     "still blocked after 2.000 s"),
    ({"signal": "SIGPIPE"}, {"ret": -1, "errno": "EPIPE", "info": {"signal": "SIGPIPE"}},
     {"ret": -1, "errno": "EPIPE"}, "SIGPIPE raised"),
    ({"signal": "none"}, {"ret": 0}, {"ret": 0, "info": {"signal": "SIGPIPE"}}, "= 0"),
    ({"ended_by": "ECONNRESET"}, {"ret": 10, "info": {"ended_by": "ECONNRESET"}},
     {"ret": 10, "info": {"ended_by": "EOF"}}, "then ECONNRESET"),
]
STEP_IDS = ["ret", "errno", "elapsed", "min_elapsed", "max_elapsed", "blocked", "signal",
            "no-signal", "ended_by"]


@pytest.mark.parametrize(("expect", "good", "_bad", "said"), STEP_CASES, ids=STEP_IDS)
def test_a_step_observation_holds_when_the_call_meets_it(expect: dict[str, Any],
                                                          good: dict[str, Any],
                                                          _bad: dict[str, Any],
                                                          said: str) -> None:
    outcome = _decide(_claim({"step": "conn.close", **expect}),
                      calls=[_call("conn", "close", **good)])
    assert outcome.verdict == HOLDS
    assert outcome.evidence[0].startswith("conn.close()") and said in outcome.evidence[0]


@pytest.mark.parametrize(("expect", "_good", "bad", "_said"), STEP_CASES, ids=STEP_IDS)
def test_a_step_observation_does_not_hold_when_the_call_misses_it(expect: dict[str, Any],
                                                                   _good: dict[str, Any],
                                                                   bad: dict[str, Any],
                                                                   _said: str) -> None:
    call = _call("conn", "close", **bad)
    outcome = _decide(_claim({"step": "conn.close", **expect}), calls=[call])
    assert outcome.verdict == DOES_NOT_HOLD
    assert list(outcome.evidence) == [call.describe()]


def test_a_step_the_run_never_reached_does_not_hold() -> None:
    outcome = _decide(_claim({"step": "client.recv", "ret": 0}),
                      calls=[_call("conn", "close", ret=0)])
    assert outcome.verdict == DOES_NOT_HOLD
    assert list(outcome.evidence) == ["client.recv was never reached"]


def test_the_numbered_step_is_the_call_that_is_judged() -> None:
    claim = _claim({"step": "client.recv", "errno": "ECONNRESET"})
    calls = [_call("conn", "close", ret=0), _call("client", "recv", ret=-1, errno="ECONNRESET")]
    assert _decide(claim, calls=calls).verdict == HOLDS


@pytest.mark.parametrize(("wanted", "got"), [("EWOULDBLOCK", "EAGAIN"),
                                             ("EAGAIN", "EWOULDBLOCK")])
def test_ewouldblock_and_eagain_are_the_same_errno(wanted: str, got: str) -> None:
    outcome = _decide(_claim({"step": "conn.close", "errno": wanted}),
                      calls=[_call("conn", "close", ret=-1, errno=got)])
    assert outcome.verdict == HOLDS


def test_ewouldblock_and_eagain_are_the_same_for_ended_by() -> None:
    outcome = _decide(_claim({"step": "conn.close", "ended_by": "EWOULDBLOCK"}),
                      calls=[_call("conn", "close", ret=5, info={"ended_by": "EAGAIN"})])
    assert outcome.verdict == HOLDS


# -- decide: returned_after = "fin-acked" -------------------------------------------------
def _closing_wire(fin_acked_by: int = 502) -> list[Segment]:
    """Handshake, the server's FIN at t=3 (seq 501), and the client's ACK at t=4."""
    return [_seg(0, ">S", seq=100), _seg(1, "<S.", seq=500, ack=101),
            _seg(2, ">.", seq=101, ack=501), _seg(3, "<F.", seq=501, ack=101),
            _seg(4, ">.", seq=101, ack=fin_acked_by)]


def _fin_acked(elapsed: float, segments: Sequence[Segment]) -> ClaimOutcome:
    claim = _claim({"step": "conn.close", "ret": 0, "returned_after": "fin-acked"})
    call = _call("conn", "close", ret=0, start=2.5, elapsed=elapsed)
    return _decide(claim, calls=[call], segments=segments)


def test_a_close_returning_after_the_ack_of_its_fin_holds() -> None:
    outcome = _fin_acked(1.6, _closing_wire())
    assert outcome.verdict == HOLDS
    assert outcome.evidence[0].endswith("; it returned 100.0 ms after the ACK of its FIN "
                                        "(FIN to ACK: 1000.0 ms)")


def test_a_close_returning_before_the_ack_of_its_fin_does_not_hold() -> None:
    outcome = _fin_acked(0.6, _closing_wire())
    assert outcome.verdict == DOES_NOT_HOLD
    assert "it returned 900.0 ms before the ACK of its FIN" in outcome.evidence[0]


def test_an_ack_short_of_the_fin_does_not_acknowledge_it() -> None:
    outcome = _fin_acked(1.6, _closing_wire(fin_acked_by=501))
    assert outcome.verdict == DOES_NOT_HOLD
    assert outcome.evidence[0].endswith("; the server's FIN was never acknowledged")


def test_returned_after_without_a_fin_does_not_hold() -> None:
    outcome = _fin_acked(1.6, _segs(*HANDSHAKE, "<R."))
    assert outcome.verdict == DOES_NOT_HOLD
    assert outcome.evidence[0].endswith("; the server sent no FIN")


def test_returned_after_without_a_capture_does_not_hold() -> None:
    outcome = _fin_acked(1.6, [])
    assert outcome.verdict == DOES_NOT_HOLD
    assert outcome.evidence[0].endswith("; nothing was captured")


# -- decide: wire observations ------------------------------------------------------------
def test_a_wire_observation_holds_when_the_pattern_matches() -> None:
    outcome = _decide(_claim({"wire": ">S <S. >. <F. >."}),
                      segments=_segs(*HANDSHAKE, "<F.", ">."))
    assert outcome.verdict == HOLDS
    assert list(outcome.evidence) == ["the wire showed >S <S. >. <F. >."]


def test_a_wire_observation_does_not_hold_when_the_pattern_does_not_match() -> None:
    outcome = _decide(_claim({"wire": ">S <S. >. <F. >."}), segments=_segs(*HANDSHAKE, "<R."))
    assert outcome.verdict == DOES_NOT_HOLD
    assert list(outcome.evidence) == ["the wire showed >S <S. >. <R."]


def test_a_wire_observation_compares_the_packets_fields() -> None:
    held = _decide(_claim({"wire": ">S <S. >. <R.[dt=1 seq=0]"}), segments=_segs(*HANDSHAKE, "<R."))
    assert held.verdict == HOLDS
    late = _decide(_claim({"wire": ">S <S. >. <R.[dt=2]"}), segments=_segs(*HANDSHAKE, "<R."))
    assert late.verdict == DOES_NOT_HOLD
    assert list(late.evidence) == ["the wire showed >S <S. >. <R. (packet 4 <R. came 1.000 s "
                                   "after packet 3; the pattern wants dt=2 (1.750 to 2.250 s))"]


def test_a_wire_observation_with_nothing_captured_does_not_hold() -> None:
    outcome = _decide(_claim({"wire": ">S"}))
    assert (outcome.verdict, list(outcome.evidence)) == (DOES_NOT_HOLD, ["nothing was captured"])


def test_a_wire_observation_with_streams_holds_when_each_stream_matches() -> None:
    wire = [*_segs(*HANDSHAKE, "<R."), *_segs(*HANDSHAKE, "<R.", port=40001)]
    outcome = _decide(_claim({"wire": ">S <S. >. <R.", "streams": 2}), segments=wire)
    assert outcome.verdict == HOLDS
    assert list(outcome.evidence) == ["2 connection(s) on the wire: >S <S. >. <R.; >S <S. >. <R."]


def test_a_wire_observation_with_streams_does_not_hold_on_too_few_streams() -> None:
    outcome = _decide(_claim({"wire": ">S <S. >. <R.", "streams": 2}),
                      segments=_segs(*HANDSHAKE, "<R."))
    assert outcome.verdict == DOES_NOT_HOLD
    assert list(outcome.evidence) == ["1 connection(s) on the wire: >S <S. >. <R."]


def test_a_wire_observation_with_streams_does_not_hold_when_one_stream_differs() -> None:
    wire = [*_segs(*HANDSHAKE, "<R."), *_segs(*HANDSHAKE, "<F.", port=40001)]
    outcome = _decide(_claim({"wire": ">S <S. >. <R.", "streams": 2}), segments=wire)
    assert outcome.verdict == DOES_NOT_HOLD


# -- decide: flag observations ------------------------------------------------------------
def test_a_flag_seen_from_the_named_side_holds() -> None:
    outcome = _decide(_claim({"flag": "R", "from": "server"}), segments=_segs(*HANDSHAKE, "<R."))
    assert outcome.verdict == HOLDS
    assert list(outcome.evidence) == ["RST from the server: <R. (packet 4)"]


def test_a_flag_only_from_the_other_side_does_not_hold() -> None:
    outcome = _decide(_claim({"flag": "R", "from": "server"}), segments=_segs(*HANDSHAKE, ">R."))
    assert outcome.verdict == DOES_NOT_HOLD
    assert list(outcome.evidence) == ["no RST from the server among 4 packets"]


def test_a_flag_without_from_counts_either_side() -> None:
    outcome = _decide(_claim({"flag": "R"}), segments=_segs(*HANDSHAKE, ">R."))
    assert outcome.verdict == HOLDS
    assert list(outcome.evidence) == ["RST: >R. (packet 4)"]


def test_a_flag_not_seen_holds_when_it_is_absent() -> None:
    outcome = _decide(_claim({"flag": "R", "seen": False}),
                      segments=_segs(*HANDSHAKE, "<F.", ">."))
    assert outcome.verdict == HOLDS
    assert list(outcome.evidence) == ["no RST among 5 packets"]


def test_a_flag_not_seen_does_not_hold_when_it_is_present() -> None:
    outcome = _decide(_claim({"flag": "R", "seen": False}), segments=_segs(*HANDSHAKE, "<R."))
    assert outcome.verdict == DOES_NOT_HOLD
    assert list(outcome.evidence) == ["RST: <R. (packet 4)"]


def test_a_flag_not_seen_from_a_side_ignores_the_other_side() -> None:
    outcome = _decide(_claim({"flag": "F", "from": "server", "seen": False}),
                      segments=_segs(*HANDSHAKE, ">F.", "<."))
    assert outcome.verdict == HOLDS
    assert list(outcome.evidence) == ["no FIN from the server among 5 packets"]


def test_a_flag_of_several_letters_needs_all_of_them() -> None:
    outcome = _decide(_claim({"flag": "R."}), segments=_segs(*HANDSHAKE, "<R"))
    assert outcome.verdict == DOES_NOT_HOLD
    assert list(outcome.evidence) == ["no RST+ACK among 4 packets"]


# -- decide: state observations -----------------------------------------------------------
def test_a_state_observation_holds_on_the_named_state() -> None:
    outcome = _decide(_claim({"state": "server", "is": "FIN-WAIT-1"}),
                      states={"server": FinalState("FIN-WAIT-1")})
    assert outcome.verdict == HOLDS
    assert list(outcome.evidence) == ["the server ended in FIN-WAIT-1"]


def test_a_state_observation_does_not_hold_on_another_state() -> None:
    outcome = _decide(_claim({"state": "server", "is": "FIN-WAIT-1"}),
                      states={"server": FinalState("TIME-WAIT")})
    assert outcome.verdict == DOES_NOT_HOLD
    assert list(outcome.evidence) == ["the server ended in TIME-WAIT"]


def test_a_side_with_no_socket_left_is_closed() -> None:
    outcome = _decide(_claim({"state": "client", "is": "CLOSED"}),
                      states={"server": FinalState("TIME-WAIT")})
    assert (outcome.verdict, list(outcome.evidence)) == (HOLDS, ["the client ended in CLOSED"])


def test_a_min_send_q_observation_holds_with_enough_queued() -> None:
    outcome = _decide(_claim({"state": "server", "is": "FIN-WAIT-1", "min_send_q": 1}),
                      states={"server": FinalState("FIN-WAIT-1", send_q=4096)})
    assert outcome.verdict == HOLDS
    assert list(outcome.evidence) == ["the server ended in FIN-WAIT-1 with 4,096 bytes in its "
                                "send queue"]


def test_a_min_send_q_observation_does_not_hold_with_too_little_queued() -> None:
    outcome = _decide(_claim({"state": "server", "min_send_q": 8192}),
                      states={"server": FinalState("FIN-WAIT-1", send_q=4096)})
    assert outcome.verdict == DOES_NOT_HOLD
    assert "4,096 bytes" in outcome.evidence[0]


def test_a_min_send_q_observation_does_not_hold_with_an_empty_queue() -> None:
    outcome = _decide(_claim({"state": "server", "min_send_q": 1}),
                      states={"server": FinalState("FIN-WAIT-1", send_q=0)})
    assert (outcome.verdict, list(outcome.evidence)) == (DOES_NOT_HOLD,
                                                   ["the server ended in FIN-WAIT-1"])


# -- decide: read_by observations ---------------------------------------------------------
def _transfer(read: Sequence[int]) -> list[Call]:
    sent = [_call("conn", "send", ret=1000), _call("conn", "fill", ret=3096),
            _call("conn", "send", ret=-1, errno="EPIPE")]
    return sent + [_call("client", "recv" if i % 2 else "drain", ret=n)
                   for i, n in enumerate(read)]


def test_read_by_got_fewer_holds_when_bytes_were_lost() -> None:
    outcome = _decide(_claim({"read_by": "client", "written_by": "conn", "got": "fewer"}),
                      calls=_transfer([1000, 0]))
    assert outcome.verdict == HOLDS
    assert list(outcome.evidence) == ["client read 1,000 of the 4,096 bytes conn wrote"]


def test_read_by_got_fewer_does_not_hold_when_every_byte_arrived() -> None:
    outcome = _decide(_claim({"read_by": "client", "written_by": "conn"}),
                      calls=_transfer([1000, 3096]))
    assert outcome.verdict == DOES_NOT_HOLD
    assert list(outcome.evidence) == ["client read 4,096 of the 4,096 bytes conn wrote"]


def test_read_by_got_all_holds_when_every_byte_arrived() -> None:
    outcome = _decide(_claim({"read_by": "client", "written_by": "conn", "got": "all"}),
                      calls=_transfer([4000, 96]))
    assert outcome.verdict == HOLDS


def test_read_by_got_all_does_not_hold_when_bytes_were_lost() -> None:
    outcome = _decide(_claim({"read_by": "client", "written_by": "conn", "got": "all"}),
                      calls=_transfer([4000]))
    assert outcome.verdict == DOES_NOT_HOLD
    assert list(outcome.evidence) == ["client read 4,000 of the 4,096 bytes conn wrote"]


def test_a_read_by_observation_without_written_by_is_refused() -> None:
    assert "written_by" in _error([_raw(when=[{"read_by": "client"}])])


def test_a_read_by_observation_must_name_sockets_of_the_scenario() -> None:
    assert "name sockets" in _error([_raw(when=[{"read_by": "nobody", "written_by": "conn"}])])


def test_a_wire_observation_needs_at_least_one_stream() -> None:
    assert "at least 1" in _error([_raw(when=[{"wire": ">S", "streams": 0}])])


# -- decide: the claim as a whole ---------------------------------------------------------
def test_a_claim_holds_only_if_every_observation_is_met() -> None:
    claim = _claim({"step": "conn.close", "ret": 0}, {"flag": "R", "seen": False})
    outcome = _decide(claim, calls=[_call("conn", "close", ret=0)],
                      segments=_segs(*HANDSHAKE, "<R."))
    assert outcome.verdict == DOES_NOT_HOLD
    assert list(outcome.evidence) == ["conn.close() = 0 (0.000 s)", "RST: <R. (packet 4)"]


def test_a_claim_with_every_observation_met_holds() -> None:
    claim = _claim({"step": "conn.close", "ret": 0}, {"flag": "R", "seen": False})
    outcome = _decide(claim, calls=[_call("conn", "close", ret=0)],
                      segments=_segs(*HANDSHAKE, "<F."))
    assert outcome.verdict == HOLDS


def test_an_errored_run_leaves_the_claim_undecided_with_its_evidence() -> None:
    outcome = _decide(_claim({"step": "conn.close", "ret": 0}),
                      calls=[_call("conn", "close", ret=0)], errored=True)
    assert outcome.verdict == UNDECIDED
    assert list(outcome.evidence) == ["conn.close() = 0 (0.000 s)"]


def test_an_outcome_is_as_expected_when_it_matches_linux() -> None:
    calls = [_call("conn", "close", ret=0)]
    assert _decide(_claim({"step": "conn.close", "ret": 0}), calls=calls).as_expected
    claim = _claim({"step": "conn.close", "ret": 0}, linux=DOES_NOT_HOLD)
    assert not _decide(claim, calls=calls).as_expected


def test_an_undecided_outcome_is_not_as_expected() -> None:
    outcome = _decide(_claim({"step": "conn.close", "ret": 0}),
                      calls=[_call("conn", "close", ret=0)], errored=True)
    assert not outcome.as_expected


def test_an_outcome_as_json_has_the_claim_and_its_verdict() -> None:
    outcome = _decide(_claim({"step": "conn.close", "ret": 0}),
                      calls=[_call("conn", "close", ret=0)])
    assert outcome.to_json() == {"id": "close-is-quick", "text": "close() returns 0 at once.",
                                 "source": "socket(7)", "verdict": HOLDS, "linux": HOLDS,
                                 "evidence": ["conn.close() = 0 (0.000 s)"]}
