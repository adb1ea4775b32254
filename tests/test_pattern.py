"""Tests for harness.core.pattern: the packet-token pattern language and its matcher."""

from __future__ import annotations

import re
import time

import pytest

from harness.core.notation import NotationError, parse_token
from harness.core.pattern import Match, PatternError, compile_pattern

HANDSHAKE = [">S", "<S.", ">."]


def matches(pattern: str, observed: str) -> bool:
    """Whether ``pattern`` fully matches the space-separated tokens in ``observed``."""
    return compile_pattern(pattern).match(observed.split()).ok


# ---------------------------------------------------------------- syntax errors


@pytest.mark.parametrize(
    ("pattern", "position", "message"),
    [
        ("", 0, "empty pattern"),
        ("   ", 0, "empty pattern"),
        (">S x", 3, r'found "x"'),
        (">S ; <R.", 3, r'found ";"'),
        (">S . <R.", 3, r'found "\."'),
        (">", 0, r'expected flags after ">"'),
        (">S < <R.", 3, r'expected flags after "<"'),
        (">S <SX", 3, r'"X" is not a flag letter'),
        (">S >SS", 3, r'"S" appears more than once'),
        (">S <.S", 3, r'write "S\."'),
        (">S >none", 3, r'write ">\[none\]"'),
        ("(>S <S.", 0, r'"\(" with no "\)"'),
        (">S ((<S.) >.", 3, r'"\(" with no "\)"'),
        (">S <S.) >.", 6, r'"\)" with no "\("'),
        ("*>S", 0, "before this quantifier"),
        (">S (+<S.)", 4, "before this quantifier"),
        (">S | ? <R.", 5, "before this quantifier"),
        (">S*?", 3, "quantifier after a quantifier"),
        (">S{2}+", 5, "quantifier after a quantifier"),
        (">S{a}", 2, r'expected "\{n\}", "\{n,\}" or "\{n,m\}"'),
        (">S{1,b}", 2, "whole numbers"),
        (">S{,3}", 2, "whole numbers"),
        (">S{-1}", 2, "whole numbers"),
        (">S <.{5,2}", 5, "upper bound 2 below lower bound 5"),
        (">S{1001}", 2, "at most 1000"),
        (">S{0,1001}", 2, "at most 1000"),
        (">S <.{3", 5, r'"\{" with no "\}"'),
        (">S }", 3, r'"\}" with no "\{"'),
        (">S () <R.", 3, "empty group"),
        ("()", 0, "empty group"),
        ("|", 0, "no packet tokens"),
        ("((>.{1000}){1000})", 11, "at most 2000"),
        ("(" * 101 + ">S" + ")" * 101, 100, "nested more than 100 deep"),
    ],
)
def test_syntax_errors(pattern: str, position: int, message: str) -> None:
    with pytest.raises(PatternError, match=message) as caught:
        compile_pattern(pattern)
    assert caught.value.position == position
    assert caught.value.text == pattern


def test_error_text_points_at_the_column() -> None:
    with pytest.raises(PatternError) as caught:
        compile_pattern(">S <S. x")
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("pattern error at column 8: ")
    assert lines[1] == "  >S <S. x"
    assert lines[2] == "         ^"


def test_pattern_error_is_a_value_error() -> None:
    assert issubclass(PatternError, ValueError)


def test_deep_nesting_within_the_limit_compiles() -> None:
    pattern = compile_pattern("(" * 100 + ">S" + ")" * 100)
    assert pattern.match([">S"]).ok


def test_boundary_counts_are_allowed() -> None:
    compile_pattern(">.{0}")
    compile_pattern(">.{1000}")
    compile_pattern(">.{0,1000}")
    compile_pattern(">.{3,3}")
    compile_pattern(">.{ 2 , 4 }")


# ---------------------------------------------------------------- matching


CLOSE = ">S <S. >. (>P. <.){3} <R."


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        (CLOSE, ">S <S. >. >P. <. >P. <. >P. <. <R.", ">S <S. >. >P. <. >P. <. <R."),
        (">S <S. >. >P.? <R.", ">S <S. >. <R.", ">S <S. >. >P. >P. <R."),
        (">S <S. >. >P.? <R.", ">S <S. >. >P. <R.", ">S <S. >. >. <R."),
        (">S <S. >. >P.* <R.?", ">S <S. >.", ">S <S. >. <R. <R."),
        (">S <S. >. >P.* <R.?", ">S <S. >. >P. >P. >P. <R.", ">S <S. >. >P. <R. >P."),
        (">S <S. >. (>P. <.)+ <R.", ">S <S. >. >P. <. >P. <. <R.", ">S <S. >. <R."),
        (">. (>P. <.){2} <R.", ">. >P. <. >P. <. <R.", ">. >P. <. <R."),
        (">. (>P. <.){2} <R.", ">. >P. <. >P. <. <R.", ">. >P. <. >P. <. >P. <. <R."),
        (">. >P.{2,} <R.", ">. >P. >P. >P. >P. <R.", ">. >P. <R."),
        (">. >P.{2,} <R.", ">. >P. >P. <R.", ">. <R."),
        (">. >P.{1,3} <R.", ">. >P. <R.", ">. <R."),
        (">. >P.{1,3} <R.", ">. >P. >P. >P. <R.", ">. >P. >P. >P. >P. <R."),
        (">. >P.{0} <R.", ">. <R.", ">. >P. <R."),
        ("(<F. >. | <R.)", "<F. >.", "<F. <R."),
        ("(<F. >. | <R.)", "<R.", "<R. >."),
        (">S | <R.", ">S", ">S <R."),
        ("((>P. <.)+ | >[none])* <R.", ">P. <. >[none] >P. <. >P. <. <R.", ">P. >[none] <R."),
        ("(>. (<P. | <F.)?)+", ">. <P. >. >. <F.", ">. <P. <F."),
        (">S<S.>.(>P.<.)+(<F.>.|<R.)", ">S <S. >. >P. <. <F. >.", ">S <S. >. >P. <F. >."),
        (">S (<S.|)", ">S", ">S <R."),
    ],
)
def test_quantifiers_and_groups(pattern: str, good: str, bad: str) -> None:
    assert matches(pattern, good)
    assert not matches(pattern, bad)


def test_whitespace_free_spelling_equals_spaced_spelling() -> None:
    spaced = compile_pattern(">S <S. >. (>P. <.){2} (<F. >. | <R.)")
    tight = compile_pattern(">S<S.>.(>P.<.){2}(<F.>.|<R.)")
    for observed in (
        ">S <S. >. >P. <. >P. <. <R.",
        ">S <S. >. >P. <. >P. <. <F. >.",
        ">S <S. >. >P. <. <R.",
    ):
        assert spaced.match(observed.split()).ok == tight.match(observed.split()).ok


def test_dot_belongs_to_the_token() -> None:
    assert matches(">.<.", ">. <.")
    assert matches(">S.<R.", ">S. <R.")
    assert not matches(">S.<R.", ">S <R.")
    with pytest.raises(PatternError, match='expected flags after ">"'):
        compile_pattern("> .")


def test_no_flags_token() -> None:
    assert matches(">S >[none] <R", ">S >[none] <R")
    assert not matches(">S >[none] <R", ">S >. <R")


def test_match_must_cover_the_whole_capture() -> None:
    pattern = compile_pattern(">S <S.")
    assert pattern.match([">S", "<S."]).ok
    assert not pattern.match([">S"]).ok
    assert not pattern.match([">S", "<S.", ">."]).ok
    assert not pattern.match([]).ok


def test_pattern_keeps_its_text_and_a_match_has_no_truth_value() -> None:
    """A failed Match still holds what was observed; `if match` once hid it (a failed match
    was falsy, so the FAIL line said "(0 packets)")."""
    pattern = compile_pattern(">S <S.")
    assert pattern.text == ">S <S."
    assert compile_pattern(">S <S.").match([">S", "<S."]).ok
    failed = compile_pattern(">S <S.").match([">S", "<R."])
    assert not failed.ok and failed.observed == (">S", "<R.")
    assert bool(failed) is True  # an object, not a verdict: ask .ok


def test_observed_tokens_must_be_valid() -> None:
    with pytest.raises(NotationError, match="observed packet 2"):
        compile_pattern(">S <S.").match([">S", "<.S"])


def test_pathological_pattern_is_fast() -> None:
    pattern = compile_pattern("(>.*)*<R.")
    observed = [">."] * 30
    began = time.perf_counter()
    result = pattern.match(observed)
    assert not result.ok
    assert result.ended_early
    assert time.perf_counter() - began < 1.0


def test_nested_stars_with_long_capture_are_fast() -> None:
    pattern = compile_pattern("((>.|>.*)+ (<.?)*)* <R.")
    observed = [">."] * 2000 + ["<R."]
    began = time.perf_counter()
    assert pattern.match(observed).ok
    assert time.perf_counter() - began < 5.0


# ---------------------------------------------------------------- explanations

SESSION = ">S <S. >. (>P. <.)+ (<R. | <F. >.)"


def test_mismatch_in_the_middle() -> None:
    observed = [">S", "<S.", ">.", ">P.", "<.", ">P.", "<.", ">.", "<R."]
    result = compile_pattern(SESSION).match(observed)
    assert result == Match(
        ok=False,
        observed=tuple(observed),
        pattern=SESSION,
        failed_at=7,
        expected=("<F.", "<R.", ">P."),
        ended_early=False,
        columns=(0, 3, 7, 11, 15, 11, 15),
    )
    text = result.explain()
    assert "packet 8 >. does not fit: the pattern expected <F., <R. or >P. there" in text
    assert "-> 8  >." in text
    assert SESSION in text


def test_capture_ended_early() -> None:
    observed = [">S", "<S.", ">.", ">P.", "<.", ">P.", "<."]
    result = compile_pattern(SESSION).match(observed)
    assert not result.ok
    assert result.ended_early
    assert result.failed_at is None
    assert result.expected == ("<F.", "<R.", ">P.")
    assert result.explain().endswith(
        "the capture ended after 7 packets, but the pattern expected <F., <R. or >P. next"
    )
    assert "(end of capture)" in result.explain()


def test_empty_capture() -> None:
    result = compile_pattern(SESSION).match([])
    assert result.ended_early
    assert result.expected == (">S",)
    assert "the capture had no packets, but the pattern expected >S first" in result.explain()


def test_one_packet_too_many() -> None:
    observed = [">S", "<S.", ">.", ">P.", "<.", "<R.", ">."]
    result = compile_pattern(SESSION).match(observed)
    assert result.failed_at == 6
    assert result.expected == ("end",)
    assert not result.ended_early
    assert "packet 7 >. is one too many: the pattern was complete after packet 6" in (
        result.explain()
    )


def test_end_is_listed_when_the_pattern_could_stop() -> None:
    result = compile_pattern(">S >P.*").match([">S", ">P.", "<R."])
    assert result.failed_at == 2
    assert result.expected == (">P.", "end")
    assert "expected >P. or the end of the capture there" in result.explain()


def test_explain_shows_the_callers_lines() -> None:
    observed = [">S", "<S.", ">.", "<F."]
    lines = [
        "10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 1",
        "10.0.0.2.80 > 10.0.0.1.40000: Flags [S.], seq 7, ack 2",
        "10.0.0.1.40000 > 10.0.0.2.80: Flags [.], ack 1",
        "10.0.0.2.80 > 10.0.0.1.40000: Flags [F.], seq 1, ack 1",
    ]
    result = compile_pattern(">S <S. >. <R.").match(observed)
    text = result.explain(lines=lines)
    listing = [row for row in text.splitlines() if "Flags [" in row]
    assert len(listing) == 4
    for number, (tok, line, row) in enumerate(zip(observed, lines, listing, strict=True), 1):
        assert re.fullmatch(rf"\s*(-> )?\s*{number}\s+{re.escape(tok)}\s+{re.escape(line)}", row)
    assert listing[3].lstrip().startswith("-> 4")
    assert not listing[2].lstrip().startswith("->")
    assert "packet 4 <F. does not fit: the pattern expected <R. there" in text


def test_explain_refuses_lines_of_the_wrong_length() -> None:
    result = compile_pattern(">S <R.").match([">S", ">S"])
    with pytest.raises(ValueError, match=r"one line per observed packet \(2\), got 1"):
        result.explain(lines=["only one"])


def test_explain_for_a_match_is_one_line() -> None:
    observed = [">S", "<S.", ">.", ">P.", "<.", ">P.", "<.", ">P.", "<.", "<R."]
    text = compile_pattern(CLOSE).match(observed).explain()
    assert "\n" not in text
    assert "match" in text


# ---------------------------------------------------------------- which token consumed each packet

LOOP = ">S <S. >. (<P. | <. | >.)+ (<F. >. | <R.)"
#       0  3   7  11   17   22     28  32   37


def columns(pattern: str, observed: str) -> tuple[int, ...]:
    """The columns of the tokens that consumed ``observed``, from a match that must succeed."""
    result = compile_pattern(pattern).match(observed.split())
    assert result.ok
    return result.columns


def test_columns_of_a_plain_sequence() -> None:
    assert columns(">S <S. >.", ">S <S. >.") == (0, 3, 7)
    assert columns(">S<S.>.", ">S <S. >.") == (0, 2, 5)


def test_columns_follow_the_branch_taken() -> None:
    assert columns("(<F. >. | <R.)", "<R.") == (10,)
    assert columns("(<F. >. | <R.)", "<F. >.") == (1, 5)
    assert columns(">S | <R.", "<R.") == (5,)


def test_columns_stay_on_one_consistent_path() -> None:
    # The first ">." could be read by either branch; only the second leads on to "<F.".
    assert columns("(>. <R. | >. <F.)", ">. <F.") == (10, 13)
    assert columns("(>. <R. | >. <F.)", ">. <R.") == (1, 4)


def test_ambiguous_columns_are_reproducible_and_prefer_the_lowest_state() -> None:
    pattern = compile_pattern("(>. | >.)+")
    first = pattern.match([">.", ">.", ">."])
    assert first.columns == (1, 1, 1)
    assert pattern.match([">.", ">.", ">."]).columns == first.columns


def test_columns_inside_a_repeated_alternation() -> None:
    observed = ">S <S. >. <P. >. <. <P. <F. >."
    assert columns(LOOP, observed) == (0, 3, 7, 11, 22, 17, 11, 28, 32)
    assert columns(LOOP, ">S <S. >. >. <R.") == (0, 3, 7, 22, 37)


def test_columns_of_counted_repeats() -> None:
    assert columns(">. >P.{2,3} <R.", ">. >P. >P. <R.") == (0, 3, 3, 12)
    assert columns(">. >P.{2,3} <R.", ">. >P. >P. >P. <R.") == (0, 3, 3, 3, 12)
    assert columns("(>P. <.){2} <R.", ">P. <. >P. <. <R.") == (1, 5, 1, 5, 12)
    assert columns(">. >P.{0} <R.", ">. <R.") == (0, 10)


def test_columns_of_a_failed_match_cover_the_prefix() -> None:
    observed = [">S", "<S.", ">.", ">P.", "<.", ">P.", "<.", ">.", "<R."]
    result = compile_pattern(SESSION).match(observed)
    assert result.failed_at == 7
    assert result.columns == (0, 3, 7, 11, 15, 11, 15)
    assert compile_pattern(SESSION).match(["<R.", ">S"]).columns == ()


def test_columns_of_a_failed_match_follow_a_path_that_was_reached() -> None:
    result = compile_pattern("(>. <R. | >. <F.)").match([">.", "<F.", ">."])
    assert result.failed_at == 2
    assert result.expected == ("end",)
    assert result.columns == (10, 13)


def test_columns_when_the_capture_ended_early() -> None:
    observed = [">S", "<S.", ">.", ">P.", "<.", ">P.", "<."]
    result = compile_pattern(SESSION).match(observed)
    assert result.ended_early
    assert result.columns == (0, 3, 7, 11, 15, 11, 15)
    partial = compile_pattern("(>. <R. >. | >. <F. >.)").match([">.", "<F."])
    assert partial.ended_early
    assert partial.columns == (13, 16)
    assert compile_pattern(SESSION).match([]).columns == ()


def test_token_at_reads_the_pattern_text() -> None:
    observed = [">S", "<S.", ">.", "<P.", ">.", "<.", "<F.", ">."]
    result = compile_pattern(LOOP).match(observed)
    assert [result.token_at(i) for i in range(len(observed))] == observed
    observed = [">S", "<S.", ">.", ">P.", "<.", "<F.", ">."]
    tight = compile_pattern(">S<S.>.(>P.<.)+(<F.>.|<R.)").match(observed)
    assert [tight.token_at(i) for i in range(len(observed))] == observed
    assert compile_pattern(">S >[none]{2}").match([">S", ">[none]", ">[none]"]).token_at(2) == (
        ">[none]"
    )


def test_token_at_is_none_from_the_break_on() -> None:
    result = compile_pattern(SESSION).match([">S", "<S.", ">.", ">P.", "<.", ">.", "<R."])
    assert result.failed_at == 5
    assert result.token_at(4) == "<."
    assert result.token_at(5) is None
    assert result.token_at(6) is None
    assert result.token_at(-1) is None
    assert compile_pattern(">S <S.").match([">S"]).token_at(1) is None


def test_a_match_built_by_hand_has_no_columns() -> None:
    result = Match(True, (">S",), ">S")
    assert result.columns == ()
    assert result.token_at(0) is None


@pytest.mark.parametrize(
    ("pattern", "observed"),
    [
        (LOOP, ">S <S. >. <P. >. <. <P. <F. >."),
        (LOOP, ">S <S. >. >. >. <. <R."),
        (CLOSE, ">S <S. >. >P. <. >P. <. >P. <. <R."),
        ("((>P. <.)+ | >[none])* <R.", ">P. <. >[none] >P. <. >P. <. <R."),
        ("(>. (<P. | <F.)?)+", ">. <P. >. >. <F."),
        (">S<S.>.(>P.<.)+(<F.>.|<R.)", ">S <S. >. >P. <. >P. <. <F. >."),
        (">.\t>P.{1,3}\n<R.", ">. >P. >P. <R."),
        ("((>.|>.*)+ (<.?)*)* <R.", ">. >. <. >. <. <. <R."),
        ("(>S | <S.){2,}", ">S <S. <S. >S"),
    ],
)
def test_token_at_rereads_every_observed_token(pattern: str, observed: str) -> None:
    tokens = observed.split()
    result = compile_pattern(pattern).match(tokens)
    assert result.ok
    assert len(result.columns) == len(tokens)
    for i, tok in enumerate(tokens):
        spelled = result.token_at(i)
        assert spelled is not None
        assert pattern[result.columns[i]] in "<>"
        assert parse_token(spelled) == parse_token(tok)


def test_columns_of_a_long_capture_are_fast() -> None:
    pattern = compile_pattern("((>.|>.*)+ (<.?)*)* <R.")
    observed = [">."] * 2000 + ["<R."]
    began = time.perf_counter()
    result = pattern.match(observed)
    assert len(result.columns) == len(observed)
    assert result.token_at(len(observed) - 1) == "<R."
    assert time.perf_counter() - began < 5.0
