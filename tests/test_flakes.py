"""Telling changed verdicts from steady ones across soak rounds."""

from __future__ import annotations

from harness.core.flakes import Outcome, always_failing, changed_verdicts, changed_wires

PASS = Outcome("pass", ">S <S. >. <R.")


def test_steady_rounds_change_nothing() -> None:
    rounds = [{"a": PASS, "b": Outcome("fail", reason="x")} for _ in range(3)]
    assert changed_verdicts(rounds) == []
    assert always_failing(rounds) == ["b"]
    assert changed_wires(rounds) == []


def test_a_verdict_that_changed_is_named_with_its_tally_and_the_odd_rounds_reason() -> None:
    rounds = [{"a": PASS}, {"a": Outcome("error", reason="the run's deadline passed")},
              {"a": PASS}]
    [changed] = changed_verdicts(rounds)
    assert changed.statuses == ("pass", "error", "pass")
    assert changed.describe() == "a: pass x2, error x1 (round 2: the run's deadline passed)"
    assert always_failing(rounds) == []


def test_a_pass_with_other_packets_is_a_changed_wire_not_a_flake() -> None:
    rounds = [{"a": PASS}, {"a": Outcome("pass", ">S <S. >. >P. <R.")}]
    assert changed_verdicts(rounds) == []
    assert changed_wires(rounds) == ["a"]


def test_no_rounds_no_findings() -> None:
    assert changed_verdicts([]) == always_failing([]) == changed_wires([]) == []
