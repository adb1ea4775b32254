"""The public API for one packet token with fields (harness.core.packet_token), and the index
the matcher finds failing fields with (harness.core.field_index), held to Predicate.holds."""

from __future__ import annotations

import random

import pytest
from test_fields import packet

from harness.core.errors import UserError
from harness.core.field_index import FieldIndex
from harness.core.fields import OPERATORS, Predicate
from harness.core.notation import ACK, RST, SYN
from harness.core.packet_token import PacketToken, parse_packet_token
from harness.core.pattern import PatternError


def test_a_token_with_fields_parses_into_its_parts() -> None:
    rst = parse_packet_token("<R.[seq=1 ack=301]")
    assert (rst.direction, rst.flags, rst.key) == ("<", RST | ACK, ("<", RST | ACK))
    assert rst.predicates == (Predicate("seq", "=", 1, "seq=1"),
                              Predicate("ack", "=", 301, "ack=301"))
    assert (rst.bare, rst.text, str(rst)) == ("<R.", "<R.[seq=1 ack=301]", "<R.[seq=1 ack=301]")


def test_a_bare_token_has_no_fields_and_spacing_is_normalised() -> None:
    assert parse_packet_token(">S") == PacketToken(">", SYN)
    assert parse_packet_token("  >S[ mss>1000   wscale=7 ]\n").text == ">S[mss>1000 wscale=7]"
    assert parse_packet_token(">[none][len=0]").text == ">[none][len=0]"


def test_fits_and_why_not() -> None:
    rst = parse_packet_token("<R.[seq=1 ack=301]")
    assert rst.fits(packet("<R.", seq=1, ack=301))
    assert rst.why_not(packet("<R.", seq=1, ack=301)) is None
    assert not rst.fits(packet("<R.", seq=1, ack=201))
    assert rst.why_not(packet("<R.", seq=1, ack=201)) == (
        "<R. has ack 201; the pattern wants ack=301")
    assert rst.why_not(packet("<R.", seq=2, ack=201)) == "<R. has seq 2; the pattern wants seq=1"
    assert rst.why_not(packet("<F.", seq=1, ack=301)) == "<F. is not <R."
    assert rst.why_not(packet(">R.", seq=1, ack=301)) == ">R. is not <R."
    assert parse_packet_token("<R.").fits(packet("<R.", seq=77, ack=9))
    syn = parse_packet_token(">S[wscale=7]")
    assert syn.why_not(packet(">S")) == ">S has no wscale option; the pattern wants wscale=7"


def test_tokens_are_frozen_values() -> None:
    assert parse_packet_token("<R.[seq=1]") == parse_packet_token("<R.[ seq=1 ]")
    assert len({parse_packet_token("<R.[seq=1]"), parse_packet_token("<R.[seq=1]")}) == 1
    with pytest.raises(AttributeError):
        parse_packet_token("<R.").flags = 0  # type: ignore[misc]


@pytest.mark.parametrize(("text", "position", "message"), [
    ("", 0, "empty token"),
    ("   ", 0, "empty token"),
    ("<R. <F.", 4, 'found "<" after the token; give one packet token'),
    ("<R.)", 3, 'found "\\)" after the token'),
    ("(<R.)", 0, 'expected a packet token starting with ">" or "<", but found "\\("'),
    ("R.", 0, "starting with"),
    ("<R.[seq=1", 3, 'with no "\\]"'),
    ("<R.[seq=one]", 8, "whole number"),
    ("<.R", 0, 'write "R\\."'),
])
def test_parse_packet_token_refuses_at_the_column(text: str, position: int, message: str) -> None:
    with pytest.raises(PatternError, match=message) as caught:
        parse_packet_token(text)
    assert caught.value.position == position
    assert isinstance(caught.value, UserError)


# --- the index against the fields one by one ---------------------------------------------

def _random_predicate(rng: random.Random) -> Predicate:
    name = rng.choice(["len", "win", "ack", "mss", "wscale", "t", "dt"])
    op = rng.choice(list(OPERATORS))
    value: float = (rng.choice([0.0, 0.001, 0.004, 0.01, 0.1, 0.2]) if name in ("t", "dt")
                    else rng.randint(0, 4))
    return Predicate(name, op, value, f"{name}{op}{value}")


def _random_packet(rng: random.Random) -> object:
    option = [None, 0, 1, 2, 3, 4]
    return packet(len=rng.randint(0, 4), win=rng.randint(0, 4), ack=rng.randint(0, 4),
                  mss=rng.choice(option), wscale=rng.choice(option),
                  t=rng.choice([0.0, 0.0005, 0.004, 0.0875, 0.1, 0.1125, 0.1126, 0.2]),
                  dt=rng.choice([0.0, 0.001, 0.004, 0.0041, 0.006, 0.014, 0.175, 0.2251]))


@pytest.mark.parametrize("seed", range(40))
def test_the_index_fails_exactly_the_positions_whose_fields_fail(seed: int) -> None:
    rng = random.Random(seed)
    fields = [tuple(_random_predicate(rng) for _ in range(rng.randint(0, 3)))
              for _ in range(rng.randint(1, 40))]
    index = FieldIndex(fields)
    for _ in range(50):
        seen = _random_packet(rng)
        wanted = sum(1 << p for p, preds in enumerate(fields)
                     if not all(f.holds(seen) for f in preds))  # type: ignore[arg-type]
        assert index.failing(seen) == wanted, (fields, seen)  # type: ignore[arg-type]


def test_the_index_of_no_fields_fails_nothing() -> None:
    assert FieldIndex([(), ()]).failing(packet()) == 0


def test_two_values_for_one_field_can_never_both_hold() -> None:
    both = (Predicate("len", "=", 1, "len=1"), Predicate("len", "=", 2, "len=2"))
    index = FieldIndex([both, (Predicate("len", "=", 1, "len=1"),)])
    assert index.failing(packet(len=1)) == 0b01
    assert index.failing(packet(len=2)) == 0b11
