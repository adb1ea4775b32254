"""The shipped catalog is well-formed and covers what the project promises to settle."""

from __future__ import annotations

import pytest

from harness.core.catalog import load_catalog
from harness.core.claims import DOES_NOT_HOLD, HOLDS
from harness.core.pattern import compile_pattern
from harness.core.sources import SEEDS
from harness.core.vocabulary import FAMILIES

CATALOG = load_catalog()
BY_ID = {sc.id: sc for sc in CATALOG}
# The scenario ids the catalog issue fixes; they are stable, more may be added.
REQUIRED = [
    "default-close", "linger-abort-server", "linger-abort-client",
    "linger-abort-discards-unsent", "linger-graceful-wait", "linger-timeout-expires",
    "linger-nonblocking", "unread-data-close", "read-data-close",
    "write-then-peer-closes-unread", "reset-before-accept", "write-after-peer-close",
    "shutdown-write-half-close", "shutdown-ignores-linger", "exit-without-close",
    "killed-peer", "listener-close-resets-queue", "rst-then-read",
]
# Statements from the literature the report must show as not holding on Linux.
NOT_HOLDING = {
    "nonblocking-linger-ewouldblock": "linger-nonblocking",
    "linger-timeout-rst": "linger-timeout-expires",
    "shutdown-honours-linger": "shutdown-ignores-linger",
    "bsd-accept-blocks": "reset-before-accept",
}


def test_every_promised_scenario_is_there() -> None:
    missing = [i for i in REQUIRED if i not in BY_ID]
    assert not missing


def test_ids_are_unique_and_match_file_names() -> None:
    assert len(BY_ID) == len(CATALOG)
    for sc in CATALOG:
        assert sc.path.endswith(f"/{sc.id}.toml"), sc.path


@pytest.mark.parametrize("sc", CATALOG, ids=[sc.id for sc in CATALOG])
def test_each_scenario_is_well_formed(sc) -> None:
    compile_pattern(sc.pattern)  # raises on a bad pattern
    assert sc.title and sc.statement and sc.source
    assert set(sc.families) == set(FAMILIES), "every scenario runs on IPv4 and IPv6"
    assert sc.states, "final states are part of what a scenario asserts"
    assert any(step.expect for step in sc.steps), "some step's outcome must be checked"


@pytest.mark.parametrize(("scenario", "token"), [
    ("linger-abort-server", ">S[mss>1000 wscale>=0]"),  # the SYN announces its options
    ("linger-abort-server", "<R.[seq=1 ack=301]"),  # the RST: snd_nxt and rcv_nxt
    ("unread-data-close", "<R.[seq=1 ack=101]"),  # it acknowledges the bytes it discards
    ("linger-timeout-with-rtt", "<S.[dt>0.29 dt<0.6]"),  # one round trip of 300 ms
    ("linger-timeout-with-rtt", ">.[dt>0.03]"),  # the FIN's ACK is a delayed one
])
def test_the_catalog_pins_the_numbers_its_claims_rest_on(scenario: str, token: str) -> None:
    assert token in BY_ID[scenario].pattern
    assert compile_pattern(BY_ID[scenario].pattern).has_fields


@pytest.mark.parametrize("sc", CATALOG, ids=[sc.id for sc in CATALOG])
def test_each_scenario_settles_claims_with_sources(sc) -> None:
    assert sc.claims, f"{sc.id} settles no claim"
    for claim in sc.claims:
        assert claim.source.strip() and claim.text.strip()
        assert claim.linux in (HOLDS, DOES_NOT_HOLD)
        assert claim.when


def test_claim_ids_are_unique_across_the_catalog() -> None:
    ids = [claim.id for sc in CATALOG for claim in sc.claims]
    assert sorted(set(ids)) == sorted(ids)


@pytest.mark.parametrize(("claim_id", "scenario"), NOT_HOLDING.items())
def test_the_statements_linux_contradicts_are_marked_as_not_holding(claim_id: str,
                                                                    scenario: str) -> None:
    claims = {c.id: c for c in BY_ID[scenario].claims}
    assert claims[claim_id].linux == DOES_NOT_HOLD


def test_every_seed_text_is_the_source_of_some_claim() -> None:
    sources = " ".join(c.source for sc in CATALOG for c in sc.claims)
    for seed in SEEDS.values():
        assert f"({seed.name}" in sources, seed.name
