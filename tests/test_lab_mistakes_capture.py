"""Mistakes in the Python API are refused at once, in one line with the closest names, not
found by waiting out a timeout."""

from __future__ import annotations

import time

import pytest

from harness.core.errors import UsageError, UserError

pytestmark = pytest.mark.capture


def test_a_misspelt_state_is_refused_at_once(lab) -> None:
    began = time.monotonic()
    with pytest.raises(UsageError, match=r"wait_state: unknown TCP state 'ESTABLISHD'; did you "
                                         r"mean ESTABLISHED\?"):
        lab.wait_state("client", "ESTABLISHD")
    assert time.monotonic() - began < 1.0  # not the 5 s the wait would have taken


def test_a_misspelt_side_is_refused_at_once(lab) -> None:
    with pytest.raises(UsageError, match=r"unknown side 'clinet'; did you mean client\?"):
        lab.wait_state("clinet", "ESTABLISHED")


def test_a_bad_pattern_in_expect_is_a_user_error_before_any_wait(lab) -> None:
    began = time.monotonic()
    with pytest.raises(UserError, match='"Q" is not a flag letter'):
        lab.expect(">S <S. >Q")
    assert time.monotonic() - began < 1.0
