"""Matching packets against patterns whose tokens have fields: what matches, what a mismatch
says (the field and the packet's value), what the pattern expected (tokens with their fields),
which token consumed each packet, and bare tokens refused where fields need packets."""

from __future__ import annotations

import pytest
from test_fields import packet

from harness.core.errors import UserError
from harness.core.match import Match
from harness.core.packet import Packet
from harness.core.pattern import PacketsNeeded, compile_pattern


def abort(rst_ack: int = 301, gap: float = 0.0001) -> list[Packet]:
    """linger-abort-server's ten packets, the RST acknowledging rst_ack, the SYN-ACK gap s
    after the SYN."""
    facts: list[tuple[str, dict]] = [
        (">S", {"seq": 2526954741, "ack": 0, "mss": 65495, "wscale": 10}),
        ("<S.", {"seq": 384831102, "ack": 2526954742, "mss": 65495, "wscale": 10, "dt": gap}),
        (">.", {"ack": 1})]
    for n in range(3):
        facts += [(">P.", {"seq": 1 + 100 * n, "len": 100}), ("<.", {"ack": 101 + 100 * n})]
    facts.append(("<R.", {"seq": 1, "ack": rst_ack}))
    return [packet(token, number=i, **{"dt": 0.001, **more})
            for i, (token, more) in enumerate(facts, 1)]


ABORT = ">S[mss>1000 wscale>=0] <S.[wscale>=0] >. (>P.[len=100] <.){3} <R.[seq=1 ack=301]"


def test_a_pattern_with_fields_matches_the_packets_that_have_them() -> None:
    result = compile_pattern(ABORT).match(abort())
    assert result.ok, result.sentence()
    assert result.observed == (">S", "<S.", ">.", ">P.", "<.", ">P.", "<.", ">P.", "<.", "<R.")


def test_the_failing_field_and_the_packets_value_are_named() -> None:
    result = compile_pattern(ABORT).match(abort(rst_ack=201))
    assert (result.ok, result.failed_at) == (False, 9)
    assert result.sentence() == "packet 10 <R. has ack 201; the pattern wants ack=301"
    assert result.expected == ("<R.[seq=1 ack=301]",)
    assert result.why == "has ack 201; the pattern wants ack=301"
    assert result.explain().endswith(result.sentence())
    assert "-> 10  <R." in result.explain()


def test_a_time_that_does_not_fit_names_its_window() -> None:
    result = compile_pattern(">S <S.[dt=0.1] >. (>P. <.){3} <R.").match(abort(gap=0.204))
    assert result.sentence() == ("packet 2 <S. came 0.204 s after packet 1; the pattern wants "
                                 "dt=0.1 (0.0875 to 0.1125 s)")
    assert compile_pattern(">S <S.[dt=0.1] >. (>P. <.){3} <R.").match(abort(gap=0.1125)).ok


def test_a_missing_option_is_named() -> None:
    no_wscale = [packet(">S", mss=1460, number=1), packet("<S.", number=2)]
    result = compile_pattern(">S[wscale=7] <S.").match(no_wscale)
    assert result.sentence() == "packet 1 >S has no wscale option; the pattern wants wscale=7"


def test_plain_flag_mismatches_keep_their_sentence_and_list_the_fields() -> None:
    result = compile_pattern(">S <S. >. (>P. <.){3} (<F. | <R.[ack=301])").match(
        [*abort()[:9], packet(">P.", number=10)])
    assert result.why == ""
    assert result.sentence() == ("packet 10 >P. does not fit: the pattern expected <F. or "
                                 "<R.[ack=301] there")
    ended = compile_pattern(ABORT).match(abort()[:9])
    assert ended.sentence() == ("the capture ended after 9 packets, but the pattern expected "
                                "<R.[seq=1 ack=301] next")
    extra = compile_pattern(ABORT).match([*abort(), packet(">.", number=11)])
    assert extra.sentence() == ("packet 11 >. is one too many: the pattern was complete after "
                                "packet 10")


def test_expected_tokens_are_spelled_normalised() -> None:
    result = compile_pattern(">S <R.[ seq=1   ack=301 ]").match([packet(">S"), packet("<F.")])
    assert result.expected == ("<R.[seq=1 ack=301]",)


def test_another_branch_with_other_fields_can_take_the_packet() -> None:
    either = compile_pattern(">S (<S.[dt>1] | <S.[dt<0.5] >.)")
    assert either.match([packet(">S"), packet("<S.", dt=0.2), packet(">.")]).ok
    assert either.match([packet(">S"), packet("<S.", dt=2.0)]).ok
    failed = either.match([packet(">S", number=1), packet("<S.", dt=0.7, number=2)])
    assert failed.sentence() == ("packet 2 <S. came 0.700 s after packet 1; the pattern wants "
                                 "dt>1")  # the earliest of the tokens that fit the flags
    assert failed.expected == ("<S.[dt<0.5]", "<S.[dt>1]")


def test_fields_inside_repeats_hold_for_every_copy() -> None:
    data = compile_pattern("(>P.[len=100] <.)+ <R.")
    packets = abort()[3:]
    assert data.match(packets).ok
    short = [*packets[:2], packet(">P.", len=99, number=6), *packets[3:]]
    assert data.match(short).sentence() == "packet 3 >P. has len 99; the pattern wants len=100"


def test_token_at_and_columns_include_the_fields() -> None:
    result = compile_pattern(ABORT).match(abort())
    assert result.token_at(0) == ">S[mss>1000 wscale>=0]"
    assert result.token_at(9) == "<R.[seq=1 ack=301]"
    assert result.token_at(3) == ">P.[len=100]"
    assert result.columns[9] == ABORT.index("<R.")
    spaced = ">S <R.[ seq=1 ]"
    assert compile_pattern(spaced).match([packet(">S"), packet("<R.")]).token_at(1) == (
        "<R.[ seq=1 ]")


def test_packets_match_plain_patterns_as_their_tokens_do() -> None:
    pattern = compile_pattern(">S <S. >. (>P. <.)+ (<F. >. | <R.)")
    packets = abort()
    by_packets, by_tokens = pattern.match(packets), pattern.match([p.token for p in packets])
    assert by_packets == by_tokens and by_packets.ok
    broken = [*packets[:5], packet("<F."), packet(">P.")]
    assert pattern.match(broken) == pattern.match([p.token for p in broken])
    assert pattern.prefix_matches(packets[:3]) is False
    assert pattern.prefix_matches([*packets, packet(">.")]) is True


def test_prefix_matches_tests_the_fields() -> None:
    pattern = compile_pattern(">S <S.[dt<0.5]")
    assert pattern.prefix_matches([packet(">S"), packet("<S.", dt=0.1), packet(">.")])
    assert not pattern.prefix_matches([packet(">S"), packet("<S.", dt=0.6), packet(">.")])


@pytest.mark.parametrize("call", ["match", "prefix_matches"])
def test_bare_tokens_against_fields_are_refused_in_one_line(call: str) -> None:
    pattern = compile_pattern(">S[mss>0] <S.")
    assert pattern.has_fields and not compile_pattern(">S <S.").has_fields
    with pytest.raises(PacketsNeeded) as caught:
        getattr(pattern, call)([">S", "<S."])
    assert isinstance(caught.value, UserError) and isinstance(caught.value, TypeError)
    assert str(caught.value) == (
        "the pattern '>S[mss>0] <S.' compares packet fields, which bare tokens do not have: "
        "match it against the connection's Packets (Conversation.packets()), not its tokens")
    with pytest.raises(PacketsNeeded):
        getattr(pattern, call)([packet(">S", mss=1), "<S."])


def test_a_packet_among_bare_tokens_is_named() -> None:
    with pytest.raises(TypeError, match="observed packet 2: expected a packet token or a "
                                        "Packet, not Packet"):
        compile_pattern(">S <S.").match([">S", packet("<S.")])


def test_an_empty_capture_against_fields() -> None:
    result = compile_pattern(ABORT).match([])
    assert result.sentence() == ("the capture had no packets, but the pattern expected "
                                 ">S[mss>1000 wscale>=0] first")


def test_a_match_made_by_hand_has_no_why() -> None:
    assert Match(False, (">S",), ">S", failed_at=0, expected=("<S.",)).sentence() == (
        "packet 1 >S does not fit: the pattern expected <S. there")
