"""The catalog as data: the shipped scenarios load, and every mistake in a file is named."""

from __future__ import annotations

import pytest

from harness.core.catalog import CatalogError, find, load_catalog, load_file, parse_scenario

GOOD = """
id = "x"
title = "t"
statement = "s"
source = "socket(7)"
pattern = ">S <S. >."
steps = [
  { on = "server", call = "listen" },
  { on = "client", call = "connect" },
  { on = "server", call = "accept", as = "c2" },
  { repeat = 2, steps = [ { on = "c2", call = "recv", bytes = 5, expect = { ret = 5 } } ] },
]
states = { client = "ESTABLISHED" }
"""


def test_the_shipped_catalog_loads_with_unique_ids() -> None:
    ids = [sc.id for sc in load_catalog()]
    assert {"default-close", "linger-abort-server", "linger-abort-client"} <= set(ids)
    assert len(ids) == len(set(ids))


def test_repeat_expands_and_accept_names_a_socket() -> None:
    sc = parse_scenario(GOOD)
    assert [s.call for s in sc.steps] == ["listen", "connect", "accept", "recv", "recv"]
    assert sc.steps[3].on == "c2" and sc.steps[3].expect.ret == 5
    assert sc.families == ("ipv4", "ipv6")  # every scenario runs on both unless it says


@pytest.mark.parametrize(("change", "message"), [
    (("pattern = \">S <S. >.\"", "pattern = \">S <X\""), "pattern: pattern error at column 4"),
    (("call = \"connect\"", "call = \"conect\""), "step 2: unknown call 'conect'"),
    (("on = \"c2\"", "on = \"c3\""), "no socket named 'c3' yet"),
    (("bytes = 5,", "bytes = \"5\","), "bytes must be a int"),
    (("expect = { ret = 5 }", "expect = { rett = 5 }"), "unknown expectation 'rett'"),
    (("client = \"ESTABLISHED\"", "client = \"ESTAB\""), "unknown TCP state 'ESTAB'"),
    (("repeat = 2", "repeat = 0"), "repeat must be a whole number"),
    (("title = \"t\"", "title = \"\""), "title is missing or empty"),
    (("id = \"x\"", "id = \"x\"\ncolour = 1"), "unknown key 'colour'"),
    (("source = \"socket(7)\"", "source = [1"), "not valid TOML"),
    (("call = \"listen\" }", "call = \"listen\", bytes = 3 }"), "listen takes no argument"),
    (("id = \"x\"", "id = \"x\"\nwireshark_warnings = \"Zero\""),
     "wireshark_warnings must be a list of non-empty strings"),
    (("id = \"x\"", "id = \"x\"\nwireshark_warnings = [\"\"]"),
     "wireshark_warnings must be a list of non-empty strings"),
])
def test_each_mistake_is_named_with_its_place(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in GOOD
    with pytest.raises(CatalogError) as error:
        parse_scenario(GOOD.replace(old, new), "my.toml")
    assert str(error.value).startswith("my.toml")
    assert message in str(error.value)


def test_unknown_ids_and_unreadable_files_are_one_line(tmp_path) -> None:
    with pytest.raises(CatalogError, match=r"unknown scenario 'nope'; no id is close to it"):
        find(load_catalog(), ["nope"])
    with pytest.raises(CatalogError, match=r"'default-clse'; did you mean default-close or "):
        find(load_catalog(), ["default-clse"])
    with pytest.raises(CatalogError, match="cannot read it"):
        load_file(tmp_path / "missing.toml")


def test_a_scenario_runs_on_both_topologies_unless_it_says() -> None:
    assert parse_scenario(GOOD).topologies == ("loopback", "veth")
    assert parse_scenario('topologies = ["veth"]\n' + GOOD).topologies == ("veth",)
    with pytest.raises(CatalogError, match="topologies must be a list drawn from loopback, veth"):
        parse_scenario('topologies = ["ring"]\n' + GOOD)


def test_a_scenario_names_the_wireshark_warnings_it_provokes() -> None:
    sc = parse_scenario('wireshark_warnings = ["TCP Zero Window segment"]\n' + GOOD)
    assert sc.wireshark_warnings == ("TCP Zero Window segment",)
    assert parse_scenario(GOOD).wireshark_warnings == ()


def test_a_final_state_can_require_bytes_still_queued() -> None:
    text = GOOD.replace('states = { client = "ESTABLISHED" }',
                        'states = { client = { state = "FIN-WAIT-1", min_send_q = 1 } }')
    sc = parse_scenario(text)
    assert sc.states == {"client": "FIN-WAIT-1"} and sc.min_send_q == {"client": 1}


@pytest.mark.parametrize("table", ['{ state = "FIN-WAIT-1", queued = 1 }',
                                   '{ state = "FIN-WAIT-1", min_send_q = "lots" }',
                                   '{ min_send_q = 1 }'])
def test_a_malformed_state_table_is_named(table: str) -> None:
    text = GOOD.replace('states = { client = "ESTABLISHED" }', f"states = {{ client = {table} }}")
    with pytest.raises(CatalogError, match=r"states\.client"):
        parse_scenario(text)


@pytest.mark.parametrize(("step", "message"), [
    ('{ call = "wait_wire", pattern = ">S <Q" }', "wait_wire pattern"),
    ('{ on = "client", call = "wait_wire", pattern = ">S" }', "wait_wire watches the wire"),
    ('{ on = "server", call = "wait_state", state = "CLOSED", connection = "nope" }',
     "no client socket named 'nope'"),
    ('{ on = "client", call = "connect", as = "c2" }', "a socket named 'c2' exists already"),
    ('{ on = "c2", call = "set_linger", onoff = 1, linger = -1 }', "from 0 to 2147483647"),
    ('{ on = "c2", call = "set_linger", onoff = 1, linger = 2147483648 }', "from 0 to"),
])
def test_mistakes_in_the_newer_steps_are_named(step: str, message: str) -> None:
    text = GOOD.replace("  { repeat = 2", f"  {step},\n  {{ repeat = 2")
    with pytest.raises(CatalogError, match="step 4") as caught:
        parse_scenario(text)
    assert message in str(caught.value)


def test_claims_are_read_and_their_mistakes_are_catalog_errors() -> None:
    claim = ('\n[[claims]]\nid = "c"\ntext = "t"\nsource = "s"\nlinux = "holds"\n'
             'when = [{ step = "c2.recv#2", ret = 5 }]\n')
    sc = parse_scenario(GOOD + claim)
    assert sc.claims[0].when[0].step == 4
    with pytest.raises(CatalogError, match=r"no step 'c2\.recv#3'"):
        parse_scenario(GOOD + claim.replace("#2", "#3"))
