"""The impaired link's rules without a kernel: netem arguments it plays, frames it drops."""

from __future__ import annotations

import random
import socket

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether

from harness.core.catalog import CatalogError, parse_scenario
from harness.core.link import Link, LinkError
from harness.lab.child_link_agent import Direction, Rules, tcp_flags

HDR = bytes(10)  # the offload header the link reads in front of every frame


@pytest.mark.parametrize(("netem", "loss", "delay"), [
    ("delay 150ms", 0.0, 0.15), ("delay 500us loss 1%", 0.01, 0.0005),
    ("loss 100%", 1.0, 0.0), ("delay 1s", 0.0, 1.0), ("", 0.0, 0.0),
])
def test_the_user_space_link_plays_delay_and_loss(netem: str, loss: float, delay: float) -> None:
    assert Link(netem).emulated() == pytest.approx((loss, delay))


@pytest.mark.parametrize(("netem", "message"), [
    ("delay 20ms 5ms distribution normal", "plays only `delay TIME` and `loss PERCENT%`"),
    ("delay fast", "netem delay 'fast': write a time such as 20ms"),
    ("loss 120%", "netem loss '120%': write a percentage"),
    ("rate 1mbit", "not 'rate'"),
])
def test_what_it_cannot_play_is_one_line(netem: str, message: str) -> None:
    with pytest.raises(LinkError, match=message.replace("(", r"\(").replace("%", "%")):
        Link(netem).emulated()


def test_the_sides_of_a_link() -> None:
    assert Link("delay 1ms").sides() == ("client", "server")
    assert Link("delay 1ms", side="server").sides() == ("server",)


def _frame(packet) -> bytes:
    return HDR + bytes(Ether() / packet)


def test_tcp_flags_are_read_from_ipv4_and_ipv6_frames_and_nothing_else() -> None:
    assert tcp_flags(bytes(Ether() / IP() / TCP(flags="RA"))) == 0x14
    assert tcp_flags(bytes(Ether() / IP(options=b"\x01" * 4) / TCP(flags="S"))) == 0x02
    assert tcp_flags(bytes(Ether() / IPv6() / TCP(flags="FA"))) == 0x11
    assert tcp_flags(bytes(Ether() / ARP())) is None
    assert tcp_flags(b"\x00" * 10) is None


def test_only_the_first_rsts_are_dropped() -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as out:
        way = Direction(out, 0.0, drop_rst=1)
        rules = Rules()
        reset, data = _frame(IP() / TCP(flags="R")), _frame(IP() / TCP(flags="PA") / b"x")
        assert rules.keep(way, data)
        assert not rules.keep(way, reset)
        assert rules.keep(way, reset)  # the next reset crosses


def test_loss_takes_its_share_and_is_repeatable() -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as out:
        way, frame = Direction(out, 0.0), _frame(IP() / TCP(flags="A"))
        rules = Rules(0.25, random.Random(7))
        kept = [rules.keep(way, frame) for _ in range(4000)]
        again = Rules(0.25, random.Random(7))
        assert kept == [again.keep(way, frame) for _ in range(4000)]
        assert 0.22 < kept.count(False) / len(kept) < 0.28


SCENARIO = """
id = "x"
title = "t"
statement = "s"
source = "RFC 9293"
pattern = ">S <S. >."
topologies = ["veth"]
link = { netem = "delay 10ms" }
steps = [{ on = "server", call = "listen" }, { on = "client", call = "connect" }]
states = { client = "ESTABLISHED" }
"""


def test_a_scenario_names_the_link_it_needs() -> None:
    assert parse_scenario(SCENARIO).link == Link(netem="delay 10ms")


@pytest.mark.parametrize(("old", "new", "message"), [
    ('topologies = ["veth"]', "", "a scenario with a link runs on veth only"),
    ('netem = "delay 10ms"', "jitter = 1", "link: unknown key 'jitter'"),
    ('netem = "delay 10ms"', 'side = "middle"', "link.side must be both, client or server"),
    ('netem = "delay 10ms"', 'drop_rst_from = "lab"', "link.drop_rst_from must be client"),
    ('netem = "delay 10ms"', "drop_rst_count = 0", "link.drop_rst_count must be at least 1"),
    ('netem = "delay 10ms"', 'drop = ">."', r"link.drop must be a list, not '>.'"),
    ('netem = "delay 10ms"', 'drop = [">."]', r"link.drop\[1\] must be a table such as"),
    ('netem = "delay 10ms"', 'drop = [{ count = 1 }]', r"link.drop\[1\] must be a table"),
    ('netem = "delay 10ms"', 'drop = [{ token = ">.", when = 1 }]', r"link.drop\[1\] must be"),
    ('netem = "delay 10ms"', 'drop = [{ token = 5 }]', r"link.drop\[1\].token must be a "),
    ('netem = "delay 10ms"', 'drop = [{ token = "F." }]',
     r"link.drop\[1\].token 'F.': expected a packet token"),
    ('netem = "delay 10ms"', 'drop = [{ token = ">.[akc=2]" }]',
     r"'akc' is not a packet field; did you mean ack\?|\"akc\" is not a packet field"),
    ('netem = "delay 10ms"', 'drop = [{ token = ">.", count = 0 }]',
     "link.drop\\[1\\].count must be a whole number from 1 to 1000, not 0"),
])
def test_link_mistakes_are_named(old: str, new: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        parse_scenario(SCENARIO.replace(old, new), "my.toml")


def test_a_drop_rule_keeps_its_token_with_fields() -> None:
    link = parse_scenario(SCENARIO.replace('netem = "delay 10ms"',
                                           'drop = [{ token = ">.[ack=2]" }, '
                                           '{ token = "<F.", count = 2 }]')).link
    assert link is not None and link.in_user_space
    assert [(d.token, d.count) for d in link.drop] == [(">.[ack=2]", 1), ("<F.", 2)]
    assert link.describe() == "the first 1 >.[ack=2] dropped, the first 2 <F. dropped"
