"""The verdict: judged from synthetic results, so each reason to fail is proven to fire."""

from __future__ import annotations

import dataclasses

import pytest

from harness.core.catalog import load_catalog
from harness.core.expect import tolerance
from harness.core.notation import ACK, FIN, RST, SYN, str_to_flags
from harness.core.result import Call, FinalState, RunResult
from harness.core.segment import Segment
from harness.core.verdict import judge

C, S = ("127.0.0.1", 40000), ("127.0.0.1", 5000)


def _seg(i: int, token: str) -> Segment:
    src, dst = (C, S) if token[0] == ">" else (S, C)
    return Segment(time=float(i), family="ipv4", src=src[0], sport=src[1], dst=dst[0],
                   dport=dst[1], flags=str_to_flags(token[1:]), seq=0, ack=0, win=100,
                   length=0, index=i + 1)


def _abort_client_run(**changes) -> tuple:
    sc = next(s for s in load_catalog() if s.id == "linger-abort-client")
    calls = [Call(peer="server" if st.on != "client" else "client", sock=st.on, call=st.call,
                  ret=0) for st in sc.steps]
    calls[5] = dataclasses.replace(calls[5], ret=-1, errno="ECONNRESET")
    result = RunResult(scenario=sc.id, family="ipv4",
                       segments=[_seg(i, t) for i, t in enumerate([">S", "<S.", ">.", ">R."])],
                       calls=calls, states={"client": FinalState("CLOSED"),
                                            "server": FinalState("CLOSED")})
    return sc, dataclasses.replace(result, **changes)


def test_a_run_as_expected_passes() -> None:
    sc, result = _abort_client_run()
    verdict = judge(sc, result)
    assert verdict.status == "pass", verdict.reasons
    assert verdict.match.observed == (">S", "<S.", ">.", ">R.")


def test_a_fin_instead_of_the_rst_fails_on_the_wire() -> None:
    sc, result = _abort_client_run()
    result = dataclasses.replace(result, segments=(*result.segments[:-1], _seg(3, ">F.")))
    verdict = judge(sc, result)
    assert verdict.status == "fail"
    assert verdict.reasons[0] == "wire: packet 4 >F. does not fit: the pattern expected >R. there"
    # The scenario's claim about this very wire is now answered the other way: said loudly.
    assert verdict.claims[0].verdict == "does not hold"
    assert verdict.reasons[1].startswith("claim abort-after-connect-rst: Linux is expected to "
                                         "show it HOLDS, but here it DOES NOT HOLD")


def test_the_wire_is_judged_by_its_fields_too() -> None:
    sc, result = _abort_client_run()  # a packet a second: each dt is 1 s
    assert judge(dataclasses.replace(sc, pattern=">S[sport=40000] <S. >. >R.[dt=1]"),
                 result).status == "pass"
    verdict = judge(dataclasses.replace(sc, pattern=">S <S. >. >R.[dt<0.5]"), result)
    assert verdict.status == "fail"
    assert verdict.reasons[0] == ("wire: packet 4 >R. came 1.000 s after packet 3; the pattern "
                                  "wants dt<0.5")
    assert verdict.match is not None and verdict.match.expected == (">R.[dt<0.5]",)


def test_a_wrong_errno_a_slow_close_and_a_wrong_state_each_fail() -> None:
    sc, result = _abort_client_run()
    calls = list(result.calls)
    calls[5] = dataclasses.replace(calls[5], ret=0, errno=None)
    calls[4] = dataclasses.replace(calls[4], elapsed=0.5)
    result = dataclasses.replace(result, calls=calls, states={
        "client": FinalState("CLOSED"), "server": FinalState("TIME-WAIT")})
    reasons = judge(sc, result).reasons
    assert any("expected errno ECONNRESET; got conn.recv() = 0" in r for r in reasons)
    assert any("expected to return within 0.100 s; it took 0.500 s" in r for r in reasons)
    assert any("server: expected final state CLOSED; the kernel reports TIME-WAIT" in r
               for r in reasons)


def test_a_harness_problem_is_an_error_not_a_fail() -> None:
    sc, result = _abort_client_run(error="the kernel dropped 3 packets")
    verdict = judge(sc, result)
    assert verdict.status == "error"
    assert verdict.reasons[0] == "the kernel dropped 3 packets"


@pytest.mark.parametrize(("expected", "slack"), [(0.0, 0.004), (0.01, 0.004), (1.0, 0.125)])
def test_tolerance_is_packetdrills(expected: float, slack: float) -> None:
    assert tolerance(expected) == pytest.approx(slack)


def test_flag_constants_are_used_consistently() -> None:
    assert str_to_flags("R.") == RST | ACK and str_to_flags("S") == SYN
    assert str_to_flags("F.") == FIN | ACK


def test_too_little_left_in_a_send_queue_fails() -> None:
    sc, result = _abort_client_run()
    sc = dataclasses.replace(sc, min_send_q={"server": 10})
    result = dataclasses.replace(result, states={"client": FinalState("CLOSED"),
                                                 "server": FinalState("CLOSED", send_q=3)})
    assert judge(sc, result).reasons == (
        "server: expected at least 10 bytes still in the send queue; the kernel reports 3",)
