"""Injected segments for real: crafted with scapy, sent into the run's namespace as if from a
side, captured like the side's own packets, answered by the receiver's kernel."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from harness.core.catalog import parse_scenario
from harness.lab.lab import Lab
from harness.orchestration.runner import run_and_judge
from harness.pcap.reader import read_pcapng

pytestmark = pytest.mark.capture


def _connected(lab: Lab):
    lab.server.listen()
    lab.client.connect()
    conn = lab.server.accept()
    lab.expect(">S <S. >.")
    return conn


@pytest.mark.parametrize("lab", ["ipv4", "ipv6"], indirect=True)
def test_an_rst_in_the_window_but_not_at_the_next_sequence_number_draws_a_challenge_ack(
        lab: Lab) -> None:
    conn = _connected(lab)
    assert lab.inject("client", "R", seq=100).error is None
    lab.expect(">S <S. >. >R <.")  # RFC 5961 §3.2: the server asks, it does not reset
    assert lab.state("server") == "ESTABLISHED"
    assert conn.send(b"x").ret == 1


@pytest.mark.parametrize("lab", ["ipv4", "ipv6"], indirect=True)
def test_an_rst_at_the_next_sequence_number_resets(lab: Lab) -> None:
    conn = _connected(lab)
    assert lab.inject("client", "R").error is None
    lab.expect(">S <S. >. >R")
    lab.wait_state("server", "CLOSED", within=2.0)
    assert conn.recv(10).errno == "ECONNRESET"


@pytest.mark.capture(topology="veth")
def test_data_injected_from_the_server_reaches_the_client_over_veth(lab: Lab) -> None:
    _connected(lab)
    call = lab.inject("server", "P.", payload=b"hello")
    assert call.error is None and call.info["injected"]["len"] == 5
    got = lab.client.recv(100)
    assert base64.b64decode(got.info["data"]) == b"hello"
    # The client acknowledges bytes the server's kernel never sent: it answers with an ACK
    # of its own (tcp_ack: an ACK of unsent data), which the client acknowledges again.
    lab.expect(">S <S. >. <P. >. <. >.")


def test_nothing_to_count_from_is_an_error_naming_it(lab: Lab) -> None:
    lab.server.listen()
    call = lab.inject("client", "R")
    assert call.error == ("inject on connection 'client': the capture holds no packet of it "
                          "yet")


SCENARIO = '''
id = "inject-in-a-scenario"
title = "An injected RST resets the server"
statement = "An RST at the next sequence number resets the connection."
source = "RFC 9293 §3.10.7.4"
pattern = ">S <S. >. >R"
steps = [
  { on = "server", call = "listen" },
  { on = "client", call = "connect" },
  { on = "server", call = "accept" },
  { call = "inject", from = "client", flags = "R" },
  { on = "conn", call = "recv", bytes = 10, expect = { errno = "ECONNRESET" } },
]
states = { server = "CLOSED", client = "ESTABLISHED" }
'''


def test_a_scenario_injects_and_its_pcap_says_so(tmp_path: Path) -> None:
    pcap = tmp_path / "inject.pcapng"
    result, verdict = run_and_judge(parse_scenario(SCENARIO), "ipv4", pcap)
    assert verdict.status.label == "PASS", verdict.reasons
    injected = [c for c in result.calls if c.call == "inject"]
    assert injected[0].info["injected"]["flags"] == 0x04
    told = [c for c in read_pcapng(pcap).records[3].comments if c.startswith("lab: ")]
    assert told[0].startswith("lab: client.inject(R, 0) → 0 in ")
    assert told[0].endswith("; injected this: a segment crafted by the harness (not by the "
                                "client's kernel)")


SECOND = '''
id = "inject-on-the-second-connection"
title = "An RST injected on the second connection resets it alone"
statement = "An injected segment belongs to the connection it names."
source = "RFC 9293 §3.10.7.4"
pattern = ">S <S. >."
steps = [
  { on = "server", call = "listen" },
  { on = "client", call = "connect" },
  { on = "client", call = "connect", as = "second" },
  { on = "server", call = "accept", as = "conn" },
  { on = "server", call = "accept", as = "conn2" },
  { call = "inject", from = "client", flags = "R", connection = "second" },
  { on = "server", call = "wait_state", state = "CLOSED", connection = "second", within = 1 },
  { on = "conn2", call = "recv", bytes = 10, expect = { errno = "ECONNRESET" } },
]
states = { client = "ESTABLISHED", server = "ESTABLISHED" }
'''


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_an_injection_goes_to_the_connection_it_names(family: str, tmp_path: Path) -> None:
    result, verdict = run_and_judge(parse_scenario(SECOND), family, tmp_path / "second.pcapng")
    assert verdict.status.label == "PASS", verdict.reasons
    injected = next(c for c in result.calls if c.call == "inject").info["injected"]
    second = next(c for c in result.calls if c.sock == "second" and c.call == "connect")
    assert injected["sport"] == second.info["local"][1]  # the second connection's port
