"""Seed texts are cited by a short name and shown to readers as what they are, never as a
file name they do not have; a citation of a seed that does not exist is refused at load."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from harness.core.catalog import CATALOG, CatalogError, load_catalog, parse_scenario
from harness.core.sources import SEEDS, UnknownSeed, cited, expand_source, seed_named
from harness.orchestration.scenarios import cmd_list

SEED_DIR = Path(__file__).resolve().parents[2] / "shared" / "seeds"
FILE_NAME = re.compile(r"\d{3}_[0-9a-f]{16}\.txt")
SCENARIO = """
id = "mine"
title = "t"
statement = "s"
source = "{scenario_source}"
pattern = ">S <S. >."
steps = [{{ on = "server", call = "listen" }}, {{ on = "client", call = "connect" }}]
states = {{ client = "ESTABLISHED" }}

[[claims]]
id = "my-claim"
text = "t"
source = "{claim_source}"
linux = "holds"
when = [{{ step = "client.connect", ret = 0 }}]
"""


def _raw_sources() -> list[str]:
    """Every source string as the catalog's TOML files write it, scenario and claims."""
    found = []
    for path in sorted(Path(CATALOG).glob("*.toml")):
        data = tomllib.loads(path.read_text())
        found += [data["source"], *(claim["source"] for claim in data.get("claims", []))]
    return found


def _scenario(scenario_source: str = "socket(7)", claim_source: str = "socket(7)") -> str:
    return SCENARIO.format(scenario_source=scenario_source, claim_source=claim_source)


def test_every_seed_the_catalog_cites_has_an_entry_and_a_file() -> None:
    seeds = {seed for source in _raw_sources() for seed in cited(source)}
    assert seeds == set(SEEDS.values())
    if not SEED_DIR.is_dir():
        pytest.skip(f"{SEED_DIR} is not here to compare the table with")
    assert sorted(p.name for p in SEED_DIR.glob("*.txt")) == sorted(s.file for s in seeds)


def test_each_entry_is_named_by_its_number_and_says_what_it_is() -> None:
    for number, seed in SEEDS.items():
        assert seed.number == number and seed.file.startswith(f"{number}_")
        assert seed.name == f"seed {number}"
        assert seed.what and "\n" not in seed.described()


def test_no_rendered_source_names_a_seed_file() -> None:
    shown = [sc.source for sc in load_catalog()]
    shown += [claim.source for sc in load_catalog() for claim in sc.claims]
    assert shown and not [text for text in shown if FILE_NAME.search(text)]


def test_harness_list_describes_the_seeds(capsys) -> None:
    assert cmd_list() == 0
    out = capsys.readouterr().out
    assert not FILE_NAME.search(out)
    assert f"{SEEDS['003'].described()} (seed 003)" in out


def test_a_sample_source_expands_to_what_its_seed_is() -> None:
    assert expand_source("seed 000 (case 2); socket(7) SO_LINGER; UNP §7.5") == (
        "a Q&A thread on aborting a connection with an RST instead of a FIN, quoting "
        "socket(7) SO_LINGER and a summary of the three linger cases (seed 000, case 2); "
        "socket(7) SO_LINGER; UNP §7.5")


@pytest.mark.parametrize(("source", "expanded"), [
    ("seed 002", f"{SEEDS['002'].described()} (seed 002)"),
    ("UNP §5.11; seed 001", f"UNP §5.11; {SEEDS['001'].described()} (seed 001)"),
    ("seed 000 (closed as part of exit(2))",
     f"{SEEDS['000'].described()} (seed 000, closed as part of exit(2))"),
    ("seed 004_53594180dbf68f04.txt", f"{SEEDS['004'].described()} (seed 004)"),
    ("as in seed 003.", f"as in {SEEDS['003'].described()} (seed 003)."),
    ("RFC 2525 §2.17; socket(7)", "RFC 2525 §2.17; socket(7)"),
])
def test_notes_file_names_and_other_sources_expand(source: str, expanded: str) -> None:
    assert expand_source(source) == expanded


def test_what_a_seed_quotes_follows_what_it_is() -> None:
    assert SEEDS["003"].described().endswith(
        ", quoting tcp_close() in the kernel's net/ipv4/tcp.c and RFC 2525 §2.17")
    assert "quoting" not in SEEDS["002"].described()


@pytest.mark.parametrize(("ref", "hint"), [
    ("007", "did you mean seed "),
    ("000_0000000000000000.txt", "did you mean seed 000?"),
    ("README", "texts (known: seed 000, seed 001, seed 002, seed 003, seed 004)"),
])
def test_an_unknown_seed_is_refused_with_the_closest(ref: str, hint: str) -> None:
    with pytest.raises(UnknownSeed, match=re.escape(hint)):
        seed_named(ref)


def test_a_claim_citing_an_unknown_seed_is_one_line_naming_file_and_claim() -> None:
    with pytest.raises(CatalogError) as caught:
        parse_scenario(_scenario(claim_source="seed 000; seed 005 (case 1)"), "mine.toml")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("mine.toml claim 1 (my-claim): source cites 'seed 005', which is "
                              "none of the seed texts; did you mean seed ")
    assert message.endswith("(known: seed 000, seed 001, seed 002, seed 003, seed 004)")


def test_a_scenario_citing_an_unknown_seed_is_refused() -> None:
    with pytest.raises(CatalogError, match=r"^mine\.toml: source cites 'seed README'"):
        parse_scenario(_scenario(scenario_source="seed README"), "mine.toml")


def test_scenario_and_claims_carry_the_expanded_text() -> None:
    sc = parse_scenario(_scenario("seed 003; RFC 2525 §2.17", "seed 001 (the client)"))
    assert sc.source == f"{SEEDS['003'].described()} (seed 003); RFC 2525 §2.17"
    assert sc.claims[0].source == f"{SEEDS['001'].described()} (seed 001, the client)"
