"""Packet fields on pattern tokens (harness.core.fields): every field with every operator,
times within packetdrill's tolerance at its edges, what a packet without an option does, the
sentences that name a failing field, and every mistake refused at its column."""

from __future__ import annotations

import pytest

from harness.core.fields import FIELDS, OPERATORS, Predicate, seconds
from harness.core.packet import Packet
from harness.core.pattern import PatternError, compile_pattern
from harness.core.pattern_syntax import Tok, parse

NUMBERS = ["seq", "ack", "len", "win", "mss", "wscale", "sport", "dport"]
# op -> whether it holds for an observed value one below, equal to and one above the wanted one
TRUTH = {"=": (False, True, False), "!=": (True, False, True), "<": (True, False, False),
         "<=": (True, True, False), ">": (False, False, True), ">=": (False, True, True)}


def packet(token: str = ">.", **facts: object) -> Packet:
    """A packet with plain facts, changed where facts says."""
    plain: dict = {"token": token, "seq": 1, "ack": 1, "len": 0, "win": 64, "mss": None,
                   "wscale": None, "sport": 40000, "dport": 5000, "t": 0.0, "dt": 0.0,
                   "number": 2}
    return Packet(**{**plain, **facts})


def predicate(text: str) -> Predicate:
    """The one field of the pattern ">.[text]"."""
    tree = parse(f">.[{text}]")
    assert isinstance(tree, Tok) and len(tree.predicates) == 1
    return tree.predicates[0]


def test_the_fields_and_operators_are_the_documented_ones() -> None:
    assert list(FIELDS) == [*NUMBERS, "t", "dt"]
    assert list(OPERATORS) == ["=", "!=", "<", "<=", ">", ">="]


@pytest.mark.parametrize("op", TRUTH)
@pytest.mark.parametrize("name", NUMBERS)
def test_every_whole_number_field_with_every_operator(name: str, op: str) -> None:
    wanted = predicate(f"{name}{op}100")
    assert (wanted.name, wanted.op, wanted.value, wanted.text) == (name, op, 100, f"{name}{op}100")
    got = tuple(wanted.holds(packet(**{name: value})) for value in (99, 100, 101))
    assert got == TRUTH[op]


@pytest.mark.parametrize("op", TRUTH)
@pytest.mark.parametrize("name", ["mss", "wscale"])
def test_a_packet_without_the_option_fails_every_operator(name: str, op: str) -> None:
    wanted = predicate(f"{name}{op}7")
    assert not wanted.holds(packet(">S"))
    assert wanted.why_not(packet(">S")) == (f"has no {name} option; the pattern wants "
                                            f"{name}{op}7")


@pytest.mark.parametrize(("observed", "holds"), [
    (0.0875, True), (0.1125, True), (0.1, True), (0.087499, False), (0.112501, False),
    (0.0, False), (0.2, False)])
def test_a_time_equals_within_twelve_and_a_half_percent(observed: float, holds: bool) -> None:
    assert predicate("dt=0.1").holds(packet(dt=observed)) is holds
    assert predicate("dt!=0.1").holds(packet(dt=observed)) is not holds
    assert predicate("t=0.1").holds(packet(t=observed)) is holds


@pytest.mark.parametrize(("wanted", "low", "high"), [
    ("dt=0.01", 0.006, 0.014),  # 12.5 % of 10 ms is 1.25 ms: the 4 ms floor applies
    ("dt=0.032", 0.028, 0.036),  # where the two meet: 12.5 % of 32 ms is 4 ms
    ("dt=0", 0.0, 0.004),
    ("t=1.5", 1.3125, 1.6875),
])
def test_the_tolerance_has_packetdrills_four_millisecond_floor(wanted: str, low: float,
                                                              high: float) -> None:
    field = predicate(wanted)
    name = field.name
    assert field.window() == pytest.approx((low, high))
    assert field.holds(packet(**{name: low})) and field.holds(packet(**{name: high}))
    assert not field.holds(packet(**{name: high + 0.000001}))
    if low > 0:
        assert not field.holds(packet(**{name: low - 0.000001}))


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
@pytest.mark.parametrize("name", ["t", "dt"])
def test_time_comparisons_are_plain_to_the_microsecond(name: str, op: str) -> None:
    wanted = predicate(f"{name}{op}0.01")
    got = tuple(wanted.holds(packet(**{name: value})) for value in (0.009999, 0.01, 0.010001))
    assert got == TRUTH[op]


def test_times_are_read_in_seconds_in_every_spelling() -> None:
    assert [predicate(f"dt={text}").value for text in ("1", "0.5", ".5", "2.", "0.000001")] == [
        1.0, 0.5, 0.5, 2.0, 0.000001]


@pytest.mark.parametrize(("text", "observed", "sentence"), [
    ("ack=301", {"ack": 201}, "has ack 201; the pattern wants ack=301"),
    ("len>=100", {"len": 0}, "has len 0; the pattern wants len>=100"),
    ("win!=0", {"win": 0}, "has win 0; the pattern wants win!=0"),
    ("mss>1000", {"mss": 536}, "has mss 536; the pattern wants mss>1000"),
    ("sport=40123", {}, "has sport 40000; the pattern wants sport=40123"),
    ("dt=0.1", {"dt": 0.204},
     "came 0.204 s after packet 1; the pattern wants dt=0.1 (0.0875 to 0.1125 s)"),
    ("dt!=0.1", {"dt": 0.1, "number": 5},
     "came 0.100 s after packet 4; the pattern wants dt!=0.1 (outside 0.0875 to 0.1125 s)"),
    ("dt<0.01", {"dt": 0.041839, "number": 7},
     "came 0.041839 s after packet 6; the pattern wants dt<0.01"),
    ("dt>0.1", {"number": 1}, "is the connection's first packet (dt 0 s); the pattern wants "
                              "dt>0.1"),
    ("dt>0.1", {"number": 0, "dt": 0.05},
     "came 0.050 s after the packet before it; the pattern wants dt>0.1"),
    ("t>0.1", {"t": 0.05, "number": 3}, "came 0.050 s after packet 1; the pattern wants t>0.1"),
])
def test_why_not_names_the_field_and_the_packets_value(text: str, observed: dict,
                                                        sentence: str) -> None:
    assert predicate(text).why_not(packet(**observed)) == sentence


def test_why_not_is_none_when_the_field_holds() -> None:
    assert predicate("ack=1").why_not(packet()) is None
    assert predicate("dt=0").why_not(packet()) is None


@pytest.mark.parametrize(("value", "written"), [
    (0.204, "0.204"), (0.0875, "0.0875"), (1.0, "1.000"), (0.000051, "0.000051"),
    (1.018234, "1.018234"), (0.0, "0.000")])
def test_seconds_keep_three_to_six_decimals(value: float, written: str) -> None:
    assert seconds(value) == written


def test_fields_are_frozen_and_equal_by_value() -> None:
    assert predicate("ack=1") == Predicate("ack", "=", 1, "ack=1")
    assert len({predicate("ack=1"), predicate("ack=1")}) == 1
    with pytest.raises(AttributeError):
        predicate("ack=1").value = 2  # type: ignore[misc]


@pytest.mark.parametrize("pattern", [
    "<R.[seq=1 ack=301]", ">P.[len=100]", "<.[win=0]", ">S[mss>1000 wscale=7]",
    ">S[sport=40123]", "<S.[dport=40123]", "<S.[dt=0.1]", ">.[dt<0.01]", "<F.[t>0.1]",
    ">[none][len=0]", "<R.[ seq=1\tack=301 ]", ">S[seq=4294967295 win=65535 wscale=255]",
    ">S <S. >. (>P.[len>0 len<=1000] <.)+ (<F. >. | <R.[seq=1])", ">S[t=86400]",
])
def test_documented_spellings_compile(pattern: str) -> None:
    compile_pattern(pattern)


@pytest.mark.parametrize(("pattern", "position", "message"), [
    (">S[]", 2, 'empty fields "\\[\\]"'),
    (">S[  ]", 2, "empty fields"),
    (">S[mss>0", 2, 'found "\\[" with no "\\]" to close it'),
    (">S[mss>0 <S.", 2, 'with no "\\]"'),
    (">S[mss>0 <S.[len=0]", 2, 'with no "\\]"'),
    ("(>S <S.)[len=0]", 8, 'found "\\[" after no packet token'),
    (">S [mss>0]", 3, "after no packet token"),
    (">S{2}[len=0]", 5, "after no packet token"),
    (">S]", 2, 'found "\\]" with no "\\[" before it'),
    (">[seq=1]", 0, 'expected flags after ">"'),
    (">S.[none]", 4, '"none" is not a packet field'),
    (">S[sequence=1]", 3, '"sequence" is not a packet field \\(the fields are seq, ack, len, '
                          "win, mss, wscale, sport, dport, t, dt\\)"),
    (">S[acks=1]", 3, "did you mean ack\\?"),
    (">S[MSS>0]", 3, "did you mean mss\\?"),
    (">S[window=0]", 3, "did you mean win\\?"),
    ("<R.[seq=1 lenght=0]", 10, "did you mean len\\?"),
    (">S[=1]", 3, 'expected a field name in "=1"'),
    (">S[seq==1]", 6, '"==" is not an operator; write "seq="'),
    (">S[mss=>1]", 6, 'write "mss>="'),
    (">S[mss=<1]", 6, 'write "mss<="'),
    (">S[mss<>1]", 6, 'write "mss!="'),
    (">S[mss>>1]", 6, '">>" is not an operator \\(the operators are = != < <= > >=\\)'),
    (">S[seq:1]", 6, 'expected an operator after "seq" \\(= != < <= > >=\\), but found ":"'),
    (">S[seq]", 6, "but found nothing"),
    (">S[seq=]", 7, 'expected a value after "seq="'),
    (">S[seq=x]", 7, 'seq is compared with a whole number from 0 to 4294967295'),
    (">S[seq=ack]", 7, "whole number"),
    (">S[seq=-1]", 7, "whole number"),
    (">S[len=1.5]", 7, "len is compared with a whole number from 0 to 65535"),
    (">S[seq=4294967296]", 7, "out of range: seq is at most 4294967295"),
    (">S[win=65536]", 7, "win is at most 65535"),
    (">S[wscale=256]", 10, "wscale is at most 255"),
    (">S[seq=" + "9" * 5000 + "]", 7, "out of range"),
    (">S[seq=1,ack=2]", 8, 'separate fields with spaces, as in "\\[seq=1 ack=1\\]"'),
    ("<S.[dt=fast]", 7, "a time is compared with a number of seconds, such as 0.1"),
    ("<S.[dt=ack]", 7, "number of seconds"),
    ("<S.[dt=40ms]", 7, 'write times in seconds without a unit, e.g. "dt=0.04" for 40 ms'),
    ("<S.[t<2s]", 6, "without a unit"),
    ("<S.[dt=1e3]", 7, "number of seconds"),
    ("<S.[dt=-0.1]", 7, "number of seconds"),
    ("<S.[t=86401]", 6, "a time is at most 86400 seconds"),
    ("<S.[t=" + "1" * 300 + "]", 6, "at most 86400"),
    ("<R.[seq=1 ack=x]", 14, "ack is compared with a whole number"),
    (">S <S. >. (>P.[len=100] <.){3} <R.[seq=1 ack=1O1]", 45, "whole number"),
])
def test_every_mistake_in_fields_names_its_column(pattern: str, position: int,
                                                  message: str) -> None:
    with pytest.raises(PatternError, match=message) as caught:
        compile_pattern(pattern)
    assert caught.value.position == position
    assert caught.value.text == pattern
    assert "\n" not in caught.value.message


def test_the_error_points_a_caret_at_the_field() -> None:
    with pytest.raises(PatternError) as caught:
        compile_pattern("<R.[seq=1 akc=301]")
    lines = str(caught.value).splitlines()
    assert lines == ['pattern error at column 11: "akc" is not a packet field; did you mean '
                     "ack? (the fields are seq, ack, len, win, mss, wscale, sport, dport, t, dt)",
                     "  <R.[seq=1 akc=301]", "            ^"]
