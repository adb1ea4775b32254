"""Packet fields and times against real connections: a lab's expect holds the numbers of a
real RST and a real SYN, names the field that does not hold, and sees a link's round trip in
a packet's dt; harness check does the same with the lab's pcap."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.lab.lab import Lab

pytestmark = pytest.mark.capture

FIELDS = ">S[mss>1000 dport=5000] <S.[wscale>=0] >. >P.[len=100] <.[ack=101] <R.[seq=1 ack=101]"


def _one_segment_then_abort(lab: Lab) -> None:
    lab.server.listen()
    lab.client.connect()
    conn = lab.server.accept()
    assert lab.client.send(b"x" * 100).ret == 100
    lab.client.wait_acked()
    assert conn.recv(100).ret == 100
    conn.set_linger(1, 0)
    assert conn.close().ret == 0


def test_the_fields_of_a_real_abort_hold(lab: Lab) -> None:
    _one_segment_then_abort(lab)
    match = lab.expect(FIELDS)
    assert match.token_at(0) == ">S[mss>1000 dport=5000]"
    assert match.token_at(5) == "<R.[seq=1 ack=101]"
    syn, rst = lab.packets()[0], lab.packets()[-1]
    assert syn.mss is not None and syn.mss > 1000 and syn.wscale is not None
    assert (rst.token, rst.seq, rst.ack, rst.mss) == ("<R.", 1, 101, None)


def test_a_field_that_does_not_hold_is_named_with_the_packets_value(lab: Lab) -> None:
    _one_segment_then_abort(lab)
    with pytest.raises(AssertionError) as failure:
        lab.expect(FIELDS.replace("seq=1 ack=101", "seq=1 ack=201"), within=0.2)
    text = str(failure.value)
    assert text.splitlines()[0] == "packet 6 <R. has ack 101; the pattern wants ack=201"
    assert "-> 6  <R." in text and "Flags [R.], seq 1, ack 101" in text
    assert lab.wire.last_match is not None and lab.wire.last_match.failed_at == 5


@pytest.mark.capture(topology="veth", link={"netem": "delay 20ms"})
def test_a_links_round_trip_is_the_syn_acks_dt(lab: Lab) -> None:
    lab.server.listen()
    lab.client.connect()
    # 20 ms each way, seen from the client's end: at least the round trip; the user-space
    # link only adds to it (47 ms once in CI under load, past dt=0.04's 12.5 %).
    lab.expect(">S <S.[dt>=0.04 dt<0.2] >.[dt<0.01]")
    with pytest.raises(AssertionError) as failure:
        lab.expect(">S <S.[dt<0.01] >.", within=0.2)
    first = str(failure.value).splitlines()[0]
    assert first.startswith("packet 2 <S. came 0.0") and first.endswith(
        " s after packet 1; the pattern wants dt<0.01")


def test_check_holds_the_lab_pcap_to_the_same_fields(lab: Lab, tmp_path, capsys) -> None:
    _one_segment_then_abort(lab)
    lab.expect(FIELDS)
    pcap = lab.save_pcap()
    assert pcap is not None
    assert main(["check", str(pcap), "--expect", FIELDS]) == 0
    assert main(["check", str(pcap), "--expect", FIELDS.replace("len=100", "len=99")]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "packet 4 >P. has len 100; the pattern wants len=99"
