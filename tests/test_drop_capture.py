"""Chosen packets dropped on the user-space link, for real: a rule's token (fields and all)
picks the packets, the first `count` of them are dropped, the rest cross; and the link
agent's reading of frames as a pattern reads them."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from harness.lab.child_link_agent import Connections, chosen_drops
from harness.lab.lab import Lab

C, S = ("192.0.2.1", 40000), ("192.0.2.2", 5000)


def _frame(src, dst, flags: str, seq: int, ack: int = 0) -> bytes:
    ether = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")  # no ARP to resolve
    return bytes(ether / IP(src=src[0], dst=dst[0])
                 / TCP(sport=src[1], dport=dst[1], flags=flags, seq=seq, ack=ack))


def test_the_agent_reads_frames_as_the_pattern_does_and_counts_its_drops() -> None:
    seen = Connections()
    rules = chosen_drops([">.[ack=2]:1", "<F.:2"])
    handshake = [(_frame(C, S, "S", 1000), True), (_frame(S, C, "SA", 5000, 1001), False),
                 (_frame(C, S, "A", 1001, 5001), True)]
    packets = [seen.packet(frame, side) for frame, side in handshake]
    assert [p.token for p in packets] == [">S", "<S.", ">."]
    assert packets[2].ack == 1 and not rules["client"][0].takes(packets[2])  # ack=1: kept
    fin = seen.packet(_frame(S, C, "FA", 5001, 1001), False)
    assert fin.token == "<F." and rules["server"][0].takes(fin)
    last = seen.packet(_frame(C, S, "A", 1001, 5002), True)
    assert last.ack == 2 and rules["client"][0].takes(last)
    again = seen.packet(_frame(C, S, "A", 1001, 5002), True)
    assert not rules["client"][0].takes(again)  # count 1: only the first is dropped


@pytest.mark.capture(topology="veth", link={"drop": [{"token": "<.", "count": 1}]})
@pytest.mark.parametrize("lab", ["ipv4", "ipv6"], indirect=True)
def test_a_dropped_ack_makes_the_sender_retransmit(lab: Lab) -> None:
    lab.server.listen()
    lab.client.connect()
    conn = lab.server.accept()
    assert lab.client.send(b"x" * 100).ret == 100
    assert lab.client.wait_acked(within=3.0).ret == 0  # acknowledged in the end
    assert conn.recv(200).ret == 100  # once: the retransmission is a duplicate
    # The capture is at the client's end: the dropped ACK is not in it, the tail loss
    # probe or the timeout resends the data, and its ACK crosses.
    lab.expect(">S <S. >. >P.[len=100] >P.[seq=1 len=100] <.[ack=101]")


@pytest.mark.capture(topology="veth", link={"drop": [{"token": ">.[ack=2]"}]})
def test_a_rule_with_fields_drops_only_the_packet_that_fits(lab: Lab) -> None:
    lab.server.listen()
    lab.client.connect()
    conn = lab.server.accept()
    lab.client.close()
    lab.wait_state("server", "CLOSE-WAIT", within=1.0)
    conn.close()
    # The handshake's ACK (ack=1) crossed; the last ACK (ack=2) did not, so the FIN comes
    # again one retransmission timeout later and is acknowledged again.
    lab.expect(">S <S. >. >F. <.? <F. >.[ack=2] <F.[dt>0.19] >.[ack=2]", within=3.0)
    lab.wait_state("server", "CLOSED", within=1.0)
